"""Helpers for the ops tests: settings against the simulator, orders placed straight on it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

from btcbot_engine.config import Settings, load_settings
from btcbot_engine.domain.orders import OrderMethod, OrderRequest, Side
from btcbot_engine.domain.rules import quantize_limit
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.simulator.harness import SimulatorHandle

LIVE = {
    "safe_mode": "false",
    "kill_switch": "false",
    "dry_run": "false",
    "live_trading": "true",
    "live_trading_ack": "I_UNDERSTAND",
    "btcturk_api_scopes": "read,trade",
}


def sim_env(sim: SimulatorHandle | None, db: Path, **extra: str) -> dict[str, str]:
    """Settings (lower-case names) pointing at `sim` with its keys and the database `db`."""
    env = {
        "state_db_path": str(db),
        "universe_symbols": "BTCTRY,USDTTRY",
        "paper_balances": "TRY=20000",
        "http_timeout_seconds": "2",
        "cooldown_seconds": "0",
        "ttl_seconds": "3600",
    }
    if sim is not None:
        env.update(
            btcturk_base_url=sim.base_url,
            btcturk_graph_url=sim.graph_url,
            btcturk_ws_url=sim.ws_url,
            btcturk_api_key=sim.api_key,
            btcturk_api_secret=sim.api_secret,
        )
    env.update(extra)
    return env


def settings_from(env: dict[str, str]) -> Settings:
    """Load Settings from `env` through the process environment (as the CLI does)."""
    for key, value in env.items():
        os.environ[key.upper()] = value
    return load_settings()


def process_env(env: dict[str, str]) -> dict[str, str]:
    """A subprocess environment: ours without any btcbot setting, plus `env` (upper-cased)."""
    out = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    out.update({k.upper(): v for k, v in env.items()})
    out["NO_COLOR"] = "1"
    return out


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`btcbot ARGS` as a real process (stdin not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", *args],
        env=process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def place_resting_orders(sim: SimulatorHandle, count: int) -> list[int]:
    """Place `count` passive limit orders straight on the simulator account (far from the
    market so they rest); returns their exchange ids."""

    async def place() -> list[int]:
        exchange = BtcturkExchange(
            sim.base_url,
            sim.graph_url,
            api_key=sim.api_key,
            api_secret=sim.api_secret,
            write_guard=lambda action: None,  # a permissive test guard: this is the test's hand
        )
        try:
            rules = (await exchange.exchange_info())["BTCTRY"]
            mid = sim.control.mid_price("BTCTRY")
            ids = []
            for i in range(count):
                side = Side.BUY if i % 2 == 0 else Side.SELL
                price = mid * (Decimal("0.5") if side is Side.BUY else Decimal("1.5"))
                q = quantize_limit(rules, side, price - i, Decimal("0.001"))
                ack = await exchange.submit(
                    OrderRequest(
                        symbol="BTCTRY",
                        side=side,
                        method=OrderMethod.LIMIT,
                        quantity=q.quantity,
                        price=q.price,
                        client_id=uuid.uuid4().hex[:20],
                    )
                )
                ids.append(ack.order_id)
            return ids
        finally:
            await exchange.close()

    return asyncio.run(place())


def open_order_ids(sim: SimulatorHandle) -> set[int]:
    """Ids of the orders the simulator holds open."""
    return {int(o["id"]) for o in sim.control.orders() if o["status"] in ("Untouched", "Partial")}


def wait_until(condition: object, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll `condition()` until true, failing after `timeout_s` (a deadline, not a sleep)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)
