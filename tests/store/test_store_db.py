"""Opening the database: pragmas, file modes, refusal of corrupt/foreign/newer files, atomic()."""

from __future__ import annotations

import ast
import os
import sqlite3
import stat
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from store_helpers import FakeClock, make_fill, make_order

import btcbot_engine
from btcbot_engine.domain.records import LedgerEvent, LedgerKind
from btcbot_engine.store.db import (
    AccountMismatch,
    CorruptDatabase,
    SchemaTooNew,
    Store,
    StoreError,
    open_database,
)
from btcbot_engine.store.migrations import LATEST_VERSION


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _make_populated_db(path: Path) -> None:
    """A closed, checkpointed database with a few pages of rows."""
    store = open_database(path)
    with store.atomic():
        for i in range(200):
            store.orders.insert(make_order(f"c-{i}"))
    store.close()
    assert not Path(f"{path}-wal").exists()  # last close checkpoints and removes the WAL


# -- pragmas and file modes ------------------------------------------------------------------------


def test_pragmas_on_the_engine_connection(store: Store) -> None:
    assert store.journal_mode() == "wal"
    assert store.pragma("foreign_keys") == 1
    assert store.pragma("synchronous") == 1  # NORMAL
    assert store.pragma("busy_timeout") == 5000


def test_pragmas_on_another_threads_connection(store: Store) -> None:
    # peewee opens one connection per thread; each must get the same pragmas.
    seen: dict[str, object] = {}

    def probe() -> None:
        seen.update(
            fk=store.pragma("foreign_keys"),
            sync=store.pragma("synchronous"),
            busy=store.pragma("busy_timeout"),
            journal=store.journal_mode(),
        )
        store.db.close()

    worker = threading.Thread(target=probe)
    worker.start()
    worker.join()
    assert seen == {"fk": 1, "sync": 1, "busy": 5000, "journal": "wal"}


def test_new_database_files_are_0600_and_parent_created(db_path: Path) -> None:
    assert not db_path.parent.exists()
    old_umask = os.umask(0o022)  # a permissive umask must not leak into our files
    try:
        store = open_database(db_path)
        store.orders.insert(make_order())
        wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
        assert wal.exists() and shm.exists()
        assert _mode(db_path) == 0o600
        assert _mode(wal) == 0o600
        assert _mode(shm) == 0o600
        store.close()
    finally:
        os.umask(old_umask)
    assert db_path.parent.is_dir()


def test_existing_world_readable_file_is_tightened(db_path: Path) -> None:
    open_database(db_path).close()
    os.chmod(db_path, 0o644)
    store = open_database(db_path)
    store.close()
    assert _mode(db_path) == 0o600


def test_memory_database_is_refused() -> None:
    with pytest.raises(StoreError, match="memory"):
        open_database(":memory:")


def test_second_open_in_the_same_process_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="already open"):
        open_database(tmp_path / "other.db")
    assert not (tmp_path / "other.db").exists()


def test_close_is_idempotent_and_allows_reopen(db_path: Path) -> None:
    store = open_database(db_path)
    store.close()
    store.close()
    assert store.closed
    with open_database(db_path) as again:
        assert again.schema_version() == LATEST_VERSION


def test_health_helpers(store: Store) -> None:
    assert store.integrity_check() == ["ok"]
    assert store.schema_version() == LATEST_VERSION
    with pytest.raises(ValueError):
        store.pragma("foreign_keys; DROP TABLE orders")


# -- refusing files we must not touch --------------------------------------------------------------


def test_random_bytes_file_is_refused_and_unchanged(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = os.urandom(8192)
    db_path.write_bytes(garbage)
    os.chmod(db_path, 0o644)
    with pytest.raises(CorruptDatabase) as info:
        open_database(db_path)
    message = str(info.value)
    assert str(db_path) in message
    assert "not a SQLite database" in message
    assert db_path.read_bytes() == garbage
    assert _mode(db_path) == 0o644  # not even its permission bits are touched
    assert not Path(f"{db_path}-wal").exists()


def test_text_file_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_text("hello, I am not a database\n")
    with pytest.raises(CorruptDatabase, match="bad header"):
        open_database(db_path)
    assert db_path.read_text() == "hello, I am not a database\n"


@pytest.mark.parametrize("cut", ["mid_page", "page_boundary", "header_only"])
def test_truncated_database_is_refused_and_unchanged(db_path: Path, cut: str) -> None:
    _make_populated_db(db_path)
    full = db_path.read_bytes()
    page = int.from_bytes(full[16:18], "big")
    keep = {"mid_page": len(full) // 2 + 7, "page_boundary": page * 2, "header_only": 60}[cut]
    truncated = full[:keep]
    db_path.write_bytes(truncated)
    with pytest.raises(CorruptDatabase) as info:
        open_database(db_path)
    assert str(db_path) in str(info.value)
    assert "truncated" in str(info.value)
    assert db_path.read_bytes() == truncated


def test_garbage_pages_behind_a_valid_header_are_refused(db_path: Path) -> None:
    _make_populated_db(db_path)
    full = bytearray(db_path.read_bytes())
    page = int.from_bytes(full[16:18], "big")
    full[page:] = os.urandom(len(full) - page)  # keep page 1 (header + schema), trash the rest
    db_path.write_bytes(bytes(full))
    with pytest.raises(CorruptDatabase) as info:
        open_database(db_path)
    assert str(db_path) in str(info.value)
    assert db_path.read_bytes() == bytes(full)


def test_foreign_sqlite_database_is_refused_and_unchanged(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match="not a btcbot database"):
        open_database(db_path)
    assert db_path.read_bytes() == before


def test_newer_schema_is_refused_and_unchanged(db_path: Path) -> None:
    open_database(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(SchemaTooNew) as info:
        open_database(db_path)
    message = str(info.value)
    assert str(db_path) in message
    assert f"schema version {LATEST_VERSION + 1}" in message
    assert db_path.read_bytes() == before


# -- transactions ----------------------------------------------------------------------------------


class _Boom(Exception):
    pass


def test_atomic_rollback_leaves_nothing_half_written(store: Store) -> None:
    with pytest.raises(_Boom), store.atomic():
        store.orders.insert(make_order("c-atomic"))
        store.fills.insert_if_new(make_fill())
        store.ledger.append(
            LedgerEvent(
                ts_ms=1,
                kind=LedgerKind.FILL,
                asset="BTC",
                quantity=Decimal("0.1"),
                amount_quote=Decimal("100"),
            )
        )
        store.runtime.set_kill_switch(True)
        raise _Boom
    assert store.orders.get("c-atomic") is None
    assert store.orders.events("c-atomic") == []
    assert store.fills.all() == []
    assert store.ledger.all() == []
    assert store.runtime.kill_switch() is False


def test_nested_atomic_rolls_back_only_the_inner_block(store: Store) -> None:
    with store.atomic():
        store.orders.insert(make_order("outer"))
        with pytest.raises(_Boom), store.atomic():
            store.orders.insert(make_order("inner"))
            raise _Boom
    assert store.orders.get("outer") is not None
    assert store.orders.get("inner") is None


def test_atomic_commit_is_visible_to_another_connection(store: Store, db_path: Path) -> None:
    with store.atomic():
        store.orders.insert(make_order("c-visible"))
    reader = sqlite3.connect(db_path)
    try:
        rows = reader.execute("SELECT client_id FROM orders").fetchall()
    finally:
        reader.close()
    assert rows == [("c-visible",)]


# -- account binding and meta ----------------------------------------------------------------------


def test_account_key_binding(db_path: Path) -> None:
    open_database(db_path, account_key="account-aaaaaaaaaaaa").close()
    with pytest.raises(AccountMismatch) as info:
        open_database(db_path, account_key="account-bbbbbbbbbbbb")
    message = str(info.value)
    assert str(db_path) in message
    assert "account-bbbbbbbbbbbb" not in message  # only a short prefix is shown
    with open_database(db_path, account_key="account-aaaaaaaaaaaa") as store:
        assert store.meta.account_key() == "account-aaaaaaaaaaaa"
        with pytest.raises(AccountMismatch):
            store.meta.bind_account("someone-else")


def test_account_mismatch_is_refused_before_any_migration(db_path: Path) -> None:
    open_database(db_path, account_key="alice", target_version=1).close()
    before = db_path.read_bytes()
    with pytest.raises(AccountMismatch, match="'alice', not 'bob'"):
        open_database(db_path, account_key="bob")
    assert db_path.read_bytes() == before  # still at version 1: nothing was migrated
    with pytest.raises(ValueError):
        open_database(db_path, account_key="")


def test_account_key_bound_later(store: Store) -> None:
    assert store.meta.account_key() is None
    store.meta.bind_account("k1")
    store.meta.bind_account("k1")  # same key again is fine
    assert store.meta.account_key() == "k1"
    with pytest.raises(ValueError):
        store.meta.bind_account("")


def test_created_ms_is_set_once(db_path: Path) -> None:
    with open_database(db_path, clock_ms=FakeClock(111)) as store:
        assert store.meta.get("created_ms") == "111"
    with open_database(db_path, clock_ms=FakeClock(999)) as store:
        assert store.meta.get("created_ms") == "111"


def test_schema_version_is_not_writable_through_meta(store: Store) -> None:
    with pytest.raises(StoreError, match="migrations"):
        store.meta.set("schema_version", "99")


# -- layering --------------------------------------------------------------------------------------


def test_nothing_outside_the_store_imports_peewee() -> None:
    package = Path(btcbot_engine.__file__).parent
    offenders = []
    for source in package.rglob("*.py"):
        if "store" in source.relative_to(package).parts[:1]:
            continue
        tree = ast.parse(source.read_text(), filename=str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] in ("peewee", "playhouse") for name in names):
                offenders.append(str(source.relative_to(package)))
    assert offenders == []
