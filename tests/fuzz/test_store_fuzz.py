"""The local log store opened on a corrupted database: bytes of the SQLite file flipped,
overwritten or cut, or rows and schema changed behind its back (wrong types, wrong lengths,
missing or foreign rows, notes that do not match their rows, meta values, dropped tables). Every
failure is a StoreError naming the file; a store that is refused is left byte for byte as it
was (opening is one transaction); a store that opens answers every read with a value or a
StoreError, and one whose full check passes hands out roots and proofs of the tree it signed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dta.errors import USER_ERRORS, StoreError
from dta.log.store import LogStore
from dta.receipt import Receipt
from dta.verify import verify_log_receipt
from dtacore import merkle
from tests.fuzz import support, world

ORIGIN = world.ORIGIN
SIZES = (10, 25, 40)


class FixedSigner:
    """The identity key, signing deterministically (the seed file is the same every run)."""

    public_key = world.IDENTITY_PUB

    def sign_digest(self, digest: bytes) -> bytes:
        return world.sign(world.IDENTITY, digest)


def _entry(i: int) -> bytes:
    return world.entries()[i % len(world.entries())]


class Pristine(tuple):
    """(file bytes, roots of every size): short in a failing example's report."""

    def __repr__(self) -> str:
        return f"<pristine store: {len(self[0])} bytes, {len(self[1]) - 1} entries>"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Pristine:
    path = tmp_path_factory.mktemp("store") / "log.sqlite3"
    with LogStore(path, origin=ORIGIN) as s:
        for n, size in enumerate(SIZES):
            s.append_many([_entry(i) for i in range(s.size, size)])
            s.close_checkpoint(FixedSigner(), now=1_764_000_000.0 + n)
        roots = [s.root(n) for n in range(s.size + 1)]
    assert not Path(str(path) + "-wal").exists()
    return Pristine((path.read_bytes(), roots))


# SQL that corrupts a store the way a bad disk, a bad restore or a hand edit would.
ODD_SQL_VALUES = ["NULL", "x''", "x'00'", "zeroblob(31)", "zeroblob(33)", "randomblob(32)",
                  "'text'", "CAST(x'ff80' AS TEXT)", "-1", "0", "1.5", "9223372036854775807",
                  "'\u2014 x'"]
CORRUPTIONS = [
    "UPDATE entries SET leaf = {v} WHERE idx = {i}",
    "UPDATE entries SET data = {v} WHERE idx = {i}",
    "UPDATE entries SET idx = {v} WHERE idx = {i}",
    "DELETE FROM entries WHERE idx = {i}",
    "INSERT INTO entries VALUES ({i} + 40, randomblob(32), x'01')",
    "UPDATE nodes SET hash = {v} WHERE level = 1 AND idx = {j}",
    "UPDATE nodes SET level = {v} WHERE level = 2 AND idx = 0",
    "UPDATE nodes SET idx = {v} WHERE level = 1 AND idx = {j}",
    "DELETE FROM nodes WHERE level = {l}",
    "INSERT INTO nodes VALUES (9, 0, randomblob(32))",
    "UPDATE checkpoints SET tree_size = {v} WHERE seq = {s}",
    "UPDATE checkpoints SET root = {v} WHERE seq = {s}",
    "UPDATE checkpoints SET note = {v} WHERE seq = {s}",
    "UPDATE checkpoints SET created_at = {v} WHERE seq = {s}",
    "UPDATE checkpoints SET note = replace(note, '\n\n', '\nx\n\n') WHERE seq = {s}",
    "UPDATE checkpoints SET note = replace(note, '{origin}', 'other.example') WHERE seq = {s}",
    "UPDATE checkpoints SET note = substr(note, 1, length(note) - 5) || 'AAAA\n' WHERE seq = {s}",
    "DELETE FROM checkpoints WHERE seq = {s}",
    "UPDATE meta SET value = {v} WHERE key = 'schema'",
    "UPDATE meta SET value = {v} WHERE key = 'origin'",
    "DELETE FROM meta",
    "DROP TABLE {t}",
    "ALTER TABLE entries RENAME COLUMN data TO payload",
    "CREATE TABLE junk(x)",
]
TRIGGERS = [f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in ("entries", "nodes", "checkpoints")
            for op in ("update", "delete")]


@st.composite
def sql_corruptions(draw) -> list[str]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        out.append(draw(st.sampled_from(CORRUPTIONS)).format(
            v=draw(st.sampled_from(ODD_SQL_VALUES)), i=draw(st.integers(0, 41)),
            j=draw(st.integers(0, 20)), l=draw(st.integers(1, 6)), s=draw(st.integers(0, 2)),
            t=draw(st.sampled_from(["entries", "nodes", "checkpoints", "meta"])),
            origin=ORIGIN))
    return out


def corrupt_sql(path: Path, statements: list[str]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for sql in TRIGGERS + statements:
            try:
                db.execute(sql)
            except sqlite3.Error:
                pass  # a statement the schema refuses is simply not a corruption
    finally:
        db.close()


def _reads(s: LogStore, roots: list) -> None:
    # Every read answers with a value or a StoreError.
    def attempt(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except StoreError:
            return None

    size = s.size
    attempt(s.root)
    attempt(s.checkpoints)
    attempt(s.last_checkpoint)
    for i in (0, size // 2, size - 1, size):
        attempt(s.entry, i)
        attempt(s.leaf_hash, i)
        r = attempt(s.receipt, i)
        if r is not None:
            try:
                verify_log_receipt(r, world.IDENTITY_PUB)
            except USER_ERRORS:
                pass
    attempt(s.consistency_proof, size1=1, size2=size)
    attempt(s.refresh)
    checked = attempt(s.verify_integrity)
    if checked is not None:
        # The whole store checks: it is the tree that was signed, or a prefix of it.
        assert checked == s.size <= len(roots) - 1
        assert s.root() == roots[s.size]
        for cp in s.checkpoints():
            assert cp.root == roots[cp.tree_size]
            if cp.tree_size:
                r = s.receipt(cp.tree_size - 1, cp.seq)
                assert isinstance(r, Receipt)
                merkle.verify_inclusion_bytes(merkle.hash_leaf(r.entry), r.proof, cp.root)


def check_store(path: Path, data: bytes, roots: list) -> bool:
    for extra in ("-wal", "-shm", "-journal"):
        Path(str(path) + extra).unlink(missing_ok=True)
    path.write_bytes(data)
    try:
        store = LogStore(path, origin=ORIGIN)
    except StoreError as exc:
        assert str(path) in str(exc)
        assert path.read_bytes() == data, "a refused store was changed"
        wal = Path(str(path) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        return False
    with store:
        _reads(store, roots)
    return True


@support.fuzz_settings(0.2)
@given(data=st.data())
def test_store_on_corrupted_bytes(pristine, tmp_path_factory, data):
    raw, roots = pristine
    blob = data.draw(st.one_of(support.mutated([raw], 200),
                               st.binary(max_size=200), st.just(raw[:data.draw(
                                   st.integers(0, len(raw)))])))
    path = tmp_path_factory.getbasetemp() / "fuzz-bytes.sqlite3"
    support.tally("log store (bytes)", check_store(path, blob, roots))


@support.fuzz_settings(0.2)
@given(statements=sql_corruptions())
def test_store_on_corrupted_rows(pristine, tmp_path_factory, statements):
    raw, roots = pristine
    path = tmp_path_factory.getbasetemp() / "fuzz-rows.sqlite3"
    for extra in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + extra).unlink(missing_ok=True)
    path.write_bytes(raw)
    corrupt_sql(path, statements)
    support.tally("log store (rows)", check_store(path, path.read_bytes(), roots))


def test_pristine_store_opens(pristine, tmp_path):
    raw, roots = pristine
    assert check_store(tmp_path / "log.sqlite3", raw, roots)
