"""Helpers for tests/reports: settings against the simulator, engine runs, read-only peeks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from btcbot_engine.config import Settings, load_settings
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import Store, open_readonly


def sim_settings(sim: SimulatorHandle, tmp_path: Path, *, live: bool, **extra: str) -> Settings:
    """Settings for the simulator (paper, or armed live with its keys); also set in os.environ
    so in-process CLI calls read the same values."""
    env = {
        "btcturk_base_url": sim.base_url,
        "btcturk_graph_url": sim.graph_url,
        "btcturk_ws_url": sim.ws_url,
        "state_db_path": str(tmp_path / "state.db"),
        "safe_mode": "false",
        "kill_switch": "false",
        "dry_run": "true",
        "universe_symbols": "BTCTRY,USDTTRY",
        "paper_balances": "TRY=20000",
        "http_timeout_seconds": "2",
        "cooldown_seconds": "0",
        "ttl_seconds": "3600",
    }
    if live:
        env.update(
            dry_run="false",
            live_trading="true",
            live_trading_ack="I_UNDERSTAND",
            btcturk_api_key=sim.api_key,
            btcturk_api_secret=sim.api_secret,
            btcturk_api_scopes="read,trade",
        )
    env.update(extra)
    for key, value in env.items():
        os.environ[key.upper()] = value
    return load_settings()


def run_engine(settings: Settings, cycles: int, *, kill: bool = False) -> Engine:
    """Run the real engine for `cycles` cycles (optionally killed first) and return it."""
    engine = Engine(settings)
    if kill:
        engine.kill("test")
    engine.run(RunOptions(loop=True, max_cycles=cycles, cycle_seconds=0.01))
    return engine


def push_through(sim: SimulatorHandle, symbol: str, factor: str = "0.97") -> None:
    """Move the market through our resting bids so they fill."""
    mid = sim.control.mid_price(symbol)
    sim.control.set_mid_price(symbol, mid * Decimal(factor), volume=Decimal("1000000"))
    sim.control.step(1)


@contextlib.contextmanager
def reader(path: Path) -> Iterator[Store]:
    """The database opened read-only, closed afterwards."""
    store = open_readonly(path)
    try:
        yield store
    finally:
        store.close()


def await_stale_ticker(sim: SimulatorHandle, symbol: str, age_ms: int) -> None:
    """Poll the exchange's own ticker timestamp until it is older than `age_ms` (a condition
    with a deadline, not a sleep)."""
    import time

    import httpx

    deadline = time.monotonic() + 10
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            data = client.get(f"{sim.base_url}/api/v2/ticker", params={"pairSymbol": symbol})
            stamp = data.json()["data"][0]["timestamp"]
            server_now = client.get(f"{sim.base_url}/api/v2/server/time").json()["serverTime"]
            if server_now - stamp > age_ms:
                return
    raise AssertionError(f"{symbol} ticker never got {age_ms} ms old")
