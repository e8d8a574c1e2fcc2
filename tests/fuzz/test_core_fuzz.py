"""The shared core (dtacore, and the dtanode readers of flash and config files) fed random and
mutated inputs on CPython, then the same corpus on the MicroPython VM at the agent's 64 KiB heap:
only typed errors (dtacore.errors.ProtocolError) come out, an accepted input re-encodes to the
bytes it came from (checked against an independent encoder where the format has one), and host
and VM give the same verdict on every input (tests/device/vm/fuzz_core.py runs on both).
"""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

import pytest
from bitcoin.core import CTransaction
from hypothesis import given
from hypothesis import strategies as st

from dtacore import anchor, birth, der, entries, merkle, note, serial_frame, wire
from dtanode import config_schema, records
from tests.fuzz import support, world

_spec = importlib.util.spec_from_file_location("fuzz_core", support.VM_CORE)
core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core)

BOARDS = Path(__file__).resolve().parents[2] / "boards"


def _utf8(b: bytes) -> bytes:
    # What a CPython str can hold: UTF-8 with surrogates (the VM is fed the same bytes).
    return b.decode("utf-8", "surrogatepass").encode("utf-8", "surrogatepass")


def _valid_utf8(b: bytes) -> bytes:
    return b.decode("utf-8", "replace").encode()


def _note_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


NOTES = [n.encode() for n in world.notes()]


@st.composite
def triples(draw) -> bytes:
    entry, proof, text = draw(st.sampled_from(world.log_triples()))
    if draw(st.booleans()):
        entry = draw(support.mutated([entry]))
    if draw(st.booleans()):
        proof = draw(support.mutated([proof]))
    if draw(st.booleans()):
        text = draw(support.mutated_text([text]))
    return world.pack_triple(entry, proof, text)


DEVICE_CONFIGS = [json.dumps(c).encode() for c in (
    {}, {"mqtt_host": "192.168.1.10", "mqtt_port": 1883, "once": True, "storage": "/flash"},
    {"transport": "serial", "serial_path": "/dev/ttyUSB0", "serial": "A-01",
     "wifi_ssid": "caf\u00e9", "wifi_password": "correct horse", "mqtt_user": "u",
     "mqtt_password": "p", "keepalive": 65535, "topic_prefix": "fleet/dta"},
    {"network": "regtest", "confirmations": 1, "dta_ids": [world.dta_id().hex()],
     "checkpoint_height": 100, "checkpoint_header": world.chain().checkpoint.hex()})]
BOARD_FILES = [p.read_bytes() for p in sorted(BOARDS.glob("*.json"))]

# decoder -> (strategy, seeds that must be accepted)
CASES = {
    "hello": (support.inputs(world.hellos()), world.hellos()),
    "serial": (support.inputs(world.serial_streams(), max_random=700), world.serial_streams()),
    "entry": (support.inputs(world.entries(), max_random=1100), world.entries()),
    "note": (st.one_of(support.mutated_text(world.notes()).map(_note_bytes),
                       support.mutated(NOTES).map(_valid_utf8)), NOTES),
    "inclusion": (support.inputs(world.inclusion_proofs()), world.inclusion_proofs()),
    "consistency": (support.inputs(world.consistency_proofs()), world.consistency_proofs()),
    "receipt_links": (triples(), [world.pack_triple(*t) for t in world.log_triples()]),
    "anchor": (support.inputs(world.anchor_payloads()), world.anchor_payloads()),
    "script": (support.inputs(world.scripts()), world.scripts()[:5]),
    "tx": (support.inputs(world.transactions()), world.transactions()),
    "txout_proof": (support.inputs(world.chain().proofs), world.chain().proofs),
    "headers": (support.inputs(world.header_chains()), world.header_chains()),
    "der": (support.inputs(world.der_signatures()), world.der_signatures()),
    "birth": (support.inputs([world.birth_record()]), [world.birth_record()]),
    "record": (support.inputs(world.device_records()), world.device_records()),
    "device_config": (support.json_inputs(DEVICE_CONFIGS), DEVICE_CONFIGS),
    "board": (support.json_inputs(BOARD_FILES), BOARD_FILES),
}


def _note_text(cp) -> str:
    sigs = "".join(f"{note.DASH}{name} {base64.b64encode(kid + sig).decode()}\n"
                   for name, kid, sig in cp.signatures)
    return cp.text + "\n" + sigs


def _tx_reencodes(data: bytes) -> None:
    # python-bitcoinlib, an independent parser: same bytes back and the same txid.
    tx = CTransaction.deserialize(data)
    assert tx.serialize() == data
    assert world.txid(data) == core.DECODERS["tx"](data)[0]


def reencodes(name: str, data: bytes) -> None:
    """An accepted input is the canonical encoding of what it decoded to."""
    if name in core.FILE_DECODERS:
        out = core.FILE_DECODERS[name][1]()  # verdict() has just written the file
    else:
        out = core.DECODERS[name](data)
    if name == "hello":
        kid, pub, boot, board, firmware, sig, signed = out
        body = (kid + pub + boot.to_bytes(4, "big") + bytes((len(board),)) + board.encode()
                + bytes((len(firmware),)) + firmware.encode())
        assert wire.header(wire.TYPE_HELLO, len(body) + len(sig)) + body + sig == data
        assert signed + sig == data
    elif name == "serial":
        for kind, payload in out:
            assert kind == "error" or serial_frame.encode(payload) in data
    elif name == "entry":
        assert entries.decode(data).encode() == data
    elif name == "note":
        assert _note_bytes(_note_text(note.parse_checkpoint(data.decode()))) == data
    elif name == "inclusion":
        assert merkle.encode_inclusion(index=out[0], size=out[1], path=out[2]) == data
    elif name == "consistency":
        assert merkle.encode_consistency(size1=out[0], size2=out[1], path=out[2]) == data
    elif name == "anchor":
        assert (anchor.encode_birth(out[1]) if out[0] == anchor.KIND_BIRTH else
                anchor.MARKER + bytes((1, 2)) + out[1] + out[2].to_bytes(8, "big")
                + out[3].to_bytes(8, "big") + out[4]) == data
    elif name == "script" and out is not None:
        n = len(out)
        assert data in (bytes((0x6A, n)) + out, bytes((0x6A, 0x4C, n)) + out)
    elif name == "tx":
        _tx_reencodes(data)
    elif name == "der":
        assert der.sig_to_der(out) == data
    elif name == "birth":
        assert birth.encode(birth.decode(data)) == data
    elif name == "record":
        assert records.encode(core.RECORD_MAGIC, out) == data
    elif name == "device_config":
        assert config_schema.check_config(json.loads(json.dumps(out))) == out
    elif name == "board":
        _board_types(out)


def _board_types(board: dict) -> None:
    # What the device reads from an accepted board definition has the type it uses.
    assert type(board["name"]) is str and board["name"]
    assert type(board["entropy"]["source"]) is str
    assert type(board["entropy"].get("path", "")) is str
    serial = board.get("transport", {}).get("serial", {})
    assert all(type(serial.get(k, 0)) is int for k in ("uart", "baud", "tx", "rx"))


def host_verdict(name: str, data: bytes) -> str:
    v = core.verdict(name, data)
    assert not v.startswith("X"), f"{name}: untyped error {v} on {data.hex()[:400]}"
    if v.startswith("ok"):
        reencodes(name, data)
    support.tally(name, v.startswith("ok"))
    return v


@pytest.mark.timeout(support.vm_timeout(support.budget()) * 3)
@pytest.mark.parametrize("name", sorted(CASES))
def test_shared_decoder_host_and_vm(name, tmp_path, monkeypatch, fuzz_mpy):
    monkeypatch.chdir(tmp_path)  # the config decoders read their file from the cwd
    strategy, seeds = CASES[name]
    seen: dict[bytes, str] = {}
    for seed in seeds:
        seen[seed] = host_verdict(name, seed)
        assert seen[seed].startswith("ok"), f"{name}: the seed {seed[:80]!r} is refused"

    @support.fuzz_settings()
    @given(data=strategy)
    def run(data):
        seen[data] = host_verdict(name, data)

    run()
    support.compare_with_vm(name, seen, tmp_path, fuzz_mpy)
