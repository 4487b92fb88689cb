"""open_readonly: a reader beside the writer, never a writer itself."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from btcbot_engine.domain.records import MetricPoint
from btcbot_engine.store.db import StoreError, open_database, open_readonly


def _seed(path: Path) -> None:
    store = open_database(path, account_key="acct")
    try:
        store.metrics.record(MetricPoint(1, "equity_try", Decimal("10.5")))
    finally:
        store.close()


def test_reads_a_closed_database_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _seed(path)
    store = open_readonly(path)
    try:
        assert [p.value for p in store.metrics.recent("equity_try")] == [Decimal("10.5")]
        with pytest.raises(StoreError):
            store.metrics.record(MetricPoint(2, "equity_try", Decimal(1)))
    finally:
        store.close()
    assert [r[0] for r in sqlite3.connect(path).execute("SELECT COUNT(*) FROM metrics")] == [1]


def test_reads_while_another_thread_holds_a_write_connection(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    _seed(path)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=wal")
    writer.execute(
        "INSERT INTO metrics (ts_ms, name, value, labels) VALUES (2, 'equity_try', '11', '{}')"
    )
    writer.commit()
    seen: list[int] = []

    def read() -> None:
        store = open_readonly(path)
        try:
            seen.append(len(store.metrics.recent("equity_try")))
        finally:
            store.close()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    writer.close()
    assert seen == [2]


def test_missing_and_corrupt_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_readonly(tmp_path / "nope.db")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 10)
    with pytest.raises(StoreError, match=r"bad\.db"):
        open_readonly(bad)
    assert bad.read_bytes() == b"not a database at all" * 10


def test_damaged_pages_raise_store_errors_not_sqlite_errors(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = open_database(path, account_key="acct")
    try:
        store.metrics.record_many(
            MetricPoint(i, "equity_try", Decimal(i), {"pad": "x" * 200}) for i in range(400)
        )
        store.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    # Damage only the last pages (metrics rows), so the schema still reads and open succeeds.
    for offset in range(len(data) - 8 * page, len(data), page):
        data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError):  # quick_check refuses at open, or a read raises
        store = open_readonly(path)
        try:
            problems = store.integrity_check()
            if problems == ["ok"]:
                store.metrics.recent("equity_try", limit=1000)
            raise AssertionError(f"damage went unreported as a StoreError: {problems[:2]}")
        finally:
            store.close()
