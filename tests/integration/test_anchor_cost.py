"""The fee figures in docs/anchoring.md are the ones the node measures: a Birth Record, a
checkpoint and a checkpoint with a top-up input, each sized by the node (getrawtransaction's
vsize) and by the D-TA (recomputed from the bytes), and both equal to the documented vsize."""

from pathlib import Path

from dta.anchor.address import p2wpkh_script
from dta.anchor.anchorer import Anchorer
from dta.anchor.store import FINAL, AnchorStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "anchoring.md"
ROWS = {"birth": "| Birth Record (38-byte payload) |",
        "checkpoint": "| checkpoint (70-byte payload) |",
        "top-up": "| checkpoint with one top-up input |"}


def documented_vsize(prefix: str) -> int:
    line = next(x for x in DOC.read_text().splitlines() if x.startswith(prefix))
    return int(line.split("|")[3].strip().removesuffix(" vB"))


def test_documented_vsizes_are_measured(tmp_path, regtest_node, funded_signer):
    signer, funding = funded_signer
    node = regtest_node.node
    a = Anchorer(AnchorStore(tmp_path / "a.sqlite3"), signer, bytes(32), node)
    a.set_funding(funding)
    a.submit_checkpoint(1, 1, b"\x01" * 32)
    a.step()
    regtest_node.mine(1)
    a.step()
    a.add_funds(regtest_node.fund(p2wpkh_script(signer.public_key)))
    a.submit_checkpoint(2, 2, b"\x02" * 32)
    a.step()
    regtest_node.mine(1)
    a.step()
    rows = a.store.all()
    assert [r.state for r in rows] == [FINAL] * 3
    for kind, row in zip(("birth", "checkpoint", "top-up"), rows, strict=True):
        measured = node.rpc.call("getrawtransaction", row.txid, True)["vsize"]
        assert measured == row.current["vsize"] == documented_vsize(ROWS[kind]), kind
        assert row.current["fee"] == row.current["vsize"]  # 1 sat/vB: the floor on regtest
