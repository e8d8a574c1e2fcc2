"""Birth receipts: the identity key anchored this D-TA id k blocks deep; a revealed Birth Record
hashes to the id. Every field tampered in turn is rejected naming the link."""

import copy
import json

import pytest
from click.testing import CliRunner

from dta import receipt as receipts
from dta.cli import main
from dta.verify import LinkError, TrustRoot, verify_birth
from dtacore.errors import DecodeError

K = 2


@pytest.fixture(scope="module")
def birth(tmp_path_factory, regtest_node):
    tmp = tmp_path_factory.mktemp("birth")
    runner = CliRunner()
    pw = tmp / "pw"
    pw.write_text("birth pass\n")
    pw.chmod(0o600)  # the CLI refuses a passphrase file others can read
    (tmp / "dta.toml").write_text(f"[chain]\nconfirmations = {K}\n"
                                  f"rpc_url = \"{regtest_node.url}\"\n")
    env = {"DTA_CONFIG": str(tmp / "dta.toml"), "DTA_PASSPHRASE": ""}
    base = ["--data-dir", str(tmp / "dta")]

    def dta(*args):
        res = runner.invoke(main, base + list(args), env=env, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return res.stdout

    dta("authority", "init", "--name", "birth-test", "--passphrase-file", str(pw))
    facts = json.loads(dta("authority", "show", "--json"))
    start = regtest_node.node.height()
    address = json.loads(dta("authority", "address", "--json"))
    regtest_node.fund(bytes.fromhex(address["script_pubkey"]))
    dta("anchor", "fund", "--from-height", str(start), "--passphrase-file", str(pw))
    dta("anchor", "run", "--once", "--passphrase-file", str(pw))
    regtest_node.mine(K)
    dta("anchor", "run", "--once", "--passphrase-file", str(pw))
    shown = json.loads(dta("authority", "show", "--json"))["birth_anchor"]
    assert shown["state"] == "final" and shown["confirmations"] == K
    out = tmp / "birth.json"
    dta("receipt", "birth", "--reveal", "--out", str(out), "--passphrase-file", str(pw))
    ev = json.loads(out.read_text())
    node = regtest_node.node
    trusted = node.header_hex(node.block_hash(ev["checkpoint_height"]))
    return {"ev": ev, "facts": facts, "trusted": trusted, "file": out, "dta": dta}


def check(b, ev):
    root = TrustRoot(bytes.fromhex(b["trusted"]), b["ev"]["checkpoint_height"])
    return verify_birth(receipts.parse(json.dumps(ev)), root, k=K)


def test_birth_receipt_verifies_offline_and_via_cli(birth):
    v = check(birth, birth["ev"])
    assert v.dta_id.hex() == birth["facts"]["dta_id"] and v.record.name == "birth-test"
    out = json.loads(birth["dta"]("verify", str(birth["file"]),
                                  "--checkpoint-header", birth["trusted"],
                                  "--checkpoint-height", str(birth["ev"]["checkpoint_height"]),
                                  "--json"))
    assert out["valid"] and out["kind"] == "birth" and out["revealed"] and out["confirmations"] == K


def flip(h, pos):
    b = bytearray(bytes.fromhex(h))
    b[pos] ^= 1
    return b.hex()


def test_birth_receipt_tampering(birth):
    ev = birth["ev"]
    payload_at = bytes.fromhex(ev["tx"]).index(b"D-TA")
    cases = [
        ("birth_record", flip(ev["birth_record"], 20), "birth record"),
        ("birth_record", ev["birth_record"][:-2], "birth record"),
        ("birth_record", ev["birth_record"][:-1], "format"),  # odd hex
        ("dta_id", flip(ev["dta_id"], 3), "birth record"),
        ("identity_pubkey", "03" + "cd" * 32, "birth record"),
        ("tx", flip(ev["tx"], payload_at + 10), "payload"),
        ("txout_proof", flip(ev["txout_proof"], 100), "transaction in block"),
        ("block_index", ev["block_index"] + 1, "transaction in block"),
        ("headers", ev["headers"][:ev["block_index"] + 1], "confirmations"),
        ("checkpoint_height", ev["checkpoint_height"] - 1, "header chain"),
    ]
    for key, value, link in cases:
        bad = copy.deepcopy(ev)
        bad[key] = value
        with pytest.raises((LinkError, DecodeError)) as info:
            check(birth, bad)
        assert getattr(info.value, "link", "format") == link, (key, str(info.value))
    unrevealed = dict(ev, birth_record=None, identity_pubkey="03" + "cd" * 32)
    with pytest.raises(LinkError, match="anchor signer"):
        check(birth, unrevealed)
