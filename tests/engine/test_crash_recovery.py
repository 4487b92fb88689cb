"""SIGKILL `btcbot run --loop` (LIVE, simulator) mid-loop, restart: nothing lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import running_simulator
from btcbot_engine.store.db import open_database


def _env(sim: object, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        BTCTURK_BASE_URL=sim.base_url,  # type: ignore[attr-defined]
        BTCTURK_GRAPH_URL=sim.graph_url,  # type: ignore[attr-defined]
        BTCTURK_WS_URL=sim.ws_url,  # type: ignore[attr-defined]
        BTCTURK_API_KEY=sim.api_key,  # type: ignore[attr-defined]
        BTCTURK_API_SECRET=sim.api_secret,  # type: ignore[attr-defined]
        BTCTURK_API_SCOPES="read,trade",
        STATE_DB_PATH=str(db),
        SAFE_MODE="false",
        KILL_SWITCH="false",
        DRY_RUN="false",
        LIVE_TRADING="true",
        LIVE_TRADING_ACK="I_UNDERSTAND",
        UNIVERSE_SYMBOLS="BTCTRY,USDTTRY",
        COOLDOWN_SECONDS="0",
        TTL_SECONDS="2",
        MAX_OPEN_ORDERS_PER_SYMBOL="1",
        HTTP_TIMEOUT_SECONDS="2",
        LOG_LEVEL="ERROR",
    )
    return env


def _start(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "btcbot_engine.cli", "run", "--loop", "--cycle-seconds", "0.05"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _await_cycles(proc: subprocess.Popen[str], n: int, timeout_s: float = 30) -> None:
    """Read the process's per-cycle lines until n cycles ran (a condition, not a sleep)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"btcbot run exited early with {proc.poll()}")
        if line.startswith("cycle "):
            seen += 1
            if seen >= n:
                return
    raise AssertionError(f"only {seen} cycles within {timeout_s} s")


def test_sigkill_mid_loop_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    db = tmp_path / "state.db"
    kills = 0
    with running_simulator(seed=5, tick_interval_s=0.05) as sim:
        env = _env(sim, db)
        for _ in range(6):
            proc = _start(env, tmp_path)
            try:
                _await_cycles(proc, rng.randint(1, 6))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            kills += 1
        # A clean final run reconciles everything left behind.
        proc = _start(env, tmp_path)
        _await_cycles(proc, 8)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0

        orders = sim.control.orders()
        trades = sim.control.trades()
    assert kills == 6
    client_ids = [o["orderClientId"] for o in orders]
    assert orders, "the bot should have traded on the simulator"
    assert len(client_ids) == len(set(client_ids)), "a client id was sent twice"
    open_per_symbol = Counter(
        o["pairSymbol"] for o in orders if o["status"] in ("Untouched", "Partial")
    )
    assert all(n <= 1 for n in open_per_symbol.values()), open_per_symbol

    store = open_database(db, account_key=None)
    try:
        assert store.integrity_check() == ["ok"]
        fills = Counter(f.trade_id for f in store.fills.all())
        ledger_fill_refs = Counter(e.ref for e in store.ledger.all() if e.kind.value == "FILL")
        ours = {o.client_id for o in store.orders.list_all()}
        unfinished = [c for c in store.cycles.recent(limit=500) if c.finished_ms is None]
    finally:
        store.close()
    assert trades, "the market crossed our bids at least once"
    assert set(fills) == {int(t["id"]) for t in trades}, "every exchange fill, exactly once"
    print(f"kills={kills} orders={len(orders)} trades={len(trades)}")
    assert all(n == 1 for n in ledger_fill_refs.values())
    assert set(client_ids) <= ours, "every order on the exchange is known to the database"
    assert unfinished == [], "abandoned cycles are closed by recovery"
