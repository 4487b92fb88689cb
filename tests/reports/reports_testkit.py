"""Helpers for tests/reports: settings against the simulator, engine runs, read-only peeks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from sim_testkit import sim_settings

from btcbot_engine.config import Settings
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import Store, open_readonly

__all__ = ["sim_settings"]


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
