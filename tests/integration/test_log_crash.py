"""Crash safety: a child process appends (and closes checkpoints) until it is killed with SIGKILL
at a random moment; after each kill the store is reopened and must hold every append the child
acknowledged, no partial entry, and a tree consistent with every checkpoint issued before.

The child prints "A <last index>" only after the transaction committed (the acknowledgement) and
"C <seq> <size> <root>" after a checkpoint committed. The parent reads a random number of those
lines and kills the child wherever it is by then (usually inside the next transaction). No sleeps,
no timing assertions: the random moment comes from the child's own progress."""

import os
import random
import signal
import subprocess
import sys

from dta.log import LogStore
from dta.services.paths import FIRMWARE_DIR, REPO_DIR
from dta.signing import Signer as LocalSigner
from dta.signing import verify as verify_digest
from dtacore import entries as E
from dtacore import merkle, note

ORIGIN = "crash.example/log"
SECRET = bytes(31) + b"\x05"
PK = bytes.fromhex("02" + "11" * 32)
KILLS = 30

CHILD = r"""
import random, sys
from dtacore import entries as E
from dta.log import Log, LogStore
from dta.signing import Signer as LocalSigner

PK = bytes.fromhex("02" + "11" * 32)
def entry(i):
    return E.DeviceEvent(PK, i, 1, b"payload %d" % i, bytes(64), 1764000000000 + i).encode()

store = LogStore(sys.argv[1], origin=sys.argv[2])
log = Log(store, LocalSigner(bytes(31) + b"\x05"), window_seconds=3600, max_entries=10**9)
rnd = random.Random(int(sys.argv[3]))
while True:
    n = store.size
    k = rnd.randrange(1, 40)
    idx = store.append_many([entry(i) for i in range(n, n + k)])
    print("A", idx[-1], flush=True)
    if rnd.random() < 0.15:
        rec = log.checkpoint()
        print("C", rec.seq, rec.tree_size, rec.root.hex(), flush=True)
"""


def expected_entry(i):
    return E.DeviceEvent(PK, i, 1, b"payload %d" % i, bytes(64), 1764000000000 + i).encode()


def test_sigkill_loses_no_acknowledged_append(tmp_path):
    rnd = random.Random(int.from_bytes(os.urandom(4), "big"))
    db = tmp_path / "log.sqlite3"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIRMWARE_DIR),
                                                        str(REPO_DIR / "host")]))
    acked = -1
    checkpoints = {}  # seq -> (size, root) acknowledged by the child
    pubkey = LocalSigner(SECRET).public_key
    for round_ in range(KILLS):
        errfile = tmp_path / ("child-%d.err" % round_)
        with open(errfile, "w") as err:
            child = subprocess.Popen([sys.executable, str(script), str(db), ORIGIN,
                                      str(round_)], stdout=subprocess.PIPE, stderr=err, env=env,
                                     text=True)
        for _ in range(rnd.randrange(0, 30)):
            line = child.stdout.readline()
            if not line:
                break
            parts = line.split()
            if parts[0] == "A":
                acked = max(acked, int(parts[1]))
            else:
                checkpoints[int(parts[1])] = (int(parts[2]), bytes.fromhex(parts[3]))
        child.send_signal(signal.SIGKILL)
        # Lines the child printed before dying were acknowledgements too.
        for line in child.stdout:
            parts = line.split()
            if parts[0] == "A":
                acked = max(acked, int(parts[1]))
            else:
                checkpoints[int(parts[1])] = (int(parts[2]), bytes.fromhex(parts[3]))
        assert child.wait() == -signal.SIGKILL, errfile.read_text()

        with LogStore(db, origin=ORIGIN) as store:  # opening re-checks the last checkpoint
            assert store.size > acked
            assert store.verify_integrity() == store.size  # no half entry, nodes all right
            for i in range(store.size):
                assert store.entry(i) == expected_entry(i)
            stored = {c.seq: c for c in store.checkpoints()}
            for seq, (size, root) in checkpoints.items():
                assert stored[seq].tree_size == size and stored[seq].root == root
            head = store.root()
            for c in stored.values():
                cp = note.verify_checkpoint(c.note, ORIGIN, pubkey, verify_digest)
                assert (cp.size, cp.root) == (c.tree_size, c.root)
                proof = store.consistency_proof(size1=c.tree_size, size2=store.size)
                merkle.verify_consistency(c.root, head, proof, size1=c.tree_size,
                                          size2=store.size)
    assert acked > 0 and checkpoints
