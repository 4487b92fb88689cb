"""Determinism, the harness life cycle, and the `sim-exchange` command."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from decimal import Decimal

import httpx
import pytest

from btcbot_engine.exchange.simulator import running_simulator
from btcbot_engine.exchange.simulator.command import add_arguments, run


def _market_fingerprint(seed: int, ticks: int) -> list[tuple]:
    with running_simulator(seed=seed, tick_interval_s=0) as sim:
        path = []
        for _ in range(ticks):
            sim.control.step()
            path.append(
                tuple(sim.control.mid_price(s) for s in ("BTCTRY", "USDTTRY", "ETHUSDT"))
                + sim.control.best_prices("BTCTRY")
            )
        with httpx.Client(base_url=sim.base_url) as http:
            rows = http.get("/api/v2/ticker").json()["data"]
            book = http.get("/api/v2/orderbook", params={"pairSymbol": "AVAXTRY"}).json()
        path.append(tuple((r["pair"], r["last"], r["bid"], r["ask"]) for r in rows))
        path.append((str(book["data"]["bids"]), str(book["data"]["asks"])))
        return path


def test_same_seed_same_prices_other_seed_other_prices() -> None:
    one = _market_fingerprint(11, 25)
    assert one == _market_fingerprint(11, 25)
    assert one != _market_fingerprint(12, 25)
    mids = [step[0] for step in one[:25]]
    assert len(set(mids)) > 5  # it really moves
    assert all(isinstance(m, Decimal) and m % 10 == 0 for m in mids)  # on BTCTRY's tick


def test_live_ticking_and_clean_shutdown() -> None:
    before = {t.name for t in threading.enumerate()}
    with running_simulator(seed=2, tick_interval_s=0.02) as sim:
        port = int(sim.base_url.rsplit(":", 1)[1])
        ws_port = int(sim.ws_url.rsplit(":", 1)[1])
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.graph_url == sim.base_url
        with httpx.Client(base_url=sim.base_url) as http:
            first = http.get("/_sim/state").json()["counts"]["ticks"]
            # The market moves by itself: wait (bounded) for the tick counter to advance.
            for _ in range(500):
                if http.get("/_sim/state").json()["counts"]["ticks"] > first + 2:
                    break
            else:
                pytest.fail("market did not tick")
        # Control calls are safe from any thread.
        results: list[object] = []
        worker = threading.Thread(target=lambda: results.append(sim.control.faults))
        worker.start()
        worker.join(5)
        assert results and results[0] == sim.control.faults
    assert {t.name for t in threading.enumerate()} <= before | {"MainThread"}
    for closed in (port, ws_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", closed), timeout=1).close()


def test_busy_port_fails_loudly() -> None:
    with running_simulator(tick_interval_s=0) as sim:
        port = int(sim.base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError), running_simulator(port=port, tick_interval_s=0):
            pass


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("--faults", "rate_limit_remaining=lots"), "rate_limit_remaining"),
        (("--faults", "unknown_switch=1"), "unknown_switch"),
        (("--port", "http"), "--port"),
        (("--ws-port", "70000"), "--ws-port"),
        (("--seed", "x"), "--seed"),
        (("--balances", "TRY=abc"), "--balances"),
        (("--tick-seconds", "-1"), "--tick-seconds"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(
    argv: tuple[str, ...], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(_args(*argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_command_prints_env_lines_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    command = [
        sys.executable,
        "-m",
        "btcbot_engine.exchange.simulator.command",
        "--port",
        "0",
        "--ws-port",
        "0",
        "--balances",
        "TRY=10000,USDT=500",
        "--faults",
        "retry_after_s=2",
        "--tick-seconds",
        "0.05",
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        env: dict[str, str] = {}
        assert proc.stdout is not None
        while "BTCTURK_API_SECRET" not in env:
            line = proc.stdout.readline()
            assert line, f"simulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            if "=" in line and not line.startswith("#"):
                name, _, value = line.strip().partition("=")
                env[name] = value
        assert env["BTCTURK_BASE_URL"].startswith("http://127.0.0.1:")
        assert env["BTCTURK_GRAPH_URL"] == env["BTCTURK_BASE_URL"]
        assert env["BTCTURK_WS_URL"].startswith("ws://127.0.0.1:")
        with httpx.Client(base_url=env["BTCTURK_BASE_URL"]) as http:
            assert http.get("/api/v2/server/time").status_code == 200
            assert http.get("/_sim/state").json()["faults"]["retry_after_s"] == 2
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
