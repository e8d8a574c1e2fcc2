"""The fee rules on the node's figures (dta.anchor.fees), and what the anchorer does when the
node's floor is above fee_max (recorded Core answers: a full mempool)."""

import os

import pytest

from dta.anchor import fees
from dta.anchor.anchorer import Anchorer
from dta.anchor.rpc import Node
from dta.anchor.store import PENDING, AnchorStore
from dta.anchor.tx import Outpoint
from dta.signing import Signer
from tests.fixtures.chain import RpcStandIn

NODE = fees.RelayFees(min_relay=1000, mempool_min=1000, incremental=1000)
FULL = fees.RelayFees(min_relay=1000, mempool_min=5220, incremental=1000)


def test_a_new_anchor_pays_the_estimate_within_the_node_floor_and_the_bounds():
    rate = fees.anchor_rate
    assert rate(None, NODE, fee_floor=1000, fee_max=50_000) == 1000
    assert rate(8000, NODE, fee_floor=1000, fee_max=50_000) == 8000
    assert rate(80_000, NODE, fee_floor=1000, fee_max=50_000) == 50_000
    assert rate(2000, FULL, fee_floor=1000, fee_max=50_000) == 5220  # the mempool's floor
    assert rate(None, fees.RelayFees(100, 100, 100), fee_floor=300, fee_max=50_000) == 300
    with pytest.raises(fees.FeeAboveMax, match="above fee_max 3000: raise"):
        rate(None, FULL, fee_floor=1000, fee_max=3000)


def test_a_replacement_meets_bip125_and_pays_for_its_package():
    old = {"fee": 191, "vsize": 191, "fee_rate": 1000}
    plan = fees.replacement(old, [], 1000, NODE, fee_max=50_000)
    assert plan.rate == 2500  # 1.5 x 1000 + 1000 incremental
    assert plan.min_fee == fees.fee_for(2500, 191) == 478
    capped = fees.replacement(old, [], 1000, NODE, fee_max=1200)  # rate capped by fee_max:
    assert capped.rate == 1200 and capped.min_fee == 191 + fees.fee_for(1000, 192)  # rule 4
    parent = {"fee": 159, "vsize": 159, "fee_rate": 1000}
    plan = fees.replacement(old, [parent], 1000, NODE, fee_max=50_000)
    assert plan.min_fee == fees.fee_for(2500, 159 + 191) - 159  # the whole package at 2500
    assert fees.replacement(old, [], 9000, NODE, fee_max=50_000).rate == 9000


def test_the_anchorer_keeps_roots_pending_while_the_floor_is_above_fee_max(tmp_path):
    with RpcStandIn() as core:
        core.answer_recorded("core27_regtest")
        core.answer_recorded("core27_full_mempool")  # recorded: mempoolminfee 0.00005220
        a = Anchorer(AnchorStore(tmp_path / "a.sqlite3"), Signer(os.urandom(32)), bytes(32),
                     Node.from_url(core.url), fee_max=3000, network="regtest")
        a.set_funding(Outpoint("33" * 32, 0, 10_000_000))
        a.submit_birth()
        out = a.step()
        row = a.store.get(0)
        assert row.state == PENDING and row.candidates == []
        assert "5220 sat/kvB" in out["events"][-1] and "raise [chain] fee_max" in out["events"][-1]
        assert [p for p in core.called("testmempoolaccept") if p != [[]]] == []
