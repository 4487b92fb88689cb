"""`btcbot canary` as an operator runs it: in process, and as a process killed mid-canary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from canary_testkit import final_view, live_settings, open_on_exchange, store_of, wait_until

from btcbot_engine.canary import ACTIVE_KEY
from btcbot_engine.cli import main
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.runtime_state import effective_gates

ARGS = ["--symbol", "BTCTRY", "--notional-try", "150", "--ttl-seconds", "1", "--offset-bps", "200"]


def _live_env(sim: SimulatorHandle, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "BTCTURK_BASE_URL": sim.base_url,
        "BTCTURK_GRAPH_URL": sim.graph_url,
        "BTCTURK_WS_URL": sim.ws_url,
        "BTCTURK_API_KEY": sim.api_key,
        "BTCTURK_API_SECRET": sim.api_secret,
        "BTCTURK_API_SCOPES": "read,trade",
        "STATE_DB_PATH": str(tmp_path / "state.db"),
        "SAFE_MODE": "false",
        "KILL_SWITCH": "false",
        "DRY_RUN": "false",
        "LIVE_TRADING": "true",
        "LIVE_TRADING_ACK": "I_UNDERSTAND",
        "HTTP_TIMEOUT_SECONDS": "2",
        "CANARY_POLL_SECONDS": "0.1",
        "CANARY_CANCEL_WAIT_SECONDS": "5",
    }
    env.update(extra)
    return env


@pytest.fixture
def live_env(
    sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = _live_env(sim, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_once_prints_progress_and_a_verified_summary(
    live_env: dict[str, str], sim: SimulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["canary", "once", *ARGS]) == 0
    out = capsys.readouterr().out
    assert "placed (order" in out and "TTL reached, cancel requested" in out
    assert "canary FINISHED" in out
    assert "summary    verified against the exchange" in out
    assert "orders     1 placed, 0 open" in out
    assert "safe mode  ON" in out
    assert open_on_exchange(sim) == []


def test_json_is_one_document(
    live_env: dict[str, str], sim: SimulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["canary", "loop", *ARGS, "--max-cycles", "2", "--cycle-seconds", "0.1", "--json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)  # fails if anything else is on stdout
    assert doc["state"] == "finished" and doc["verified"] is True
    assert doc["cycle"] == 2 and doc["orders_placed"] == 2 and doc["orders_open"] == 0
    assert {o["exchange_status"] for o in doc["orders"]} == {"Canceled"}
    assert {o["client_id"] for o in doc["orders"]} == {
        o["orderClientId"] for o in sim.control.orders()
    }


def test_refused_when_not_live_exits_2(
    live_env: dict[str, str],
    sim: SimulatorHandle,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFE_MODE", "true")
    assert main(["canary", "once", *ARGS]) == 2
    assert "canary REFUSED  canary:not_live" in capsys.readouterr().out
    assert main(["canary", "once", *ARGS, "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert (doc["state"], doc["stop_reason"]) == ("refused", "canary:not_live")
    assert "SAFE_MODE" in doc["detail"]
    assert sim.control.orders() == []


def test_over_the_cap_and_bad_usage_exit_2(
    live_env: dict[str, str], sim: SimulatorHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    over = ["--symbol", "BTCTRY", "--notional-try", "501", "--ttl-seconds", "5"]
    assert main(["canary", "once", *over]) == 2
    assert "canary:cap" in capsys.readouterr().out
    assert main(["canary", "once", *ARGS, "--max-cycles", "3"]) == 2
    assert "canary once runs exactly one cycle" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(
            ["canary", "once", "--symbol", "BTCTRY", "--notional-try", "lots", "--ttl-seconds", "5"]
        )
    assert exc.value.code == 2
    assert "'lots' is not a decimal number" in capsys.readouterr().err
    assert sim.control.orders() == []


def test_a_stop_condition_exits_1(
    live_env: dict[str, str],
    sim: SimulatorHandle,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY_MAX_SUBMIT_LATENCY_MS", "1")
    sim.control.set_faults(slow_reply_s=0.02)
    assert main(["canary", "once", *ARGS]) == 1
    out = capsys.readouterr().out
    assert "canary STOPPED  canary:latency" in out
    assert "orders     1 placed, 0 open" in out
    assert open_on_exchange(sim) == []


def _subprocess_env(env: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return keep | env


def test_a_canary_killed_mid_run_is_finished_by_the_next_start(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    env = _live_env(sim, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "btcbot_engine.cli", "canary", "once", *ARGS[:-4],
         "--ttl-seconds", "600", "--offset-bps", "200"],
        env=_subprocess_env(env),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: bool(open_on_exchange(sim)), "the canary order to rest")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert len(open_on_exchange(sim)) == 1  # the dead process left its order resting
    settings = live_settings(sim, tmp_path)
    with store_of(settings) as store:
        assert store.runtime.get(ACTIVE_KEY)
    engine = Engine(settings)
    engine.run(RunOptions(loop=False, max_cycles=0))  # start-up only: recovery, then exit
    view = final_view(engine)
    assert (view.state, view.stop_reason) == ("stopped", "canary:interrupted")
    assert view.verified and view.orders_open == 0 and view.orders_placed == 0
    assert [o.exchange_status for o in view.orders] == ["Canceled"]
    assert open_on_exchange(sim) == []
    assert "SAFE_MODE" in effective_gates(settings).blocked_by
    with store_of(settings) as store:
        assert store.runtime.get(ACTIVE_KEY) == ""
