"""The demo's helper: a throwaway regtest node anchors the Birth Record and checkpoints."""

import os

from dta.authority.identity import Signer
from dta.chain import local
from dta.services import regtest


def test_anchor_locally(tmp_path):
    lines = []
    out = local.anchor_locally(tmp_path, Signer(os.urandom(32)), os.urandom(32),
                               [(0, 3, b"\x01" * 32), (1, 5, b"\x02" * 32)], k=1, say=lines.append)
    if not regtest.available():
        assert out["pending"] == 3
        return
    assert [a["state"] for a in out["anchors"]] == ["final"] * 3
    assert len(lines) == 3 and lines[0].startswith("Birth Record: tx ")
