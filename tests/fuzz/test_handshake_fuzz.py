"""Every handshake decoder fed random and mutated messages (hypothesis), on CPython and on the
MicroPython VM: only typed errors (dtacore.errors.ProtocolError) may come out, an accepted
input re-encodes to exactly itself (the formats are canonical), and host and VM give the same
verdict on every input (tests/device/vm/handshake_fuzz.py runs the corpus on the VM).

Smoke profile by default (DEFAULT_EXAMPLES distinct inputs per decoder: a few thousand in all);
DTA_FUZZ_EXAMPLES=100000 runs the large one (at least that many distinct inputs per decoder,
each on the host and on the VM); DTA_FUZZ_SEED picks other inputs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from dta.services import micropython as mp
from tests.fuzz.support import mutated

ROOT = Path(__file__).resolve().parents[1]
VM_FUZZ = ROOT / "device" / "vm" / "handshake_fuzz.py"
VECTORS = ROOT / "vectors" / "handshake"
DEFAULT_EXAMPLES = 300
EXAMPLES = int(os.environ.get("DTA_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
MAX_BATCHES = 20  # each adds new distinct inputs; the large run needed at most 3
SEED = int(os.environ.get("DTA_FUZZ_SEED", 0))  # batch seeds: deterministic unless changed

_spec = importlib.util.spec_from_file_location("handshake_fuzz", VM_FUZZ)
fuzz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz)


KINDS = {0x11: "message_1", 0x12: "message_2", 0x13: "message_3", 0x14: "message_4",
         0x15: "resume_1", 0x16: "resume_2"}


def _seeds() -> dict[str, list[bytes]]:
    """Valid inputs for each decoder, from the vectors (messages, plaintexts, tickets)."""
    seeds: dict[str, list[bytes]] = {name: [] for name in fuzz.DECODERS}
    for path in sorted(VECTORS.glob("*.json")):
        v = json.loads(path.read_text())
        for step in v["steps"]:
            if "seal" in step:
                seeds["record"].append(bytes.fromhex(step["out"]))
            for key in ("in", "out") if ("in" in step or "start" in step) else ():
                msg = bytes.fromhex(step.get(key) or "")
                if msg:
                    seeds[KINDS[msg[0]]].append(msg)
                    seeds["peek"].append(msg)
        trace = v.get("trace", {})
        for name, key in (("plaintext_2", "PLAINTEXT_2"), ("plaintext_3", "PLAINTEXT_3"),
                          ("ticket_info", "PLAINTEXT_4")):
            if trace.get(key):
                seeds[name].append(bytes.fromhex(trace[key]))
        for spec in v["parties"].values():
            if "ticket" in spec:
                seeds["ticket"].append(bytes.fromhex(spec["ticket"]))
        for t in v.get("store", {}).get("entries", []):
            seeds["ticket"].append(bytes.fromhex(t))
    seeds["error"] = [bytes((0x1F, c, e)) for c in (0, 7) for e in range(1, 10)]
    return {k: sorted(set(v)) for k, v in seeds.items()}


SEEDS = _seeds()


def inputs(name: str):
    return st.one_of(st.binary(max_size=260), mutated(SEEDS[name]))


def _cred(cid: bytes) -> bytes:
    return cid if len(cid) == 1 else b"\xf8" + cid


def reencode(name: str, out) -> bytes:
    """The encoding of a decoded value, written here independently of dtacore's encoders."""
    if name == "peek":
        return None  # peek reads a prefix only
    if name == "error":
        return bytes((0x1F, out[0], out[1]))
    if name == "message_1":
        return b"\x11\xe8" + out[0] + bytes((out[1],))
    if name == "message_2":
        return bytes((0x12, out[0])) + out[1] + out[2]
    if name == "plaintext_2":
        return bytes((out[0],)) + _cred(out[1]) + out[2] + out[3]
    if name in ("message_3", "message_4"):
        return bytes((0x13 if name == "message_3" else 0x14, out[0])) + out[1]
    if name == "plaintext_3":
        return _cred(out[0]) + out[1] + out[2]
    if name == "ticket_info":
        return out[0] + struct.pack(">IB", out[1], out[2])
    if name == "resume_1":
        return bytes((0x15, out[0])) + out[1] + bytes((out[2],)) + out[3]
    if name == "resume_2":
        return bytes((0x16, out[0], out[1])) + out[2] + out[3]
    if name == "ticket":
        return out.encode()
    if name == "record":
        return bytes((0x17, out[0])) + struct.pack(">I", out[1]) + out[2]
    raise AssertionError(name)


def host_verdict(name: str, data: bytes) -> str:
    v = fuzz.verdict(name, data)
    assert not v.startswith("X"), f"{name}: untyped error {v} on {data.hex()}"
    if v.startswith("ok"):
        enc = reencode(name, fuzz.DECODERS[name](data))
        assert enc is None or enc == data, f"{name}: {data.hex()} is not canonical"
    return v


@pytest.mark.timeout(max(300, EXAMPLES // 50))
@pytest.mark.parametrize("name", sorted(fuzz.DECODERS))
def test_decoder_fuzz_host_and_vm(name, tmp_path):
    assert SEEDS[name], f"no valid seed input for {name}"
    seen: dict[bytes, str] = {}
    fed = [0]
    for valid in SEEDS[name]:
        seen[valid] = host_verdict(name, valid)
        assert seen[valid].startswith("ok"), f"{name}: the vector input {valid.hex()} is refused"

    def batch(n, number):
        # each batch its own seed: a derandomized profile (CI) would repeat the same inputs
        @seed(SEED + number)
        @settings(max_examples=n, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(data=inputs(name))
        def run(data):
            fed[0] += 1
            seen[data] = host_verdict(name, data)
        run()

    # hypothesis repeats some inputs: run batches until EXAMPLES distinct ones were fed
    target = EXAMPLES + len(SEEDS[name])
    for number in range(MAX_BATCHES):
        if len(seen) >= target:
            break
        batch(max(100, target - len(seen)), number)
    assert len(seen) >= target, f"{name}: only {len(seen)} distinct inputs"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{name} {d.hex()}\n" for d in seen))
    res = mp.run(VM_FUZZ, str(corpus), heapsize="256k", timeout=max(300, EXAMPLES // 50))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    lines = res.stdout.decode().splitlines()
    assert lines[-1] == f"done {len(seen)}"
    host = list(seen.values())
    diff = [(d.hex(), h, v) for d, h, v in zip(seen, host, lines[:-1], strict=True)
            if h != v]
    assert not diff, f"{len(diff)} verdicts differ host/VM, first: {diff[:3]}"
    refused = sum(v.startswith("E") for v in host)
    print(f"{name}: {fed[0]} inputs fed, {len(seen)} distinct, {refused} refused with typed "
          f"errors, {len(seen) - refused} accepted; host and VM agree")
