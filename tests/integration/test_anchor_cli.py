"""The whole flow through the `dta` CLI on a real regtest node: authority init, funding found in
blocks, the anchorer run over the log's checkpoints, receipt upgrade, offline verify, history."""

import json

from click.testing import CliRunner

from dta import exitcodes
from dta.cli import main
from dtacore import entries as E

PK = bytes.fromhex("02" + "ab" * 32)
K = 2


def test_cli_anchor_receipt_verify_history(tmp_path, regtest_node):
    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text("cli passphrase\n")
    pw.chmod(0o600)  # the CLI refuses a passphrase file others can read
    env = {"DTA_BITCOIN_RPC": regtest_node.url, "DTA_PASSPHRASE": "", "DTA_CONFIG": ""}
    base = ["--data-dir", str(tmp_path / "dta")]

    def dta(*args, ok=True):
        res = runner.invoke(main, base + list(args), env=env, catch_exceptions=False)
        if ok:
            assert res.exit_code == 0, res.output
        return res

    dta("authority", "init", "--name", "cli-anchor", "--passphrase-file", str(pw))
    facts = json.loads(dta("authority", "show", "--json").stdout)
    script = bytes.fromhex(json.loads(dta("authority", "address", "--json").stdout)[
        "script_pubkey"])
    start = regtest_node.node.height()
    regtest_node.fund(script)
    found = json.loads(dta("anchor", "fund", "--from-height", str(start),
                           "--passphrase-file", str(pw), "--json").stdout)
    assert found["value"] > 0

    for i in range(3):
        entry = E.DeviceEvent(PK, i, 1, b"evt %d" % i, bytes(64), 1764000000000 + i).encode()
        dta("log", "append", entry.hex(), "--passphrase-file", str(pw))
    dta("log", "checkpoint", "--passphrase-file", str(pw))

    # before anchoring, the receipt is pending: the log links verify, the Bitcoin ones cannot yet
    res = dta("anchor", "run", "--once", "--node", "http://x:y@127.0.0.1:1/",
              "--passphrase-file", str(pw), ok=False)
    assert res.exit_code == exitcodes.UNREACHABLE, res.output
    (tmp_path / "p.json").write_text(dta("log", "prove", "0").stdout)
    dta("receipt", "upgrade", str(tmp_path / "p.json"), "--out", str(tmp_path / "p2.json"))
    assert json.loads((tmp_path / "p2.json").read_text())["anchor"]["status"] == "pending"
    res = dta("verify", str(tmp_path / "p2.json"), "--json", ok=False)
    assert (res.exit_code == 1
            and json.loads(res.stdout)["reason"].startswith("receipt is 'pending'"))
    res = dta("verify", str(tmp_path / "p2.json"), "--allow-pending", "--json")
    assert json.loads(res.stdout)["anchored"] is False

    env["DTA_CONFIG"] = str(tmp_path / "dta.toml")
    (tmp_path / "dta.toml").write_text(f"[chain]\nconfirmations = {K}\n")
    out = json.loads(dta("anchor", "run", "--once", "--passphrase-file", str(pw),
                         "--json").stdout)
    assert [a["state"] for a in out["anchors"]] == ["unconfirmed", "unconfirmed"]
    regtest_node.mine(K)
    out = json.loads(dta("anchor", "run", "--once", "--passphrase-file", str(pw),
                         "--json").stdout)
    assert [a["state"] for a in out["anchors"]] == ["final", "final"]
    status = json.loads(dta("anchor", "status", "--json").stdout)
    assert status["anchors"][1]["sequence"] == 0

    receipt = tmp_path / "r.json"
    receipt.write_text(dta("log", "prove", "1").stdout)
    upgraded = tmp_path / "r2.json"
    dta("receipt", "upgrade", str(receipt), "--out", str(upgraded))
    ev = json.loads(upgraded.read_text())["anchor"]
    assert ev["status"] == "anchored"
    node = regtest_node.node
    trusted = node.header_hex(node.block_hash(ev["checkpoint_height"]))
    res = dta("verify", str(upgraded), "--checkpoint-header", trusted,
              "--checkpoint-height", str(ev["checkpoint_height"]), "--dta-id", facts["dta_id"],
              "--json")
    assert json.loads(res.stdout)["valid"] is True
    res = dta("verify", str(upgraded), "--node", regtest_node.url, "--json")
    assert json.loads(res.stdout)["confirmations"] >= K

    bad = json.loads(upgraded.read_text())
    bad["anchor"]["sequence"] += 1
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    res = dta("verify", str(tmp_path / "bad.json"), "--checkpoint-header", trusted,
              "--checkpoint-height", str(ev["checkpoint_height"]), "--json", ok=False)
    assert res.exit_code == 1 and json.loads(res.stdout)["link"] == "payload"

    hist = json.loads(dta("verify", "--history", facts["dta_id"],
                          "--from-height", str(start), "--json").stdout)
    assert hist["ok"] and hist["birth"] and [a["sequence"] for a in hist["anchors"]] == [0]
    assert hist["birth"]["identity_pubkey"] == facts["identity_pubkey"]
