"""`dta log ...` end to end through click, on a temporary data dir with the log-local key."""

import json

from click.testing import CliRunner

from dtacore import entries as E
from dtacore import merkle

from dta.cli import main

PK = bytes.fromhex("02" + "11" * 32)


def run(tmp_path, *args, input=None):
    res = CliRunner().invoke(main, ["--data-dir", str(tmp_path), *args], input=input,
                             catch_exceptions=False, env={"DTA_CONFIG": ""})
    return res


def test_cli_flow(tmp_path):
    hexes = [E.DeviceEvent(PK, i, 1, b"hello", bytes(64), 1764000000000 + i).encode().hex()
             for i in range(5)]
    res = run(tmp_path, "log", "append", *hexes)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["indices"] == [0, 1, 2, 3, 4]
    assert (tmp_path / "log-signing.key").stat().st_mode & 0o777 == 0o600

    res = run(tmp_path, "log", "checkpoint")
    cp = json.loads(res.output)
    assert cp["closed"] and cp["tree_size"] == 5 and cp["note"].startswith("dta.local/log\n5\n")

    run(tmp_path, "log", "append", hexes[0])
    run(tmp_path, "log", "checkpoint")
    show = json.loads(run(tmp_path, "log", "show").output)
    assert show["tree_size"] == 6 and show["last_checkpoint"]["seq"] == 1

    one = json.loads(run(tmp_path, "log", "show", "2").output)
    assert one["entry"]["type"] == "DeviceEvent" and one["entry"]["counter"] == 2

    receipt = run(tmp_path, "log", "prove", "3").output
    assert json.loads(receipt)["format"] == "dta-log-receipt/1"
    (tmp_path / "r.json").write_text(receipt)
    ok = run(tmp_path, "log", "verify", str(tmp_path / "r.json"))
    assert ok.exit_code == 0 and json.loads(ok.output)["index"] == 3

    bad = json.loads(receipt)
    bad["entry"] = hexes[4]
    bad_res = run(tmp_path, "log", "verify", "-", input=json.dumps(bad))
    assert bad_res.exit_code == 1 and "RootMismatchError" in bad_res.output

    cons = json.loads(run(tmp_path, "log", "consistency", "5").output)
    assert merkle.verify_consistency_bytes(bytes.fromhex(cons["proof"]),
                                           bytes.fromhex(cons["root1"]),
                                           bytes.fromhex(cons["root2"])) == (5, 6)
    assert json.loads(run(tmp_path, "log", "verify", "--store").output) == {"ok": True,
                                                                            "entries": 6}


def test_cli_rejects_bad_entries(tmp_path):
    res = run(tmp_path, "log", "append", "0107aa")
    assert res.exit_code != 0 and "unknown entry type" in res.output
    res = run(tmp_path, "log", "prove", "0")
    assert res.exit_code != 0


def test_cli_signs_with_authority_identity_key(tmp_path):
    from dtacore import note

    from dta.log.keys import verify_digest

    (tmp_path / "pw").write_text("correct horse\n")
    pw = ["--passphrase-file", str(tmp_path / "pw")]
    facts = json.loads(run(tmp_path, "authority", "init", "--name", "t", *pw).output)
    entry = E.DeviceEvent(PK, 1, 1, b"x", bytes(64), 1).encode().hex()
    assert run(tmp_path, "log", "append", entry, *pw).exit_code == 0
    cp = json.loads(run(tmp_path, "log", "checkpoint", *pw).output)
    assert not (tmp_path / "log-signing.key").exists()
    note.verify_checkpoint(cp["note"], "dta.local/log", bytes.fromhex(facts["identity_pubkey"]),
                           verify_digest)
    (tmp_path / "r.json").write_text(run(tmp_path, "log", "prove", "0").output)
    assert run(tmp_path, "log", "verify", str(tmp_path / "r.json")).exit_code == 0
