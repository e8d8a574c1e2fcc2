"""`dta anchor run --once` says how the round went in its exit code: 0 when the node took the
anchors, 7 when it refused one (here: the test spends the funding first), with a readable
round line and, with --json, the round itself."""

import json
import os
import subprocess
import sys
from pathlib import Path

from dta import exitcodes
from dta.anchor.address import p2wpkh_script
from dta.anchor.tx import build_anchor
from dta.authority import identity

DTA = str(Path(sys.executable).parent / "dta")
PASSPHRASE = "anchor exit codes"


def dta(env, *args, code=0):
    out = subprocess.run([DTA, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    return out


def test_a_refused_anchor_is_a_partial_failure(tmp_path, regtest_node):
    data = tmp_path / "dta"
    env = dict(os.environ, DTA_DATA_DIR=str(data), DTA_CONFIG="", DTA_PASSPHRASE=PASSPHRASE,
               DTA_BITCOIN_RPC=regtest_node.url)
    dta(env, "authority", "init", "--name", "refused")
    signer = identity.open_signer(data, PASSPHRASE)
    funding = regtest_node.fund(p2wpkh_script(signer.public_key))
    dta(env, "anchor", "fund", "--outpoint", f"{funding.txid}:{funding.vout}")
    theirs = build_anchor(signer, funding, b"someone else spends the funding", 2000)
    regtest_node.node.send(theirs.hex)
    out = dta(env, "anchor", "run", "--once", code=exitcodes.PARTIAL)
    assert "node refused" in out.stdout and "refused by the node" in out.stdout
    assert "conflict" in out.stderr  # the anchorer's own line, timestamped, on stderr
    again = json.loads(dta(env, "anchor", "run", "--once", "--json",
                           code=exitcodes.PARTIAL).stdout)
    # the next round at the same tip waits for a block instead of sending the same bytes again
    assert again["anchors"][0]["state"] == "pending" and again["anchors"][0]["refusal"]
