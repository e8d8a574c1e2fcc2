"""The handshake vectors (tests/vectors/handshake/) on the host implementation: dtacore on
CPython with dtacore.backend (coincurve + cryptography). The same runner runs them on the
MicroPython VM in tests/device/test_handshake_vm.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "vectors" / "handshake"
_spec = importlib.util.spec_from_file_location("handshake_vectors",
                                               ROOT / "device" / "vm" / "handshake_vectors.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)
ALL = runner.load_vectors(VECTORS)
BY_NAME = {v["name"]: v for v in ALL}

# Every intermediate value a full run's vector must carry (docs/handshake.md walks through it).
FULL_TRACE = {"G_X", "G_Y", "G_XY", "TH_2", "PRK_2e", "KEYSTREAM_2", "PLAINTEXT_2", "MAC_2",
              "SIG_2_DIGEST", "TH_3", "K_3", "IV_3", "MAC_3", "SIG_3_DIGEST", "PLAINTEXT_3",
              "TH_4", "PRK_out", "K_4", "IV_4", "PRK_exporter", "K_I2R", "IV_I2R", "K_R2I",
              "IV_R2I", "message_1", "message_2", "message_3"}
RESUMED_TRACE = {"RS_u", "TH_r1", "BINDER", "TH_r2", "MAC_r2", "PRK_out", "PRK_exporter",
                 "K_I2R", "IV_I2R", "K_R2I", "IV_R2I", "resume_1", "resume_2"}


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_vector_on_host(name):
    assert runner.run_vector(json.loads(json.dumps(BY_NAME[name]))) == []


def test_vector_families_are_all_there():
    names = set(BY_NAME)
    for msg, n in (("message_1", 35), ("message_2", 100), ("message_3", 75), ("message_4", 23),
                   ("resume_1", 19), ("resume_2", 19)):
        assert {f"{msg}-byte-{i:03d}-flipped" for i in range(n)} <= names
        assert f"{msg}-extra-byte" in names and f"{msg}-truncated-to-0" in names
    for name in ("message_3-replayed", "message_3-replayed-readdressed", "wrong-key-id-unknown",
                 "wrong-key-id-other-d-ta", "signature-by-another-key", "stale-d-ta",
                 "message_2-swapped-with-message_3", "resume_1-replayed", "record-replayed",
                 "resume_1-after-ticket-expiry", "ticket-used-up"):
        assert name in names
    assert len(ALL) > 340


def test_every_negative_vector_ends_in_a_typed_error():
    for v in ALL:
        errors = [s["error"] for s in v["steps"] if "error" in s]
        if v["name"].startswith(("full", "resumed")):
            assert not errors, v["name"]
        else:
            assert errors and not any(e.startswith("!") for e in errors), v["name"]


def test_positive_vectors_carry_every_intermediate_value():
    assert FULL_TRACE | {"RS_0", "PLAINTEXT_4", "message_4"} <= set(BY_NAME["full"]["trace"])
    assert FULL_TRACE <= set(BY_NAME["full-kid8"]["trace"])
    assert RESUMED_TRACE <= set(BY_NAME["resumed"]["trace"])
    assert RESUMED_TRACE <= set(BY_NAME["resumed-second-use"]["trace"])


def _message_sizes(v):
    return [len(bytes.fromhex(s["out"])) for s in v["steps"]
            if ("start" in s or "in" in s) and s.get("out")]


def test_bytes_on_the_wire():
    # Issue 11's targets: messages 1-3 at most 216 bytes with 1-byte ids, resumed at most 80.
    assert _message_sizes(BY_NAME["full"]) == [35, 100, 75, 23]
    assert sum(_message_sizes(BY_NAME["full"])[:3]) == 210 <= 216
    assert _message_sizes(BY_NAME["full-kid8"]) == [35, 100, 83, 10]  # device: 8-byte key id
    assert _message_sizes(BY_NAME["resumed"]) == [19, 19]
    assert sum(_message_sizes(BY_NAME["resumed"])) <= 80
    for name in ("full", "full-kid8", "resumed"):
        assert BY_NAME[name]["sizes"]["total"] == sum(_message_sizes(BY_NAME[name]))


def test_refused_messages_change_nothing():
    # After a refused message_2 / message_3 / message_4 the genuine one still completes the
    # handshake with the bytes of the genuine run.
    full = {s.get("in"): s.get("out") for s in BY_NAME["full"]["steps"] if "in" in s}
    checked = 0
    for v in ALL:
        if "-byte-" in v["name"] and v["name"][:9] in ("message_2", "message_3", "message_4"):
            genuine = [s for s in v["steps"] if "in" in s and s["in"] in full]
            assert genuine[-1].get("out") == full[genuine[-1]["in"]], v["name"]
            checked += 1
    assert checked == 100 + 75 + 23
