"""Doctor's database, lock and UNKNOWN-order checks on real SQLite files (never modified)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from doctor_testkit import by_name, seed_db, sim_settings

from btcbot_engine.config import Settings
from btcbot_engine.doctor import run_doctor
from btcbot_engine.domain.orders import OrderMethod, OrderState, Side
from btcbot_engine.domain.records import OrderRecord
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import open_database
from btcbot_engine.store.lock import InstanceLock
from btcbot_engine.store.migrations import LATEST_VERSION

NOW_MS = 1_750_000_000_000


@pytest.fixture
def settings(healthy_sim: SimulatorHandle, tmp_path: Path) -> Settings:
    return sim_settings(healthy_sim, tmp_path / "var" / "state.db")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _order(client_id: str, state: OrderState, updated_ms: int) -> OrderRecord:
    return OrderRecord(
        client_id=client_id,
        symbol="BTCTRY",
        side=Side.BUY,
        method=OrderMethod.LIMIT,
        price=Decimal("2500000"),
        quantity=Decimal("0.0001"),
        filled_quantity=Decimal(0),
        state=state,
        idempotency_key=f"idem-{client_id}",
        payload_hash="sha256:x",
        run_id="run-1",
        cycle_id="cycle-1",
        intent="entry",
        created_ms=updated_ms,
        updated_ms=updated_ms,
    )


def test_missing_database_warns_and_creates_nothing(settings: Settings) -> None:
    report = run_doctor(settings)
    checks = by_name(report)
    assert checks["db_file"].status == "WARN"
    assert "will be created on first run" in checks["db_file"].detail
    assert "will be created" in checks["db_path"].detail  # var/ does not exist yet
    assert checks["db_path"].status == "PASS"
    assert report.worst == "WARN" and report.exit_code == 1
    assert not settings.state_db_path.parent.exists()  # the doctor wrote nothing


def test_current_database_passes_and_is_left_byte_identical(settings: Settings) -> None:
    seed_db(settings.state_db_path)
    before = _digest(settings.state_db_path)
    checks = by_name(run_doctor(settings))
    for name in ("db_path", "db_file", "db_schema", "db_integrity", "db_wal", "db_mode", "lock"):
        assert checks[name].status == "PASS", checks[name]
    assert checks["db_schema"].detail == f"schema version {LATEST_VERSION} (current)"
    assert _digest(settings.state_db_path) == before


def test_corrupt_database_fails_naming_the_file(settings: Settings) -> None:
    path = settings.state_db_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 100)
    path.chmod(0o600)
    report = run_doctor(settings)
    check = by_name(report)["db_file"]
    assert check.status == "FAIL"
    assert str(path) in check.detail and "not a SQLite database" in check.detail
    assert "restore a backup" in check.remedy
    assert report.exit_code == 2
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_damaged_index_fails_the_integrity_check(settings: Settings) -> None:
    path = settings.state_db_path
    seed_db(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema=ON")  # point one index at another index's pages
    roots = dict(conn.execute("SELECT name, rootpage FROM sqlite_master WHERE type='index'"))
    conn.execute(
        "UPDATE sqlite_master SET rootpage=? WHERE name='metrics_name_ts'",
        (roots["cycles_started_ms"],),
    )
    conn.commit()
    conn.close()
    check = by_name(run_doctor(settings))["db_integrity"]
    assert check.status == "FAIL"
    assert f"{path} is damaged" in check.detail
    assert "\n" not in check.detail


def test_group_readable_database_warns_world_writable_fails(settings: Settings) -> None:
    path = settings.state_db_path
    seed_db(path)
    path.chmod(0o644)
    check = by_name(run_doctor(settings))["db_mode"]
    assert check.status == "WARN"
    assert "state.db 0644" in check.detail and "readable" in check.detail
    assert check.remedy.startswith(f"chmod 600 {path}")
    path.chmod(0o666)
    assert by_name(run_doctor(settings))["db_mode"].status == "FAIL"
    assert oct(path.stat().st_mode & 0o777) == oct(0o666)  # reported, not changed


def test_older_schema_warns_it_will_be_migrated(settings: Settings) -> None:
    open_database(settings.state_db_path, target_version=1).close()
    checks = by_name(run_doctor(settings))
    assert checks["db_schema"].status == "WARN"
    assert f"schema version 1, this btcbot uses {LATEST_VERSION}" == checks["db_schema"].detail
    assert "migrates" in checks["db_schema"].remedy


def test_newer_schema_fails(settings: Settings) -> None:
    seed_db(settings.state_db_path)
    conn = sqlite3.connect(settings.state_db_path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    check = by_name(run_doctor(settings))["db_schema"]
    assert check.status == "FAIL" and "upgrade btcbot" in check.detail


def test_lock_held_by_another_holder_warns_with_its_pid(settings: Settings) -> None:
    seed_db(settings.state_db_path)
    with InstanceLock(settings.state_db_path, command="btcbot run"):
        check = by_name(run_doctor(settings))["lock"]
        assert check.status == "WARN"
        assert f"held by pid {os.getpid()} (btcbot run)" in check.detail
        assert f"stop pid {os.getpid()}" in check.remedy
    free = by_name(run_doctor(settings))["lock"]
    assert (free.status, free.detail) == ("PASS", "free")


def test_unknown_orders_warn_then_fail_when_too_old(settings: Settings) -> None:
    store = open_database(settings.state_db_path)
    try:
        store.orders.insert(_order("c-open", OrderState.OPEN, NOW_MS - 500_000))
        store.orders.insert(_order("c-unk-1", OrderState.UNKNOWN, NOW_MS - 30_000))
        store.orders.insert(_order("c-unk-2", OrderState.UNKNOWN, NOW_MS - 10_000))
    finally:
        store.close()
    check = by_name(run_doctor(settings, clock_ms=lambda: NOW_MS))["unknown_orders"]
    assert check.status == "WARN"
    assert check.detail.startswith("2 UNKNOWN order(s), oldest 30 s")
    assert "c-unk-1" in check.detail
    later = NOW_MS + 31_000  # the oldest is now 61 s old, past UNKNOWN_ORDER_MAX_AGE_SECONDS=60
    check = by_name(run_doctor(settings, clock_ms=lambda: later))["unknown_orders"]
    assert check.status == "FAIL"
    assert "oldest 61 s" in check.detail and "UNKNOWN_ORDER_MAX_AGE_SECONDS=60" in check.detail


def test_db_option_checks_another_file(settings: Settings, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    seed_db(other)
    checks = by_name(run_doctor(settings, db_path=other))
    assert checks["db_file"].detail == f"{other} opens read-only"


def test_unwritable_directory_fails(settings: Settings, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        check = by_name(run_doctor(settings, db_path=locked / "state.db"))["db_path"]
    finally:
        locked.chmod(0o700)
    assert check.status == "FAIL" and str(locked) in check.detail


def test_damaged_pages_are_findings_not_a_crash(settings: Settings) -> None:
    path = settings.state_db_path
    seed_db(path)
    with path.open("r+b") as handle:  # wreck the b-tree headers of a dozen table/index pages
        for page in range(8, 20):
            handle.seek(4096 * (page - 1))
            handle.write(b"\x0d\x00\x00\x00\xff\xff\xff\xff")
    report = run_doctor(settings)
    checks = by_name(report)
    assert checks["db_integrity"].status == "FAIL"
    detail = checks["db_integrity"].detail
    # Opening runs SQLite's quick_check, so the damage is found before any read meets it.
    assert detail.startswith(f"{path} is damaged: ") and "\n" not in detail
    assert checks["unknown_orders"].status != "PASS"
    assert checks["exchange"].status == "PASS"  # everything else still ran
    assert report.exit_code == 2


def test_database_of_another_account_fails(settings: Settings) -> None:
    seed_db(settings.state_db_path, account_key="someone-else")
    check = by_name(run_doctor(settings))["db_account"]
    assert check.status == "FAIL" and "the engine will refuse to open it" in check.detail
    assert "someone-else" not in check.detail
    seed_db(settings.state_db_path.with_name("mine.db"), account_key=settings.account_key)
    mine = by_name(run_doctor(settings, db_path=settings.state_db_path.with_name("mine.db")))
    assert mine["db_account"].status == "PASS"
