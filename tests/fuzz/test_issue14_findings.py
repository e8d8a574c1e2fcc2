"""Each input issue 14 lists, as a fixed case beside the properties that found it: the typed
error it gets now. (The host-config cases belong to the operator work on host/dta/config.py and
the node replies to the anchoring work; their properties live in test_config_fuzz.py and
test_rpc_fuzz.py. The device-memory case is test_note_heap_vm.py.)
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from dta import receipt
from dta.authority import identity, keystore
from dta.errors import AuthorityError, ConfigError, DtaError, StoreError
from dta.firmware import boards
from dta.log.store import LogStore
from dtacore.errors import DecodeError
from dtanode import config as device
from tests.fuzz import world
from tests.fuzz.test_authority_fuzz import PASSPHRASE, PLAIN, SEALED, N
from tests.fuzz.test_store_fuzz import FixedSigner


def _receipt(i: int, **changes) -> bytes:
    obj = json.loads(world.receipts()[i])
    obj.update(changes)
    return json.dumps(obj).encode()


@pytest.mark.parametrize("data", [
    b"[" * 994, b"[" * 994 + b"]" * 994,
    _receipt(0, checkpoint=world.checkpoint(37).replace(world.ORIGIN, "\udc80", 1)),
    _receipt(3, network=[]), _receipt(3, network={}),
    json.dumps(dict(json.loads(world.receipts()[2]), anchor=dict(
        json.loads(world.receipts()[2])["anchor"], network=[]))).encode(),
], ids=["deep", "deep-closed", "surrogate-origin", "birth-network-list", "birth-network-dict",
        "anchored-network-list"])
def test_receipts(data):
    with pytest.raises(DecodeError):
        receipt.parse(data)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[" * 2000 + b"]" * 2000, b"{}", b"2",
                                  json.dumps(dict(json.loads(world.authority_json()),
                                                  identity_pubkey="zz" * 33)).encode()],
                         ids=["empty", "not-utf8", "nested", "empty-object", "number",
                              "non-hex-key"])
def test_authority_json(tmp_path, data):
    (tmp_path / "authority").mkdir()
    (tmp_path / "authority" / identity.PUBLIC_FILE).write_bytes(data)
    with pytest.raises(AuthorityError):
        identity.load_public(tmp_path)


def test_passphrase_file_with_byte_ff(tmp_path):
    from dta.cli import context
    path = tmp_path / "pass"
    path.write_bytes(b"\xffsecret\n")
    path.chmod(0o600)
    with pytest.raises(DtaError):
        context.passphrase(path)


@pytest.mark.parametrize("secret", [bytes(32), N.to_bytes(32, "big"), b"\xff" * 32],
                         ids=["zero", "n", "ff"])
def test_sealed_secret_out_of_range(tmp_path, secret):
    plain = PLAIN[:32] + secret + PLAIN[64:]
    keystore.write_private(identity.authority_dir(tmp_path) / identity.SECRETS_FILE,
                           keystore.seal(plain, PASSPHRASE, keystore.MIN_LOG2_N))
    with pytest.raises(AuthorityError):
        identity.unlock(tmp_path, PASSPHRASE)


@pytest.mark.parametrize("params", [(20, 8, 1), (15, 32, 1), (15, 8, 16), (20, 32, 16)])
def test_key_file_scrypt_cost_checked_first(params):
    blob = SEALED[:5] + bytes(params) + SEALED[8:]
    with pytest.raises(AuthorityError, match="scrypt parameters"):
        keystore.unseal(blob, PASSPHRASE)


@pytest.mark.parametrize("raw", [b"[" * 3000 + b"]" * 3000, b'{"mqtt_port": "1883"}',
                                 b'{"once": 1}', b'{"dta_ids": "ab"}', b'{"storage": 5}',
                                 b'{"mqtt_port": 1883}{}', b'{"wifi_ssid": "\\udc80"}'])
def test_device_config(tmp_path, raw):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    with pytest.raises(device.ConfigError):
        device.load_config(str(path))


@pytest.mark.parametrize("raw", [b"2", b'"esp32"', b"[" * 3000 + b"]" * 3000, b"[]",
                                 b'{"name": "x", "entropy": {"source": "device", "path": 5}}'])
def test_board_files(tmp_path, raw):
    with pytest.raises(ConfigError):
        boards.parse(raw, where="board.json")
    path = tmp_path / "board.json"
    path.write_bytes(raw)
    with pytest.raises(device.ConfigError):
        device.load_board(str(path))


@pytest.mark.parametrize("sql", [
    "UPDATE entries SET leaf = 'text' WHERE idx = 3",
    "UPDATE entries SET leaf = x'00' WHERE idx = 3",
    "UPDATE nodes SET level = -1 WHERE level = 1 AND idx = 0",
    "UPDATE checkpoints SET tree_size = 'x'",
    "UPDATE checkpoints SET note = CAST(x'ff80' AS TEXT)",
    "UPDATE checkpoints SET root = zeroblob(31)",
    "DELETE FROM meta",
    "DROP TABLE nodes",
], ids=["leaf-text", "leaf-short", "node-level", "size-text", "note-not-utf8", "root-short",
        "no-meta", "no-nodes"])
def test_log_store_on_a_corrupt_database(tmp_path, sql):
    path = tmp_path / "log.sqlite3"
    with LogStore(path, origin=world.ORIGIN) as s:
        s.append_many(world.entries())
        s.close_checkpoint(FixedSigner(), now=1.0)
    db = sqlite3.connect(path, isolation_level=None)
    for t in ("entries", "nodes", "checkpoints"):
        for op in ("update", "delete"):
            db.execute(f"DROP TRIGGER IF EXISTS {t}_no_{op}")
    db.execute(sql)
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=str(path)) as err:
        LogStore(path, origin=world.ORIGIN)
    assert "restore" in str(err.value) or "damaged" in str(err.value)
    assert path.read_bytes() == before


def test_log_store_whose_schema_sqlite_cannot_describe(tmp_path):
    # A damaged schema record: Python's sqlite3 fails to decode SQLite's own error message
    # (UnicodeDecodeError, found by test_store_fuzz.py) before any statement runs.
    path = tmp_path / "log.sqlite3"
    with LogStore(path, origin=world.ORIGIN) as s:
        s.append_many(world.entries())
    raw = bytearray(path.read_bytes())
    raw[raw.find(b"triggercheckpoints_no_delete") + 7] = 0xCE  # in the name
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="damaged"):
        LogStore(path, origin=world.ORIGIN)
    assert path.read_bytes() == bytes(raw)


# Found by the 1,000,000-input run (`make fuzz`), fixed since: inputs MicroPython decoded
# where CPython refused them, and a transaction serialization Core refuses.
OVERLONG = b"\xe0\x98\x83"  # U+0603 in three bytes instead of two
_NAME = world.birth_record().index(b"Fuzz")
FOUND_BY_THE_RUN = [
    ("birth", world.birth_record()[:_NAME] + b"Fuzz D-TA " + OVERLONG
     + world.birth_record()[_NAME + len("Fuzz D-TA \u2603".encode()):]),
    ("note", world.checkpoint(3).replace(world.ORIGIN, "fuzz.example/\u2603", 1).encode()
     .replace("\u2603".encode(), b"\xf0\x82\x98\x83")),
    ("tx", bytes.fromhex("02000000" "0001" "01" + "11" * 36 + "00" "ffffffff" "01"
                         + "00" * 8 + "01" "51" "00" "00000000")),
    ("device_config", b'{"wifi_ssid": "caf\xc3\x29"}'),
]


def test_found_by_the_run_on_host_and_vm(tmp_path, monkeypatch, fuzz_mpy):
    from tests.fuzz import support
    from tests.fuzz.test_core_fuzz import core
    monkeypatch.chdir(tmp_path)
    for name, data in FOUND_BY_THE_RUN:
        # A CPython str cannot hold an overlong form: the note's case is for the VM alone, whose
        # decoder takes it into a str the parser must then refuse.
        host = "E DecodeError" if name == "note" else core.verdict(name, data)
        assert host.startswith("E "), (name, host)
        assert support.run_on_vm(name, {data: host}, tmp_path, fuzz_mpy) == [host], name
