"""Helpers for the canary tests: armed live settings against the simulator, an engine thread,
and condition waits with deadlines (never fixed sleeps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from btcbot_engine.commands import StartCanary
from btcbot_engine.config import Settings, load_settings
from btcbot_engine.domain.canary import CanaryPlan, CanaryView
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import Store, open_database

SYMBOL = "BTCTRY"
DEADLINE_S = 20.0


def live_settings(sim: SimulatorHandle, tmp_path: Path, **extra: Any) -> Settings:
    """Fully armed live settings (gates LIVE) pointing at the simulator."""
    values: dict[str, Any] = {
        "btcturk_base_url": sim.base_url,
        "btcturk_graph_url": sim.graph_url,
        "btcturk_ws_url": sim.ws_url,
        "btcturk_api_key": sim.api_key,
        "btcturk_api_secret": sim.api_secret,
        "btcturk_api_scopes": "read,trade",
        "state_db_path": str(tmp_path / "state.db"),
        "safe_mode": False,
        "kill_switch": False,
        "dry_run": False,
        "live_trading": True,
        "live_trading_ack": "I_UNDERSTAND",
        "http_timeout_seconds": 2,
        "canary_poll_seconds": 0.1,
        "canary_cancel_wait_seconds": 5,
    }
    values.update(extra)
    return load_settings(**values)


def plan(**kw: Any) -> CanaryPlan:
    """A small canary plan, 200 bps below the bid: the random walk won't fill it."""
    values: dict[str, Any] = {
        "symbol": SYMBOL,
        "notional_try": Decimal("150"),
        "ttl_seconds": 1.0,
        "offset_bps": Decimal("200"),
    }
    values.update(kw)
    return CanaryPlan(**values)


def run_canary(settings: Settings, canary_plan: CanaryPlan) -> Engine:
    """Run a canary to its end in this thread (`btcbot canary` does exactly this)."""
    engine = Engine(settings, command_name="test canary")
    engine.submit(StartCanary(canary_plan))
    engine.run(RunOptions(until_canary_done=True))
    return engine


def final_view(engine: Engine) -> CanaryView:
    snap = engine.snapshot()
    assert snap is not None and snap.canary is not None
    return snap.canary


class Watcher:
    """Collects snapshots from the engine thread; the test thread waits on conditions."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.latest: EngineSnapshot | None = None

    def __call__(self, snap: EngineSnapshot) -> None:
        with self._cond:
            self.latest = snap
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[EngineSnapshot], bool], what: str) -> EngineSnapshot:
        deadline = time.monotonic() + DEADLINE_S
        with self._cond:
            while self.latest is None or not pred(self.latest):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self._cond.wait(left)
            return self.latest


def canary_state(snap: EngineSnapshot) -> str:
    return snap.canary.state if snap.canary else ""


def resting(snap: EngineSnapshot) -> bool:
    """The canary's order is acknowledged and resting."""
    return any(o.state.value == "OPEN" and o.intent.startswith("canary:") for o in snap.open_orders)


@contextmanager
def engine_thread(
    settings: Settings, options: RunOptions | None = None
) -> Iterator[tuple[Engine, Watcher]]:
    """An engine running in a background thread (as the TUI runs it); joined on exit."""
    watcher = Watcher()
    engine = Engine(settings, on_snapshot=watcher, command_name="test canary")
    errors: list[BaseException] = []

    def target() -> None:
        try:
            engine.run(options or RunOptions(until_canary_done=True))
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="engine", daemon=True)
    thread.start()
    try:
        yield engine, watcher
    finally:
        thread.join(DEADLINE_S)
        if thread.is_alive():
            engine.stop()
            thread.join(DEADLINE_S)
            raise AssertionError("engine thread did not end")
    if errors:
        raise errors[0]


def wait_until(pred: Callable[[], bool], what: str) -> None:
    """Poll a condition on another object (the simulator) until it holds, with a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)  # poll interval, not a wait for state


@contextmanager
def store_of(settings: Settings) -> Iterator[Store]:
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        yield store
    finally:
        store.close()


def exchange_writes(sim: SimulatorHandle) -> list[tuple[str, str]]:
    return [(m, p) for _, m, p, _ in sim.control.request_log() if m in ("POST", "DELETE")]


def open_on_exchange(sim: SimulatorHandle) -> list[dict[str, Any]]:
    return [o for o in sim.control.orders() if o["status"] in ("Untouched", "Partial")]
