"""`btcbot db backup|check|restore`: online backup beside a writer, check, restore round trip."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from ops_helpers import LIVE, settings_from, sim_env, wait_until

from btcbot_engine.cli import main
from btcbot_engine.domain.records import LedgerEvent, LedgerKind
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.backup import backup_database, check_database
from btcbot_engine.store.db import open_database
from btcbot_engine.store.lock import InstanceLock

KEYS = {"btcturk_api_key": "pub-key-4321", "btcturk_api_secret": "c2VjcmV0LXNlY3JldA=="}


def _event(i: int) -> LedgerEvent:
    return LedgerEvent(
        ts_ms=1_700_000_000_000 + i,
        kind=LedgerKind.FILL,
        asset="BTC",
        quantity=Decimal("0.00012345"),
        amount_quote=Decimal("308.6433"),
        symbol="BTCTRY",
        price=Decimal("2500000.5"),
        ref=str(1181163798924649598 + i),
    )


def _make_db(db: Path, account_key: str, events: int = 3) -> None:
    store = open_database(db, account_key=account_key)
    try:
        store.ledger.append_many(_event(i) for i in range(events))
    finally:
        store.close()


def _ledger(db: Path, account_key: str) -> list[LedgerEvent]:
    store = open_database(db, account_key=account_key)
    try:
        return store.ledger.all()
    finally:
        store.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- backup -----------------------------------------------------------------------------------


def test_backup_while_a_writer_commits_is_consistent_and_never_blocks_it(
    db: Path, tmp_path: Path
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key, events=1)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        # The one Store of this process lives in this thread, like the engine's.
        store = open_database(db, account_key=settings.account_key)
        try:
            i = 1
            while not stop.is_set():
                with store.atomic():
                    store.ledger.append(_event(i))
                    store.cursors.set("writer", str(i))  # two rows per transaction
                written.append(i)
                i += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(written) >= 20, what="the writer to get going")
        copies = [backup_database(db, tmp_path / f"copy{n}.db") for n in range(3)]
        seen = len(written)
        wait_until(lambda: len(written) >= seen + 20, what="the writer to keep committing")
    finally:
        stop.set()
        thread.join(10)
    assert not errors, errors
    for result in copies:
        copy = Path(result.path)
        assert _mode(copy) == 0o600
        assert not Path(f"{copy}-wal").exists()  # self-contained: journal_mode DELETE
        with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            rows = conn.execute("SELECT COUNT(*) FROM ledger_events").fetchone()[0]
            cursor = conn.execute("SELECT value FROM cursors WHERE name='writer'").fetchone()[0]
        # A consistent snapshot: the cursor and the ledger come from the same transaction.
        assert rows == int(cursor) + 1
        assert result.row_counts["ledger_events"] == rows
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_backup_refuses_to_overwrite_unless_forced(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    out = tmp_path / "keep.db"
    out.write_bytes(b"precious")
    assert main(["db", "backup", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["db", "backup", "--out", str(out), "--force", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["integrity"] == "ok" and doc["row_counts"]["ledger_events"] == 3
    assert out.read_bytes()[:16] == b"SQLite format 3\x00" and _mode(out) == 0o600
    assert main(["db", "backup", "--out", str(db)]) == 2  # never over the database itself


def test_backup_of_a_corrupt_or_missing_database_writes_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(None, db, **KEYS))
    out = tmp_path / "b.db"
    assert main(["db", "backup", "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err
    db.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)  # truncated header
    assert main(["db", "backup", "--out", str(out)]) == 1
    assert "truncated" in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- check ------------------------------------------------------------------------------------


def test_check_a_healthy_database_while_an_engine_holds_it(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    with InstanceLock(db, settings.account_key, command="btcbot run"):
        before = _digest(db)
        code = main(["db", "check", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert _digest(db) == before
    assert code == 0, doc
    checks = {c["name"]: c for c in doc["checks"]}
    assert doc["status"] == "OK"
    assert checks["integrity"]["detail"] == "ok"
    assert checks["wal"]["detail"] == "journal_mode wal"
    assert "(current)" in checks["schema"]["detail"]
    assert checks["mode"]["detail"] == "0600"
    assert f"pid {os.getpid()}" in checks["lock"]["detail"]
    assert doc["row_counts"]["ledger_events"] == 3


def test_check_reports_problems_with_exit_1(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    assert main(["db", "check"]) == 1
    assert "does not exist" in capsys.readouterr().out
    _make_db(db, settings.account_key)
    os.chmod(db, 0o644)
    report = check_database(db)
    assert report.status == "WARN" and not report.ok
    assert main(["db", "check"]) == 1
    assert "readable by others" in capsys.readouterr().out
    os.chmod(db, 0o600)
    data = bytearray(db.read_bytes())
    data[: len(b"SQLite format 3")] = b"Not a database!"
    db.write_bytes(bytes(data))
    assert main(["db", "check", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "FAIL"
    assert any(c["name"] == "header" and c["status"] == "FAIL" for c in doc["checks"])


def test_check_flags_a_database_of_another_account(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_db(db, "someone-else")
    settings_from(sim_env(None, db, dry_run="false", **KEYS))
    assert main(["db", "check"]) == 1
    assert "belongs to account key" in capsys.readouterr().out


# --- restore ----------------------------------------------------------------------------------


def _engine_db_with_fills(sim: SimulatorHandle, db: Path) -> None:
    """A database written by the real engine in live mode, with fills in its ledger."""
    settings = settings_from(sim_env(sim, db, **LIVE))
    Engine(settings).run(RunOptions(loop=True, max_cycles=1, cycle_seconds=0.01))
    for symbol in ("BTCTRY", "USDTTRY"):
        mid = sim.control.mid_price(symbol)
        sim.control.set_mid_price(symbol, mid * Decimal("0.97"), volume=Decimal("1000000"))
    sim.control.step(1)
    Engine(settings).run(RunOptions(loop=True, max_cycles=2, cycle_seconds=0.01))


def test_restore_a_backup_gives_back_the_same_ledger(
    frozen_sim: SimulatorHandle, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _engine_db_with_fills(frozen_sim, db)
    settings = settings_from(sim_env(frozen_sim, db, **LIVE))
    at_backup = _ledger(db, settings.account_key)
    assert at_backup, "the engine run should have filled orders into the ledger"
    backup = tmp_path / "backup.db"
    assert main(["db", "backup", "--out", str(backup)]) == 0
    assert "integrity ok" in capsys.readouterr().out

    # Life goes on after the backup...
    store = open_database(db, account_key=settings.account_key)
    try:
        store.ledger.append(_event(99))
    finally:
        store.close()
    later = _ledger(db, settings.account_key)
    assert len(later) == len(at_backup) + 1

    assert main(["db", "restore", str(backup), "--yes", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert _ledger(db, settings.account_key) == at_backup
    assert _mode(db) == 0o600
    aside = Path(doc["moved_aside"])
    assert aside.name.startswith("state.db.before-restore-")
    assert _ledger(aside, settings.account_key) == later  # the previous database, kept whole
    assert backup.exists()  # the backup itself is copied, never moved
    assert check_database(db, account_key=settings.account_key).ok


def test_restore_refuses_while_the_lock_is_held_and_touches_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    backup = tmp_path / "backup.db"
    backup_database(db, backup)
    _make_db(db, settings.account_key, events=2)  # the live DB moves on
    before = (_digest(db), _digest(backup))
    with InstanceLock(db, settings.account_key, command="btcbot run"):
        assert main(["db", "restore", str(backup), "--yes"]) == 2
    assert "stop the engine first" in capsys.readouterr().err
    assert (_digest(db), _digest(backup)) == before
    assert not list(db.parent.glob("*.before-restore-*"))


@pytest.mark.parametrize("problem", ["missing", "corrupt", "other-account", "newer-schema"])
def test_restore_refuses_a_bad_backup_before_touching_anything(
    problem: str, db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    backup = tmp_path / "backup.db"
    if problem == "corrupt":
        backup_database(db, backup)
        data = bytearray(backup.read_bytes())
        data[4096:8192] = b"\xff" * 4096  # smash a page after the header
        backup.write_bytes(bytes(data))
    elif problem == "other-account":
        _make_db(tmp_path / "other.db", "someone-else")
        backup_database(tmp_path / "other.db", backup)
    elif problem == "newer-schema":
        backup_database(db, backup)
        with sqlite3.connect(backup) as conn:
            conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    before = _digest(db)
    assert main(["db", "restore", str(backup), "--yes"]) == 2
    err = capsys.readouterr().err
    assert "restore refused" in err
    assert _digest(db) == before
    assert not list(db.parent.glob("*.before-restore-*"))


def test_restore_needs_yes_off_a_terminal(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    backup = tmp_path / "backup.db"
    backup_database(db, backup)
    before = _digest(db)
    assert main(["db", "restore", str(backup)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert _digest(db) == before


def test_restore_over_a_crashed_database_keeps_its_wal_with_it(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    backup = tmp_path / "backup.db"
    backup_database(db, backup)
    # A writer that dies without closing: its last commit lives only in state.db-wal.
    crash = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "c.execute(\"INSERT INTO cursors (name, value, updated_ms) VALUES ('late', 'x', 1)\")\n"
        "c.commit(); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(db)], check=True, timeout=30)
    assert Path(f"{db}-wal").stat().st_size > 0

    assert main(["db", "restore", str(backup), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "previous database kept as" in out
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    (aside,) = [
        p for p in db.parent.glob("state.db.before-restore-*") if not p.name.endswith("-wal")
    ]
    assert Path(f"{aside}-wal").exists()
    with sqlite3.connect(f"file:{aside}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT value FROM cursors WHERE name='late'").fetchone() == ("x",)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT value FROM cursors WHERE name='late'").fetchone() is None


def test_check_sees_a_lock_held_by_a_process_that_does_not_name_itself(db: Path) -> None:
    import fcntl

    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    fd = os.open(f"{db}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        checks = {c.name: c.detail for c in check_database(db).checks}
        assert checks["lock"] == "held by a process that does not name itself"
    finally:
        os.close(fd)
    checks = {c.name: c.detail for c in check_database(db).checks}
    assert checks["lock"] == "free (no engine running)"
