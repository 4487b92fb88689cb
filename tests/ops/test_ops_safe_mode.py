"""`btcbot safe-mode on|off`: the headless way to change the persisted runtime safe mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ops_helpers import settings_from, sim_env

from btcbot_engine.cli import main
from btcbot_engine.runtime_state import effective_gates
from btcbot_engine.store.lock import InstanceLock
from btcbot_engine.store.readonly import read_runtime_flags

ARMED = {
    "safe_mode": "false",
    "kill_switch": "false",
    "dry_run": "false",
    "live_trading": "true",
    "live_trading_ack": "I_UNDERSTAND",
    "btcturk_api_key": "pub-key-4321",
    "btcturk_api_secret": "c2VjcmV0LXNlY3JldA==",
}


def test_on_never_asks_and_off_needs_yes_off_a_terminal(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **ARMED))
    assert main(["safe-mode", "on"]) == 0
    assert read_runtime_flags(db).safe_mode is True
    assert effective_gates(settings).mode.value == "OBSERVE_ONLY"
    capsys.readouterr()

    assert main(["safe-mode", "off"]) == 2  # pytest's stdin is not a terminal: needs --yes
    assert "needs --yes" in capsys.readouterr().err
    assert read_runtime_flags(db).safe_mode is True

    assert main(["safe-mode", "off", "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "safe_mode": False,
        "was": True,
        "env_safe_mode": False,
    }
    assert effective_gates(settings).mode.value == "LIVE"


def test_refuses_while_an_engine_holds_the_database(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_from(sim_env(None, db, **ARMED))
    assert main(["safe-mode", "on"]) == 0
    capsys.readouterr()
    with InstanceLock(db, settings.account_key, command="btcbot run"):
        assert main(["safe-mode", "off", "--yes"]) == 2
    err = capsys.readouterr().err
    assert "in use" in err and "TUI" in err
    assert read_runtime_flags(db).safe_mode is True


def test_env_safe_mode_still_wins_and_says_so(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings_from(sim_env(None, db, **{**ARMED, "safe_mode": "true"}))
    assert main(["safe-mode", "off", "--yes"]) == 0
    assert "SAFE_MODE=true in the environment still applies" in capsys.readouterr().out
