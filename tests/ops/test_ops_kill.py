"""`btcbot kill` and kill requests: set and clear with the lock free and held; the guard."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from ops_helpers import settings_from, sim_env

from btcbot_engine import kill_request
from btcbot_engine.cli import main
from btcbot_engine.exchange.port import WriteBlocked
from btcbot_engine.guard import PreWriteGuard, SafetyFlags
from btcbot_engine.kill_request import kill_request_path, pending_kill, request_kill
from btcbot_engine.store.db import open_database
from btcbot_engine.store.lock import InstanceLock
from btcbot_engine.store.readonly import read_runtime_flags

KEYS = {"btcturk_api_key": "pub-key-4321", "btcturk_api_secret": "c2VjcmV0LXNlY3JldA=="}
ARMED = {
    "safe_mode": "false",
    "kill_switch": "false",
    "dry_run": "false",
    "live_trading": "true",
    "live_trading_ack": "I_UNDERSTAND",
    **KEYS,
}


def _make_db(db: Path, account_key: str, *, killed: bool = False) -> None:
    store = open_database(db, account_key=account_key)
    try:
        store.runtime.set_kill_switch(killed)
    finally:
        store.close()


# --- the request file ------------------------------------------------------------------------


def test_a_request_is_written_atomically_0600_and_consumed_once(db: Path) -> None:
    assert pending_kill(db) is None
    request_kill(db, "  ")
    found = pending_kill(db)
    assert found is not None and found.reason == "operator" and found.pid == os.getpid()
    assert found.requested_ms > 0
    assert stat.S_IMODE(kill_request_path(db).stat().st_mode) == 0o600
    assert json.loads(kill_request_path(db).read_text())["reason"] == "operator"
    assert sorted(p.name for p in db.parent.iterdir()) == ["state.db.kill"]  # no temp left
    assert kill_request.consume(db) is True
    assert kill_request.consume(db) is False
    assert pending_kill(db) is None


def test_an_unreadable_request_still_counts_as_a_kill(db: Path) -> None:
    kill_request_path(db).write_text("{not json")
    found = pending_kill(db)
    assert found is not None and "unreadable" in found.reason


def test_the_guard_blocks_submits_while_a_request_is_pending(db: Path) -> None:
    settings = settings_from({"state_db_path": str(db), **ARMED})
    guard = PreWriteGuard(settings, SafetyFlags(), live=True)
    guard("submit")  # armed: allowed
    request_kill(db, "test")
    with pytest.raises(WriteBlocked) as blocked:
        guard("submit")
    assert "KILL_SWITCH" in blocked.value.blocked_by
    guard("cancel")  # killed still cancels our own orders
    assert guard.decision().mode.value == "KILLED"
    kill_request.consume(db)
    guard("submit")


# --- btcbot kill -----------------------------------------------------------------------------


def test_kill_with_the_lock_free_persists_it(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    assert main(["kill", "--reason", "drill"]) == 0
    assert "persisted" in capsys.readouterr().out
    assert read_runtime_flags(db).kill_switch is True
    assert pending_kill(db) is None


def test_kill_with_the_lock_held_writes_a_request_naming_the_engine(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key)
    with InstanceLock(db, settings.account_key, command="btcbot run"):
        code = main(["kill", "--reason", "drill", "--wait", "0", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert code == 0
        assert doc["how"] == "requested" and doc["holder_pid"] == os.getpid()
        assert doc["holder_command"] == "btcbot run"
        request = pending_kill(db)
        assert request is not None and request.reason == "drill"
        # Nobody consumes it here: waiting for the engine times out and says so.
        assert main(["kill", "--wait", "0.2"]) == 1
        assert "has not picked the request up" in capsys.readouterr().out
    assert read_runtime_flags(db).kill_switch is False


def test_kill_with_no_database_leaves_a_request_and_exits_1(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(None, db, **KEYS))
    assert main(["kill"]) == 1
    assert "does not exist" in capsys.readouterr().out
    assert not db.exists()
    assert pending_kill(db) is not None


def test_kill_clear_needs_yes_off_a_terminal(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key, killed=True)
    assert main(["kill", "--clear"]) == 2  # pytest's stdin is not a terminal
    assert "--yes" in capsys.readouterr().err
    assert read_runtime_flags(db).kill_switch is True


def test_kill_clear_with_yes_clears_db_and_request_and_notes_the_env(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, kill_switch="true", **KEYS))
    _make_db(db, settings.account_key, killed=True)
    request_kill(db, "left by a dead engine")
    assert main(["kill", "--clear", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "cleared" in out and "removed the pending kill request" in out
    assert "KILL_SWITCH=true in the environment still applies" in out
    assert read_runtime_flags(db).kill_switch is False
    assert pending_kill(db) is None


def test_kill_clear_asks_for_the_typed_word_on_a_terminal(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from(sim_env(None, db, kill_switch="false", **KEYS))
    _make_db(db, settings.account_key, killed=True)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert main(["kill", "--clear"]) == 2
    assert read_runtime_flags(db).kill_switch is True
    monkeypatch.setattr("builtins.input", lambda prompt: "clear")
    assert main(["kill", "--clear"]) == 0
    out = capsys.readouterr().out
    assert read_runtime_flags(db).kill_switch is False
    assert "KILL_SWITCH=true" not in out


def test_kill_clear_refuses_while_an_engine_holds_the_lock(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **KEYS))
    _make_db(db, settings.account_key, killed=True)
    with InstanceLock(db, settings.account_key, command="btcbot run"):
        assert main(["kill", "--clear", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "stop the engine first, or clear the kill in the TUI" in err
    assert str(os.getpid()) in err
    assert read_runtime_flags(db).kill_switch is True


def test_kill_clear_on_a_corrupt_database_fails_and_changes_nothing(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_from(sim_env(None, db, **KEYS))
    db.write_bytes(b"garbage" * 200)
    assert main(["kill", "--clear", "--yes"]) == 1
    assert "not a SQLite database" in capsys.readouterr().err
    assert db.read_bytes() == b"garbage" * 200
