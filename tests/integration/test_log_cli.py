"""`dta log ...` end to end through click, on a temporary data dir with its own authority."""

import json

from click.testing import CliRunner

from dta.cli import main
from dtacore import entries as E
from dtacore import merkle

PK = bytes.fromhex("02" + "11" * 32)


PASSPHRASE = "log cli test passphrase"


def run(tmp_path, *args, input=None):
    res = CliRunner().invoke(main, ["--data-dir", str(tmp_path), *args], input=input,
                             catch_exceptions=False,
                             env={"DTA_CONFIG": "", "DTA_PASSPHRASE": PASSPHRASE})
    return res


def test_cli_flow(tmp_path):
    assert run(tmp_path, "authority", "init", "--name", "log-cli").exit_code == 0
    hexes = [E.DeviceEvent(PK, i, 1, b"hello", bytes(64), 1764000000000 + i).encode().hex()
             for i in range(5)]
    res = run(tmp_path, "log", "append", "--json", *hexes)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["indices"] == [0, 1, 2, 3, 4]

    res = run(tmp_path, "log", "checkpoint", "--json")
    cp = json.loads(res.output)
    assert cp["closed"] and cp["tree_size"] == 5 and cp["note"].startswith("dta.local/log\n5\n")

    run(tmp_path, "log", "append", hexes[0])
    run(tmp_path, "log", "checkpoint")
    show = json.loads(run(tmp_path, "log", "show", "--json").output)
    assert show["tree_size"] == 6 and show["last_checkpoint"]["seq"] == 1

    one = json.loads(run(tmp_path, "log", "show", "2", "--json").output)
    assert one["entry"]["type"] == "DeviceEvent" and one["entry"]["counter"] == 2

    receipt = run(tmp_path, "log", "prove", "3").output
    assert json.loads(receipt)["format"] == "dta-log-receipt/1"
    (tmp_path / "r.json").write_text(receipt)
    ok = run(tmp_path, "log", "verify", "--json", str(tmp_path / "r.json"))
    assert ok.exit_code == 0 and json.loads(ok.output)["index"] == 3

    bad = json.loads(receipt)
    bad["entry"] = hexes[4]
    bad_res = run(tmp_path, "log", "verify", "-", input=json.dumps(bad))
    assert bad_res.exit_code == 1
    assert "does not verify: inclusion proof: inclusion proof does not match root" in bad_res.output

    cons = json.loads(run(tmp_path, "log", "consistency", "5", "--json").output)
    assert merkle.verify_consistency_bytes(bytes.fromhex(cons["proof"]),
                                           bytes.fromhex(cons["root1"]),
                                           bytes.fromhex(cons["root2"]))[:2] == (5, 6)
    assert json.loads(run(tmp_path, "log", "verify", "--store", "--json").output) == {"ok": True,
                                                                            "entries": 6}


def test_cli_refuses_to_log_without_an_authority(tmp_path):
    entry = E.DeviceEvent(PK, 1, 1, b"x", bytes(64), 1).encode().hex()
    res = run(tmp_path, "log", "append", entry)
    assert res.exit_code != 0 and "run `dta authority init`" in res.output
    assert json.loads(run(tmp_path, "log", "show", "--json").output)["tree_size"] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if "key" in p.name) == []


def test_cli_rejects_bad_entries(tmp_path):
    res = run(tmp_path, "log", "append", "01ffaa")
    assert res.exit_code != 0 and "unknown entry type" in res.output
    res = run(tmp_path, "log", "prove", "0")
    assert res.exit_code != 0


def test_cli_signs_with_authority_identity_key(tmp_path):
    from dta.signing import verify as verify_digest
    from dtacore import note

    (tmp_path / "pw").write_text("correct horse\n")
    (tmp_path / "pw").chmod(0o600)
    pw = ["--passphrase-file", str(tmp_path / "pw")]
    facts = json.loads(run(tmp_path, "authority", "init", "--name", "t", "--json", *pw).output)
    entry = E.DeviceEvent(PK, 1, 1, b"x", bytes(64), 1).encode().hex()
    assert run(tmp_path, "log", "append", entry, *pw).exit_code == 0
    cp = json.loads(run(tmp_path, "log", "checkpoint", "--json", *pw).output)
    note.verify_checkpoint(cp["note"], "dta.local/log", bytes.fromhex(facts["identity_pubkey"]),
                           verify_digest)
    (tmp_path / "r.json").write_text(run(tmp_path, "log", "prove", "0").output)
    assert run(tmp_path, "log", "verify", str(tmp_path / "r.json")).exit_code == 0
