"""What every fuzz property shares: the example budget, the mutation strategies, the per-decoder
tally printed at the end of the run, and the host/VM comparison.

The budget: DTA_FUZZ_EXAMPLES (default SMOKE_EXAMPLES, the CI smoke run) examples per decoder,
scaled by a decoder's weight where one example costs a file, a socket or an scrypt run.
"""

from __future__ import annotations

import json
import os
import struct
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from dta.services import micropython as mp

# The smoke run: enough to catch a regression in CI in well under two minutes for all decoders.
SMOKE_EXAMPLES = 1500
EXAMPLES = int(os.environ.get("DTA_FUZZ_EXAMPLES", SMOKE_EXAMPLES))
# The smoke run sees the same examples every time (a CI failure reproduces); a set example count
# (`make fuzz`) draws fresh ones.
DERANDOMIZE = "DTA_FUZZ_EXAMPLES" not in os.environ
VM_DIR = Path(__file__).resolve().parents[1] / "device" / "vm"
VM_CORE = VM_DIR / "fuzz_core.py"
# The agent's heap (dtanode runs in 64 KiB on the VM, like an ESP32 without PSRAM).
VM_HEAP = "64k"

# decoder -> Counter(fed=, refused=, accepted=, vm=): printed by conftest at the end of the run.
TALLY: dict[str, Counter] = {}


def budget(weight: float = 1.0) -> int:
    return max(20, int(EXAMPLES * weight))


def fuzz_settings(weight: float = 1.0):
    return settings(max_examples=budget(weight), deadline=None, database=None,
                    derandomize=DERANDOMIZE, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def tally(name: str, accepted: bool | None) -> None:
    """Count one input fed to `name`: accepted, refused with a typed error, or None (fed)."""
    c = TALLY.setdefault(name, Counter())
    c["fed"] += 1
    if accepted is not None:
        c["accepted" if accepted else "refused"] += 1


def vm_timeout(n: int) -> int:
    return max(300, n // 20)


# -- byte and text mutations ------------------------------------------------------------------

BOUNDARY_BYTES = [0x00, 0x01, 0x0A, 0x20, 0x7F, 0x80, 0xBF, 0xC0, 0xED, 0xEF, 0xF0, 0xF8, 0xFF]


@st.composite
def mutated(draw, seeds: list[bytes], max_extend: int = 140) -> bytes:
    """A valid input with a few edits: bit flips, boundary bytes, insertions, deletions,
    truncation, extension, a range overwritten or duplicated, a big-endian length field set to
    a boundary value."""
    b = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 8))
        i = draw(st.integers(0, max(len(b) - 1, 0)))
        if op == 0 and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and b:
            b[i] = draw(st.sampled_from(BOUNDARY_BYTES))
        elif op == 2:
            b[i:i] = draw(st.binary(min_size=1, max_size=9))
        elif op == 3 and b:
            del b[i:i + draw(st.integers(1, 9))]
        elif op == 4:
            del b[i:]
        elif op == 5:
            b += draw(st.binary(max_size=max_extend))
        elif op == 6 and len(b) > i + 1:
            value = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF]))
            b[i:i + 2] = struct.pack(">H", value)
        elif op == 7 and b:
            j = draw(st.integers(i, len(b)))
            b[i:i] = b[i:j]
        elif b:
            j = draw(st.integers(i, len(b)))
            b[i:j] = draw(st.binary(max_size=j - i + 2))
    return bytes(b)


def inputs(seeds: list[bytes], max_random: int = 300, max_extend: int = 140):
    """Random bytes or a mutated seed (mostly the latter: random bytes rarely get past a
    magic number)."""
    return st.one_of(st.binary(max_size=max_random),
                     mutated(seeds, max_extend), mutated(seeds, max_extend))


# Characters that break text formats: controls, the note's separators, a lone surrogate (only
# CPython strings hold them; MicroPython's and UTF-8 cannot), non-ASCII.
ODD_CHARS = ["\x00", "\t", "\n", "\r", " ", "+", "\u2014", "\x7f", "\u00e9", "\u2603",
             "\udc80", "\ud800", "\U0001f600", "\ufeff", "="]


@st.composite
def mutated_text(draw, seeds: list[str]) -> str:
    s = list(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 5))
        i = draw(st.integers(0, max(len(s) - 1, 0)))
        if op == 0 and s:
            s[i] = draw(st.sampled_from(ODD_CHARS))
        elif op == 1:
            s[i:i] = list(draw(st.text(max_size=8)))
        elif op == 2 and s:
            del s[i:i + draw(st.integers(1, 9))]
        elif op == 3:
            del s[i:]
        elif op == 4 and s:
            s[i:i] = s[i:i + draw(st.integers(1, 4000))]  # one long line
        elif s:
            s[i] = chr(ord(s[i]) ^ (1 << draw(st.integers(0, 6))))
    return "".join(s)


# -- JSON mutations ---------------------------------------------------------------------------

DEEP = "\x00deep\x00"
HUGE = "\x00huge\x00"
NAN = "\x00nan\x00"
# Values of every JSON type and the boundaries a strict reader must refuse: wrong types,
# out-of-range and non-finite numbers, lone surrogates, nesting past any limit.
ODD_JSON = [None, True, False, 0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5, 1e308,
            -0.0, "", "x", "\udc80", "\ud800x", "zz", "00", "0" * 64, "f" * 66, [], {}, [1],
            {"a": 1}, [[[]]], DEEP, HUGE, NAN]


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _get(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def _replace(obj, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        out = dict(obj)
        out[head] = _replace(obj[head], rest, value)
        return out
    out = list(obj)
    out[head] = _replace(obj[head], rest, value)
    return out


def _delete(obj, path):
    if len(path) == 1:
        out = dict(obj) if isinstance(obj, dict) else list(obj)
        del out[path[0]]
        return out
    return _replace(obj, path[:1], _delete(obj[path[0]], path[1:]))


def _dumps(obj, ascii_only: bool) -> bytes:
    text = json.dumps(obj, ensure_ascii=ascii_only)
    text = text.replace(json.dumps(DEEP), "[" * 3000 + "]" * 3000)
    text = text.replace(json.dumps(HUGE), "1" + "0" * 5000)
    text = text.replace(json.dumps(NAN), "NaN")
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated_json(draw, seeds: list[bytes]) -> bytes:
    """A seed document with values replaced by odd ones, keys deleted or added, then maybe a few
    byte edits on the text."""
    obj = json.loads(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(obj))
        path = draw(st.sampled_from(paths))
        op = draw(st.integers(0, 3))
        if op <= 1:
            obj = _replace(obj, path, draw(st.sampled_from(ODD_JSON)))
        elif op == 2 and path:
            obj = _delete(obj, path)
        else:
            node = _get(obj, path)
            if isinstance(node, dict):
                key = draw(st.sampled_from(["extra", "", "\udc80"]))
                obj = _replace(obj, path, dict(node, **{key: 1}))
    data = _dumps(obj, draw(st.booleans()))
    if draw(st.integers(0, 3)) == 0:
        data = draw(mutated([data], max_extend=20))
    return data


def json_inputs(seeds: list[bytes]):
    return st.one_of(mutated_json(seeds), mutated_json(seeds), mutated(seeds, 40),
                     st.binary(max_size=200))


# -- the host/VM comparison -------------------------------------------------------------------

def write_corpus(path: Path, name: str, inputs) -> None:
    """The VM runner's corpus: per input, u8 name length | name | u32 BE length | bytes."""
    tag = bytes((len(name),)) + name.encode()
    with open(path, "wb") as f:
        for d in inputs:
            f.write(tag + struct.pack(">I", len(d)) + d)


def run_on_vm(name: str, seen: dict[bytes, str], tmp_path: Path, mpy: Path) -> list[str]:
    """Run every input of `seen` through decoder `name` on the VM (the .mpy bytecode in `mpy`,
    at the agent's heap); -> its verdicts, in order."""
    corpus = tmp_path / f"corpus-{name}.bin"
    write_corpus(corpus, name, seen)
    res = mp.run_code(f"import fuzz_core\nfuzz_core.main({str(corpus)!r})", path=(mpy,),
                      heapsize=VM_HEAP, cwd=tmp_path, timeout=vm_timeout(len(seen)))
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0, out[-2000:] + res.stderr.decode(errors="replace")[-2000:]
    lines = out.splitlines()
    assert lines[-1] == f"done {len(seen)}", lines[-3:]
    return lines[:-1]


def compare_with_vm(name: str, seen: dict[bytes, str], tmp_path: Path, mpy: Path) -> None:
    vm = run_on_vm(name, seen, tmp_path, mpy)
    diff = [(d.hex()[:200], h, v) for (d, h), v in zip(seen.items(), vm, strict=True) if h != v]
    TALLY.setdefault(name, Counter())["vm"] += len(seen)
    assert not diff, f"{name}: {len(diff)} of {len(seen)} verdicts differ host/VM: {diff[:3]}"
