"""Issue 14's device-memory finding: a checkpoint note of 3,873-4,096 bytes (inside
MAX_NOTE_SIZE) whose signature block is one long line raised MemoryError on the VM once the heap
had been used for a while, where CPython raised DecodeError (note.py copied the line 4-5 times).
The parser now checks a line's length before it copies it; here every such note, and notes long
in the other places a copy could be made, get a DecodeError on a VM that has verified a signed
checkpoint and holds a fragmented 64 KiB heap, and notes of the largest valid shape still parse.
"""

from __future__ import annotations

import pytest

from dta.services import micropython as mp
from dtacore import note
from tests.fuzz import world

DASH = note.DASH


def long_notes() -> list[tuple[str, str]]:
    valid = world.checkpoint(37)
    text = valid.split("\n\n")[0] + "\n"
    out = [("valid", valid), ("valid-16-signatures", world.checkpoint(37, extra_sigs=15)),
           ("valid-longest-lines", world.notes()[4])]
    for total in (3873, 3900, 4000, 4095, 4096):
        pad = total - len(text) - 1 - len(DASH) - len("name ") - 1
        out.append((f"one-signature-line-{total}", text + "\n" + DASH + "name " + "Q" * pad
                    + "\n"))
    origin = "o" * (4096 - 100)
    out.append(("long-origin-line", origin + text[text.index("\n"):] + "\n" + DASH + "n x\n"))
    line = DASH + "n" * 200 + " " + "A" * 30 + "\n"
    out.append(("many-long-lines", text + "\n" + line * ((4096 - len(text)) // len(line))))
    out.append(("long-base64", text + "\n" + DASH + "name " + "A" * 3900 + "=\n"))
    for label, t in out:
        assert len(t) <= note.MAX_NOTE_SIZE, label
    return out


NOTES = long_notes()
WANT = {"valid": "ok 1", "valid-16-signatures": "ok 16", "valid-longest-lines": "ok 1"}


@pytest.mark.parametrize("label,text", NOTES, ids=[label for label, _ in NOTES])
def test_note_in_a_used_64k_heap(label, text, tmp_path, fuzz_mpy):
    (tmp_path / "note.txt").write_text(text)
    (tmp_path / "valid.txt").write_text(world.checkpoint(37))
    res = mp.run_code(f"import fuzz_note_heap\nfuzz_note_heap.main({str(tmp_path)!r}, "
                      f"{world.IDENTITY_PUB.hex()!r})", path=(fuzz_mpy,), heapsize="64k",
                      cwd=tmp_path, timeout=120)
    out = res.stdout.decode()
    assert res.returncode == 0, out + res.stderr.decode()
    free, verdict, verified = out.splitlines()
    # The heap really was used: what is free is in holes of at most a few hundred bytes.
    assert int(free.split()[1]) < 40 * 1024, free
    assert verdict == WANT.get(label, "E DecodeError")
    assert verified == "verified"
    # CPython gives the same verdict.
    try:
        got = "ok %d" % len(note.parse_checkpoint(text).signatures)
    except note.DecodeError:
        got = "E DecodeError"
    assert got == verdict
