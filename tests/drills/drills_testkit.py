"""Shared helpers of the fault, crash and fuzz drills: settings, runs, request-log measures.

Every drill runs the real engine (or the real CLI in a subprocess) against the bundled simulator
over loopback, with a real SQLite file under tmp_path. Figures a drill wants in the report go
through `record_figure`; the folder's conftest prints them at the end of the run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from btcbot_engine.config import Settings, load_settings
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.btcturk import ratelimit as rl
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import Store, open_database

# name -> value, printed by conftest.pytest_terminal_summary (one line per figure).
FIGURES: dict[str, object] = {}

# Every TRY pair of the simulator except the slow-moving big ones: enough symbols that one
# blocked (UNKNOWN) pair never stops a drill from trading on the others.
TRY_PAIRS = "BTCTRY,ETHTRY,USDTTRY,AVAXTRY,ARBTRY"

# REST path (lower case) -> the client-side limiter group that governs it.
_GROUP_OF_PATH: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/order"): rl.ORDER_SUBMIT,
    ("DELETE", "/api/v1/order"): rl.ORDER_CANCEL,
    ("GET", "/api/v1/openorders"): rl.OPEN_ORDERS,
    ("GET", "/api/v1/allorders"): rl.ALL_ORDERS,
    ("GET", "/api/v1/users/balances"): rl.BALANCES,
    ("GET", "/api/v1/users/transactions/trade"): rl.USER_TRADES,
    ("GET", "/api/v2/ticker"): rl.TICKER,
    ("GET", "/api/v2/orderbook"): rl.ORDERBOOK,
    ("GET", "/v1/ohlcs"): rl.GRAPH,
    ("GET", "/v1/klines/history"): rl.GRAPH,
}


def record_figure(name: str, value: object) -> None:
    """Remember one figure for the end-of-run summary (and return nothing)."""
    FIGURES[name] = value


# --- settings and runs ------------------------------------------------------------------------


def drill_settings(sim: SimulatorHandle, db: Path, *, live: bool = True, **extra: Any) -> Settings:
    """Settings pointing at `sim`, armed for live trading (or paper), with drill-friendly caps.

    The caller's environment must be clean (the folder's autouse fixture removes every Settings
    variable and moves into tmp_path, so no .env is read).
    """
    values: dict[str, Any] = {
        "btcturk_base_url": sim.base_url,
        "btcturk_graph_url": sim.graph_url,
        "btcturk_ws_url": sim.ws_url,
        "state_db_path": str(db),
        "safe_mode": "false",
        "kill_switch": "false",
        "dry_run": "true",
        "universe_symbols": "BTCTRY,USDTTRY",
        "paper_balances": "TRY=20000",
        "http_timeout_seconds": "2",
        "cooldown_seconds": "0",
        "ttl_seconds": "3600",
        "log_level": "ERROR",
    }
    if live:
        values.update(
            dry_run="false",
            live_trading="true",
            live_trading_ack="I_UNDERSTAND",
            btcturk_api_key=sim.api_key,
            btcturk_api_secret=sim.api_secret,
            btcturk_api_scopes="read,trade",
        )
    values.update(extra)
    return load_settings(**values)


def run_engine(
    settings: Settings, cycles: int, *, cycle_seconds: float = 0.01, **engine_kw: Any
) -> Engine:
    """Run the real engine for `cycles` cycles in this thread and return it (for snapshot())."""
    engine = Engine(settings, **engine_kw)
    engine.run(RunOptions(loop=True, max_cycles=cycles, cycle_seconds=cycle_seconds))
    return engine


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The drill's database, opened after the engine finished (one Store per process)."""
    store = open_database(settings.state_db_path, account_key=settings.account_key)
    try:
        yield store
    finally:
        store.close()


def await_condition(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll `check` until it is true; fail naming `what` after `timeout_s` (never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


# --- the simulator's request log ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the simulator saw it (time is the server's monotonic clock)."""

    at: float
    method: str
    path: str  # lower case, no trailing slash
    status: int  # 0 = dropped without a reply


def request_log(sim: SimulatorHandle) -> list[LoggedRequest]:
    """Every REST request the simulator served, oldest first."""
    return [
        LoggedRequest(at, method, path.lower().rstrip("/") or "/", status)
        for at, method, path, status in sim.control.request_log()
    ]


def status_counts(log: Iterable[LoggedRequest]) -> Counter[int]:
    """How many replies of each HTTP status."""
    return Counter(r.status for r in log)


def group_of(request: LoggedRequest) -> str | None:
    """The limiter group of a request (None for unlimited ones: server time, exchangeinfo)."""
    if request.method == "GET" and request.path.startswith("/api/v1/order/"):
        return rl.ORDER_GET
    return _GROUP_OF_PATH.get((request.method, request.path))


def max_in_window(times: list[float], period_s: float, slack_s: float = 0.05) -> int:
    """The most requests inside any window of `period_s` seconds.

    The window is shortened by `slack_s`: the client's limiter stamps a request before sending
    it and the server stamps it on arrival, so loopback jitter can bring two requests that were
    a full period apart on the client a few milliseconds closer on the server.
    """
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= period_s - slack_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def rate_report(log: list[LoggedRequest], share: float) -> dict[str, tuple[int, int, float]]:
    """Per group and quota: (most requests seen in a window, allowed at `share`, period)."""
    limiter = rl.RateLimiter(share)
    by_group: dict[str, list[float]] = {}
    for request in log:
        group = group_of(request)
        if group is not None:
            by_group.setdefault(group, []).append(request.at)
    report: dict[str, tuple[int, int, float]] = {}
    for group, times in sorted(by_group.items()):
        for quota in limiter.limits(group):
            key = f"{group}/{quota.period_s:g}s"
            report[key] = (max_in_window(times, quota.period_s), quota.limit, quota.period_s)
    return report


# --- exchange vs ledger ---------------------------------------------------------------------------


def exchange_net_by_symbol(trades: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Signed base amount per pair from the simulator's trade rows (buys +, sells -)."""
    net: dict[str, Decimal] = {}
    for t in trades:
        symbol = f"{t['numeratorSymbol']}{t['denominatorSymbol']}"
        net[symbol] = net.get(symbol, Decimal(0)) + Decimal(str(t["amount"]))
    return net


def environment_without_settings() -> dict[str, str]:
    """This process's environment minus every btcbot setting (for CLI subprocesses)."""
    return {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
