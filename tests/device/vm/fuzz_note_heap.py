# Checkpoint notes near MAX_NOTE_SIZE parsed by a VM that has already done a device's work, in
# the agent's 64 KiB heap (tests/fuzz/test_note_heap_vm.py runs it).
#
#   micropython -X heapsize=64k -c "import fuzz_note_heap; fuzz_note_heap.main('DIR', 'KEY')"
#
# DIR holds valid.txt (a note signed by KEY, hex) and note.txt, the note under test. The note is
# read first (a device holds what it received), then the VM verifies the signed checkpoint (the
# pure-MicroPython ECDSA churns the heap) and leaves the heap fragmented: filled with blocks of
# 32..512 bytes, every other one freed, as a long-running agent's heap looks. Then the note is
# parsed: "free <bytes>" before it, then "ok <signatures>", "E <class>" or "X <class>" (an
# untyped error: the finding), then "verified" once the valid note verifies again.
import gc
from binascii import unhexlify

from dtacore import note
from dtacore.errors import ProtocolError


def fragment():
    # Fill the heap with blocks of 32..512 bytes, then free every other one: what is free is
    # holes of at most 512 bytes (a long-running agent's heap), no large block anywhere.
    keep = []
    drop = []
    i = 0
    try:
        while True:
            b = bytearray(32 + (i % 16) * 32)
            (keep if i % 2 else drop).append(b)
            i += 1
    except MemoryError:
        pass
    drop = None
    gc.collect()
    return keep


def parse(text):
    try:
        cp = note.parse_checkpoint(text)
        return "ok %d" % len(cp.signatures)
    except ProtocolError as e:
        return "E " + type(e).__name__
    except Exception as e:  # noqa: BLE001 (what this test looks for)
        return "X " + type(e).__name__


def main(folder, key_hex):
    with open(folder + "/note.txt") as f:
        text = f.read()
    with open(folder + "/valid.txt") as f:
        valid = f.read()
    key = unhexlify(key_hex)
    origin = note.parse_checkpoint(valid).origin
    note.verify_checkpoint(valid, origin, key)
    keep = fragment()
    print("free", gc.mem_free())
    print(parse(text))
    del keep[:]
    gc.collect()
    note.verify_checkpoint(valid, origin, key)
    print("verified")
