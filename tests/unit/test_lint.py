"""ruff (configured in pyproject.toml: line length 100, pyflakes, pycodestyle, bugbear, isort)
passes on every Python file the project ships or tests with."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_passes():
    ruff = Path(sys.executable).parent / "ruff"
    res = subprocess.run([str(ruff), "check", "--no-cache", "host", "firmware", "tests", "bench"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
