"""Device libraries from micropython-lib, brought in at bundle time and never committed.

micropython-lib's umqtt.simple is published on PyPI as an old-style sdist that `pip download`
refuses; we fetch that exact file through the package index pip is configured with, check its
pinned SHA-256 and unpack the one module we need into a cache directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dta.errors import DtaError

DEFAULT_INDEX = "https://pypi.org/simple"
FETCH_TIMEOUT = 60


@dataclass(frozen=True)
class Sdist:
    project: str      # PyPI project name
    filename: str     # exact sdist file
    sha256: str       # pinned digest of that file
    member: str       # path of the module inside the archive
    dest: str         # where it lands in the device's lib/


UMQTT_SIMPLE = Sdist(
    project="micropython-umqtt-simple",
    filename="micropython-umqtt.simple-1.3.4.tar.gz",
    sha256="b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f",
    member="micropython-umqtt.simple-1.3.4/umqtt/simple.py",
    dest="umqtt/simple.py",
)


def index_url() -> str:
    """The primary index pip uses here (PIP_INDEX_URL, pip config, or PyPI)."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().rstrip("/")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return DEFAULT_INDEX


def _file_url(sdist: Sdist, index: str) -> str:
    req = urllib.request.Request(f"{index}/{sdist.project}/",
                                 headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=FETCH_TIMEOUT) as resp:
        listing = json.load(resp)
    for f in listing.get("files", []):
        if f.get("filename") == sdist.filename:
            return f["url"]
    raise DtaError(f"{sdist.filename} not listed by {index}/{sdist.project}/")


def fetch(sdist: Sdist, cache_dir: Path) -> Path:
    """Return the cached module for `sdist`, downloading and checking it on first use."""
    target = Path(cache_dir) / sdist.sha256[:16] / sdist.dest
    if target.exists():
        return target
    index = index_url()
    try:
        with urllib.request.urlopen(_file_url(sdist, index), timeout=FETCH_TIMEOUT) as resp:
            blob = resp.read()
    except OSError as exc:
        raise DtaError(f"cannot fetch {sdist.filename} from {index}: {exc}") from None
    got = hashlib.sha256(blob).hexdigest()
    if got != sdist.sha256:
        raise DtaError(f"{sdist.filename}: sha256 {got} does not match pinned {sdist.sha256}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        member = tar.extractfile(sdist.member)
        if member is None:
            raise DtaError(f"{sdist.filename} lacks {sdist.member}")
        data = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target
