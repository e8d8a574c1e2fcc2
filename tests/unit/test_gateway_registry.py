"""The registry's states and bounds, its schema-1 migration, and what an unknown key may cost
(token buckets on an injected clock: no sleeps, no timing)."""

import sqlite3

import pytest

from dta.errors import StoreError
from dta.gateway import enrolment
from dta.gateway.admission import MAX_SOURCES, Admission, TokenBucket
from dta.gateway.registry import ENROLLED, EVICTED, PENDING, REVOKED, Registry
from dta.gateway.service import RefusalLines
from dtacore import entries

PK = [bytes([2]) + bytes([i]) * 32 for i in range(1, 10)]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class ListLog:
    """Stands in for the log's append: keeps the entries, returns their indices."""

    def __init__(self):
        self.entries = []

    def __call__(self, entry):
        self.entries.append(entry)
        return len(self.entries) - 1


def test_token_bucket_refills_one_minutes_worth():
    clock = Clock()
    bucket = TokenBucket(6, clock)
    assert [bucket.take() for _ in range(7)] == [True] * 6 + [False]
    clock.now += 10  # 6 per minute: one token per 10 s
    assert bucket.take() and not bucket.take()
    clock.now += 3600
    assert sum(bucket.take() for _ in range(100)) == 6  # never more than one minute's worth


def test_admission_per_source_then_overall():
    clock = Clock()
    gate = Admission(per_minute=5, per_source_per_minute=3, clock=clock)
    assert [gate.admit("mqtt") is None for _ in range(4)] == [True, True, True, False]
    assert "per_source" in gate.admit("mqtt")
    assert [gate.admit("serial a") is None for _ in range(3)] == [True, True, False]
    assert "new_devices_per_minute" in gate.admit("serial b")


def test_admission_source_table_is_bounded():
    gate = Admission(per_minute=100_000, per_source_per_minute=1, clock=Clock())
    for i in range(MAX_SOURCES * 3):
        gate.admit(f"source {i}")
    assert len(gate._sources) == MAX_SOURCES


def test_pending_table_is_bounded_oldest_evicted_and_counted(tmp_path):
    reg = Registry(tmp_path / "r.sqlite3", max_pending=3)
    for i in range(5):
        out = reg.record_hello(f"{i:016x}", PK[i], "unix", "0.1.0", 1)
        assert out.new
    assert [d.key_id for d in reg.devices()] == [f"{i:016x}" for i in (2, 3, 4)]
    assert reg.rejections() == {EVICTED: 2}
    assert reg.counts() == {PENDING: 3, ENROLLED: 0, REVOKED: 0}


def test_enrolled_devices_are_never_evicted(tmp_path):
    reg = Registry(tmp_path / "r.sqlite3", max_pending=1)
    log = ListLog()
    reg.record_hello("a" * 16, PK[0], "unix", "0.1.0", 1)
    enrolment.enroll(reg, log, "a" * 16)
    for i in range(1, 4):
        reg.record_hello(f"{i:016x}", PK[i], "unix", "0.1.0", 1)
    assert reg.get("a" * 16).state == ENROLLED and reg.counts()[PENDING] == 1


def test_enroll_then_revoke_each_logged_once(tmp_path):
    reg = Registry(tmp_path / "r.sqlite3")
    log = ListLog()
    kid = "ab" * 8
    reg.record_hello(kid, PK[0], "esp32-s3", "0.1.0", 1)
    assert log.entries == []  # a hello alone logs nothing
    dev, changed = enrolment.enroll(reg, log, reg.resolve("abab").key_id)
    assert changed and dev.state == ENROLLED and dev.enrolled_entry == 0
    assert enrolment.enroll(reg, log, kid) == (dev, False)  # no second entry
    dev, changed = enrolment.revoke(reg, log, kid, "compromised")
    assert changed and dev.state == REVOKED and dev.revoked_entry == 1
    enrolled, revoked = log.entries
    assert isinstance(enrolled, entries.DeviceEnrolled) and enrolled.board == b"esp32-s3"
    assert isinstance(revoked, entries.DeviceRevoked) and revoked.device_key == PK[0]
    assert revoked.reason == entries.REVOKED_COMPROMISED
    with pytest.raises(StoreError, match="never enrolled again"):
        enrolment.enroll(reg, log, kid)
    out = reg.record_hello(kid, PK[0], "esp32-s3", "0.1.0", 2)
    assert out.refusal[0] == "revoked"


def test_enrolment_is_not_recorded_when_its_entry_cannot_be_written(tmp_path):
    reg = Registry(tmp_path / "r.sqlite3")
    reg.record_hello("cd" * 8, PK[1], "unix", "0.1.0", 1)

    def broken(entry):
        raise OSError("disk full")

    with pytest.raises(OSError):
        enrolment.enroll(reg, broken, "cd" * 8)
    assert reg.get("cd" * 8).state == PENDING


def test_provisioned_device_is_enrolled_before_its_first_hello(tmp_path):
    reg = Registry(tmp_path / "r.sqlite3")
    log = ListLog()
    dev, changed = enrolment.provision(reg, log, PK[2], "esp32-c3")
    assert changed and dev.state == ENROLLED and dev.boot == 0
    assert reg.record_hello(dev.key_id, PK[2], "esp32-c3", "0.1.0", 1).refusal is None
    with pytest.raises(StoreError, match="board"):
        enrolment.provision(reg, log, PK[3], "two words")


def test_resolve_refuses_what_is_not_a_key_id(tmp_path):
    reg = Registry(tmp_path / "r.sqlite3")
    reg.record_hello("ab" * 8, PK[0], "unix", "0.1.0", 1)
    reg.record_hello("abcd" + "0" * 12, PK[1], "unix", "0.1.0", 1)
    for text, match in (("zz", "not a key id"), ("abab" * 5, "not a key id"),
                        ("abab0", "no device"), ("ab", "not a key id")):
        with pytest.raises(StoreError, match=match):
            reg.resolve(text)
    assert reg.resolve("ABAB").key_id == "ab" * 8


SCHEMA_1 = """
CREATE TABLE devices (key_id TEXT PRIMARY KEY, pubkey BLOB NOT NULL UNIQUE, board TEXT NOT NULL,
    firmware TEXT NOT NULL, boot INTEGER NOT NULL, status TEXT NOT NULL, hellos INTEGER NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE rejections (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
INSERT INTO devices VALUES ('0102030405060708', x'02aa', 'unix', '0.1.0', 4,
                            'pending-enrolment', 4, 10.0, 20.0);
INSERT INTO rejections VALUES ('bad-signature', 7);
PRAGMA user_version=1;
"""


def test_schema_1_registry_is_migrated(tmp_path):
    path = tmp_path / "dta.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_1)
    db.close()
    reg = Registry(path)
    (dev,) = reg.devices()
    assert (dev.key_id, dev.boot, dev.hellos, dev.state, dev.last_seen) == (
        "0102030405060708", 4, 4, ENROLLED, 20.0)
    assert reg.rejections() == {"bad-signature": 7}
    reg.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_newer_schema_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "dta.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=9")
    db.close()
    with pytest.raises(StoreError, match="newer than this dta's .*upgrade dta"):
        Registry(path)


def test_refusal_lines_are_bounded_and_the_rest_summed_up():
    clock = Clock()
    lines = RefusalLines(per_window=2, window=60, clock=clock)
    assert [lines.allow("malformed") for _ in range(5)] == [(True, 0)] * 2 + [(False, 0)] * 3
    assert lines.allow("oversized") == (True, 0)  # per reason
    clock.now += 60
    assert lines.allow("malformed") == (True, 3)
