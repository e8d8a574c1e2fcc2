"""The demo's throwaway chain: a private regtest node anchors the Birth Record and the log's
checkpoints through the same path as `dta anchor run` (Anchorer.queue_from the log), then is
removed with its temporary store."""

import os

from dta.authority.identity import PublicFacts
from dta.demo.throwaway_chain import anchor_on_throwaway_node
from dta.log.store import LogStore
from dta.services import regtest
from dta.signing import Signer


def test_anchor_on_throwaway_node(tmp_path):
    signer = Signer(os.urandom(32))
    facts = PublicFacts(os.urandom(32), "t", "regtest", signer.public_key, 0, "test")
    with LogStore(tmp_path / "log.sqlite3", origin="t.example/log") as log:
        log.append_many([b"a", b"b", b"c"])
        log.close_checkpoint(signer)
        log.append_many([b"d", b"e"])
        log.close_checkpoint(signer)
        lines = []
        out = anchor_on_throwaway_node(tmp_path, signer, facts, log, k=1, say=lines.append)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("throwaway-chain-")]
    if not regtest.available():
        assert out["pending"] == 3
        return
    assert [(a["kind"], a["sequence"], a["tree_size"], a["state"]) for a in out["anchors"]] == [
        ("birth", None, None, "final"), ("checkpoint", 0, 3, "final"),
        ("checkpoint", 1, 5, "final")]
    assert len(lines) == 3 and lines[0].startswith("Birth Record: tx ")
