"""The log store's device event index (LogStore.append_events, the device_events table): one
entry per (device key, counter) within a call, across calls, across reopening, for entries
appended by append_many too, and for a log written before the table existed."""

from __future__ import annotations

import os
import sqlite3

import pytest

from dta.errors import StoreError
from dta.log.store import LogStore
from dtacore import backend, entries

ORIGIN = "index.test/log"


def _event(key: bytes, counter: int, payload: bytes = b"x") -> tuple[bytes, bytes]:
    digest = entries.event_digest(key, counter, 0x80, payload)
    return digest, entries.DeviceEvent(key, counter, 0x80, payload, bytes(64), 5).encode()


@pytest.fixture
def key() -> bytes:
    return backend.pubkey(os.urandom(32))


def test_one_entry_per_device_and_counter_within_and_across_calls(tmp_path, key):
    other = backend.pubkey(os.urandom(32))
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as store:
        first = store.append_events([_event(key, 1), _event(key, 2), _event(key, 1),
                                     _event(other, 1)])
        assert [(r.index, r.new) for r in first] == [(0, True), (1, True), (0, False),
                                                     (2, True)]
        again = store.append_events([_event(key, 2), _event(key, 3), _event(key, 1, b"y")])
        assert [(r.index, r.new) for r in again] == [(1, False), (3, True), (0, False)]
        assert again[2].digest == _event(key, 1)[0] != _event(key, 1, b"y")[0]  # reused
        assert store.size == 4
        assert entries.decode(store.entry(3)).counter == 3
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as store:  # reopened
        assert [r.new for r in store.append_events([_event(key, 3), _event(key, 4)])] == [
            False, True]
        assert store.device_event(key, 4).index == 4 and store.device_event(key, 9) is None
        assert store.verify_integrity() == 5


def test_entries_appended_otherwise_are_indexed_and_a_log_from_before_is_indexed_on_open(
        tmp_path, key):
    path = tmp_path / "log.sqlite3"
    with LogStore(path, origin=ORIGIN) as store:
        store.append_many([_event(key, 1)[1], b"\x01\x04 not an event", _event(key, 2)[1]])
        assert store.device_event(key, 2).index == 2
    db = sqlite3.connect(path)  # as a log written before the index existed
    db.executescript("DROP TRIGGER device_events_no_update; DROP TRIGGER device_events_no_delete;"
                     " DROP TABLE device_events;")
    db.close()
    with LogStore(path, origin=ORIGIN) as store:
        assert store.device_event(key, 1).index == 0
        assert store.device_event(key, 2).index == 2
        assert not store.append_events([_event(key, 1)])[0].new
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            store.db.execute("DELETE FROM device_events")


def test_only_device_event_entries_are_taken(tmp_path, key):
    with LogStore(tmp_path / "log.sqlite3", origin=ORIGIN) as store:
        enrolled = entries.DeviceEnrolled(key, b"unix", 5).encode()
        with pytest.raises(StoreError, match="not a device event entry"):
            store.append_events([(bytes(32), enrolled)])
        assert store.size == 0
