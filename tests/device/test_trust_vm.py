"""A device checks a D-TA's birth itself (dtacore.trust), on the MicroPython VM at a 64 KiB
heap and on CPython alike, with a bundle built from a real regtest node: a D-TA born and
confirmed is trusted; k-1 confirmations, a birth on a fork the device did not follow, a header
with bad proof of work, a key not committed in the Birth Record, another network and a
tampered merkle proof are each refused, naming the link."""

import hashlib
import os
import subprocess
import sys

import pytest

from dta.anchor.address import p2wpkh_script
from dta.anchor.anchorer import Anchorer
from dta.anchor.bundle import birth_bundle, headers_after
from dta.anchor.rpc import Node
from dta.anchor.store import FINAL, AnchorStore
from dta.services import micropython as mp
from dta.services import regtest
from dta.services.paths import FIRMWARE_DIR
from dta.signing import Signer
from dtacore import birth, spv, trust

RUNNER = os.path.join(os.path.dirname(__file__), "vm", "trust_check.py")
K = 3


def record_for(signer: Signer, network: str = "regtest") -> bytes:
    return birth.encode(birth.BirthRecord(
        "trust-test", signer.public_key, birth.master_commitment(os.urandom(32)), os.urandom(32),
        "dta/test", network, 1_700_000_000))


def born(node: Node, tmp, signer: Signer, record: bytes):
    """Anchor the record's birth, k deep; -> (anchor row, birth height)."""
    dta_id = birth.dta_id(record)
    a = Anchorer(AnchorStore(tmp / f"{dta_id.hex()[:8]}.sqlite3"), signer, dta_id, node, k=K)
    a.set_funding(regtest.fund_by_mining(node, p2wpkh_script(signer.public_key)))
    a.submit_birth()
    a.step()
    node.generate_to_script(K, regtest.BURN)
    a.step()
    row = a.store.get(0)
    assert row.state == FINAL
    return row


def failing_pow(header: bytes) -> bytes:
    target = spv.target_from_bits(spv.header_bits(header))
    for nonce in range(1000):
        h = header[:76] + nonce.to_bytes(4, "little")
        if int.from_bytes(spv.header_hash(h), "little") > target:
            return h
    raise AssertionError("no failing nonce found")


def line(name, dta_id, trusted, height, parts, network="regtest", k=K):
    head = " ".join(["C", name, dta_id.hex(), network, str(k), trusted.hex(), str(height)])
    return "\n".join([head] + ["P " + p.hex() for p in parts] + ["E"])


def header_at(node, h):
    return bytes.fromhex(node.header_hex(node.block_hash(h)))


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    if not regtest.available():
        pytest.fail("bcoin regtest node not installed: run `make devnet` (make test does)")
    tmp = tmp_path_factory.mktemp("trust")
    with regtest.RegtestNode(tmp / "node") as server:
        node = Node.from_url(server.url)
        regtest.prepare(node)
        return _cases(node, tmp)


def _cases(node, tmp):
    signer = Signer.generate()
    record = record_for(signer)
    dta_id = birth.dta_id(record)
    row = born(node, tmp, signer, record)
    cp_height = row.height - 2
    trusted = header_at(node, cp_height)
    raw = bytes.fromhex(row.current["raw"])
    parts = birth_bundle(node, record=record, raw_tx=raw, txid=row.txid,
                         block_hash=row.block_hash, from_height=cp_height)
    headers = headers_after(node, cp_height)
    tip = node.height()
    proof = bytes.fromhex(node.txout_proof(row.txid, row.block_hash))
    short = trust.encode_parts(record, raw, proof, headers[:80 * (2 + K - 2)])
    bad_pow = headers[:80] + failing_pow(headers[80:160]) + headers[160:]
    other = Signer.generate()
    uncommitted = record_for(other)  # names another key; the tx is spent by `signer`
    mainnet = record_for(signer, "mainnet")
    flipped = bytearray(proof)
    flipped[100] ^= 1
    out = [
        line("valid", dta_id, trusted, cp_height, parts),
        line("one-confirmation-short", dta_id, trusted, cp_height, short),
        line("bad-proof-of-work", dta_id, trusted, cp_height,
             trust.encode_parts(record, raw, proof, bad_pow)),
        line("key-not-committed", birth.dta_id(uncommitted), trusted, cp_height,
             trust.encode_parts(uncommitted, raw, proof, headers)),
        line("other-network", birth.dta_id(mainnet), trusted, cp_height,
             trust.encode_parts(mainnet, raw, proof, headers)),
        line("not-the-provisioned-id", hashlib.sha256(b"x").digest(), trusted, cp_height, parts),
        line("tampered-merkle-proof", dta_id, trusted, cp_height,
             trust.encode_parts(record, raw, bytes(flipped), headers)),
        line("trusted-tip-after-the-birth", dta_id, header_at(node, row.height + 1),
             row.height + 1, trust.encode_parts(record, raw, proof,
                                               headers_after(node, row.height + 1))),
        line("parts-out-of-order", dta_id, trusted, cp_height, [parts[1], parts[0]] + parts[2:]),
    ]
    out.append(_fork_case(node, tmp))
    want = {"valid": f"ok {signer.public_key.hex()} {row.height} {tip}",
            "one-confirmation-short": "LinkError confirmations",
            "bad-proof-of-work": "LinkError header-chain",
            "key-not-committed": "LinkError anchor-signer",
            "other-network": "LinkError birth-record",
            "not-the-provisioned-id": "LinkError birth-record",
            "tampered-merkle-proof": "LinkError transaction-in-block",
            "trusted-tip-after-the-birth": "LinkError transaction-in-block",
            "parts-out-of-order": "DecodeError -",
            "birth-on-a-fork": "LinkError header-chain"}
    path = tmp / "cases.txt"
    path.write_text("\n".join(out) + "\n")
    return path, want


def _fork_case(node, tmp):
    # The device follows chain A from its checkpoint (height F+1 on A). The chain is then
    # reorganised and the D-TA is born on the other branch, B: its headers do not link to the
    # checkpoint the device holds.
    fork = node.height()
    node.generate_to_script(1, regtest.BURN)
    device_checkpoint = header_at(node, fork + 1)
    node.invalidate(node.block_hash(fork + 1))
    node.generate_to_script(2, b"\x00\x14" + b"\x01" * 20)  # B overtakes A
    signer = Signer.generate()
    record = record_for(signer)
    row = born(node, tmp, signer, record)
    parts = birth_bundle(node, record=record, raw_tx=bytes.fromhex(row.current["raw"]),
                         txid=row.txid, block_hash=row.block_hash, from_height=fork + 1)
    return line("birth-on-a-fork", birth.dta_id(record), device_checkpoint, fork + 1, parts)


def _verdicts(text: str) -> dict:
    return dict(ln.split(" ", 1) for ln in text.splitlines())


def test_device_and_host_agree_on_every_birth_case(cases, mpy_firmware):
    path, want = cases
    vm = mp.run(RUNNER, str(path), heapsize="64k", path=(mpy_firmware,))
    host = subprocess.run([sys.executable, RUNNER, str(path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(FIRMWARE_DIR)})
    assert vm.returncode == 0 and host.returncode == 0, vm.stdout + vm.stderr
    assert _verdicts(vm.stdout.decode()) == _verdicts(host.stdout) == want
