"""The device's outbox (firmware/dtanode/outbox.py) under power cuts, on the MicroPython VM: a
writer adds and acknowledges events without pause while the test SIGKILLs it at random moments,
many times over; after every cut the outbox holds the state before the change that was under
way or the state after it, never a torn one, and every frame is intact."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from dta.services import micropython as mp

RUNNER = Path(__file__).parent / "vm" / "agent_outbox.py"
CUTS = 40


def _state(text: str) -> str:
    return text.strip().split(" ", 1)[1]


def test_power_cuts_leave_the_old_or_the_new_outbox(unix_bundle, tmp_path):
    lib = unix_bundle.root / "lib"
    rng = random.Random()
    flash = tmp_path / "flash"
    flash.mkdir()
    seen_changes = 0
    for cut in range(CUTS):
        seed = str(rng.randrange(1 << 30))
        writer = subprocess.Popen(mp.command(RUNNER, "write", str(flash), seed, heapsize="96k"),
                                  env=mp.environ([lib]), stdout=subprocess.PIPE, text=True)
        lines = [writer.stdout.readline()]
        assert lines[0].startswith("ready"), lines
        before = _state(lines[0])
        for _ in range(rng.randrange(1, 60)):  # the cut lands after a random number of lines
            line = writer.stdout.readline()
            if not line:
                break
            lines.append(line)
        writer.kill()
        writer.wait()
        lines += writer.stdout.read().splitlines(keepends=True)
        writer.stdout.close()
        old, new = before, None
        for line in lines[1:]:
            if line.startswith("begin"):
                new = _state(line.strip())
            elif line.strip() == "done":
                old, new = new, None
                seen_changes += 1
        check = mp.run(RUNNER, "check", str(flash), path=(lib,), heapsize="96k")
        out = check.stdout.decode().strip()
        assert check.returncode == 0, out + check.stderr.decode()
        got = _state(out)
        assert got in (old, new), f"cut {cut}: outbox {got!r}, expected {old!r} or {new!r}"
        assert not (flash / "outbox.bin.tmp").exists()
    assert seen_changes > CUTS  # the writer got to work between the cuts
