"""`btcbot gates` and start-up refusals, run as real processes the way an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.store.lock import InstanceLock

KEYS = {"BTCTURK_API_KEY": "pub-key-9876", "BTCTURK_API_SECRET": "c2VjcmV0LXNlY3JldA=="}


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["STATE_DB_PATH"] = str(tmp_path / "state.db")
    env.update(values)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


CASES = [
    (
        {},
        "OBSERVE_ONLY",
        False,
        False,
        ["SAFE_MODE", "KILL_SWITCH", "DRY_RUN", "LIVE_TRADING", "LIVE_TRADING_ACK", "API_KEYS"],
    ),
    (
        {"SAFE_MODE": "false"},
        "KILLED",
        False,
        False,
        ["KILL_SWITCH", "DRY_RUN", "LIVE_TRADING", "LIVE_TRADING_ACK", "API_KEYS"],
    ),
    (
        {"SAFE_MODE": "false", "KILL_SWITCH": "false"},
        "PAPER",
        False,
        False,
        ["DRY_RUN", "LIVE_TRADING", "LIVE_TRADING_ACK", "API_KEYS"],
    ),
    (
        {"SAFE_MODE": "false", "KILL_SWITCH": "false", "DRY_RUN": "false"},
        "OBSERVE_ONLY",
        False,
        False,
        ["LIVE_TRADING", "LIVE_TRADING_ACK", "API_KEYS"],
    ),
    (
        {
            "SAFE_MODE": "false",
            "KILL_SWITCH": "false",
            "DRY_RUN": "false",
            "LIVE_TRADING": "true",
            "LIVE_TRADING_ACK": "I_UNDERSTAND",
            **KEYS,
        },
        "LIVE",
        True,
        True,
        [],
    ),
    (
        {
            "SAFE_MODE": "false",
            "KILL_SWITCH": "true",
            "DRY_RUN": "false",
            "LIVE_TRADING": "true",
            "LIVE_TRADING_ACK": "I_UNDERSTAND",
            **KEYS,
        },
        "KILLED",
        False,
        True,
        ["KILL_SWITCH"],
    ),
    (
        {
            "SAFE_MODE": "true",
            "KILL_SWITCH": "false",
            "DRY_RUN": "false",
            "LIVE_TRADING": "true",
            "LIVE_TRADING_ACK": "I_UNDERSTAND",
            **KEYS,
        },
        "OBSERVE_ONLY",
        False,
        False,
        ["SAFE_MODE"],
    ),
]


@pytest.mark.parametrize(("env", "mode", "submit", "cancel", "blocked"), CASES)
def test_gates_json(
    tmp_path: Path, env: dict[str, str], mode: str, submit: bool, cancel: bool, blocked: list[str]
) -> None:
    out = _run(["btcbot_engine.cli", "gates", "--json"], _env(tmp_path, **env), tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "mode": mode,
        "live_submit_allowed": submit,
        "live_cancel_allowed": cancel,
        "blocked_by": blocked,
    }
    assert "pub-key-9876" not in out.stdout + out.stderr


def test_gates_human_form_names_the_fix(tmp_path: Path) -> None:
    out = _run(["btcbot_engine.cli", "gates"], _env(tmp_path), tmp_path)
    assert out.returncode == 0
    assert "set SAFE_MODE=false" in out.stdout
    assert "mode OBSERVE_ONLY" in out.stdout


def test_config_error_is_one_line_exit_2(tmp_path: Path) -> None:
    env = _env(tmp_path, LIVE_TRADING="true", **KEYS)
    out = _run(["btcbot_engine.cli", "gates", "--json"], env, tmp_path)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "LIVE_TRADING_ACK=I_UNDERSTAND" in lines[0]
    assert "Traceback" not in out.stderr
    assert "c2VjcmV0LXNlY3JldA==" not in out.stderr


def test_persisted_kill_counts(tmp_path: Path) -> None:
    from btcbot_engine.store.db import open_database

    store = open_database(tmp_path / "state.db")
    store.runtime.set_kill_switch(True)
    store.close()
    env = _env(tmp_path, SAFE_MODE="false", KILL_SWITCH="false")
    out = _run(["btcbot_engine.cli", "gates", "--json"], env, tmp_path)
    assert json.loads(out.stdout)["mode"] == "KILLED"


def test_second_instance_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with InstanceLock(tmp_path / "state.db", command="btcbot run"):
        out = _run(["btcbot_tui.app"], _env(tmp_path), tmp_path)
    assert out.returncode == 2
    assert f"pid {os.getpid()}" in out.stderr
    assert "state.db" in out.stderr


def test_a_pending_kill_request_shows_as_killed(tmp_path: Path) -> None:
    from btcbot_engine.kill_request import request_kill

    request_kill(tmp_path / "state.db", "test")
    out = _run(
        ["btcbot_engine.cli", "gates", "--json"], _env(tmp_path, KILL_SWITCH="false"), tmp_path
    )
    assert "KILL_SWITCH" in json.loads(out.stdout)["blocked_by"]


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "btcbot_engine.cli", "gates"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in err
