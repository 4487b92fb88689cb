"""The real app on the real engine against the simulator (live-armed, over loopback).

Waits (polling a condition, no sleeps) until fills show in the fills pane, presses `k`, and
checks on the simulator itself that no order of ours is left open; then that quitting stopped
the engine thread and released the instance lock.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tui_helpers import wait_for

from btcbot_engine.config import Settings, load_settings
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.store.lock import InstanceLock
from btcbot_tui.app import BtcbotApp
from btcbot_tui.widgets.fills import FillsPane
from btcbot_tui.widgets.orders import OrdersPane

OPEN_STATUSES = ("Untouched", "Partial")
SYMBOLS = ("BTCTRY", "USDTTRY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def _live_settings(sim: SimulatorHandle, tmp_path: Path) -> Settings:
    return load_settings(
        btcturk_base_url=sim.base_url,
        btcturk_graph_url=sim.graph_url,
        btcturk_ws_url=sim.ws_url,
        state_db_path=str(tmp_path / "state.db"),
        safe_mode=False,
        kill_switch=False,
        dry_run=False,
        live_trading=True,
        live_trading_ack="I_UNDERSTAND",
        btcturk_api_key=sim.api_key,
        btcturk_api_secret=sim.api_secret,
        btcturk_api_scopes="read,trade",
        universe_symbols=",".join(SYMBOLS),
        http_timeout_seconds=2,
        cooldown_seconds=0,
        ttl_seconds=3600,
    )


def _ours_open(sim: SimulatorHandle) -> list[dict[str, object]]:
    return [
        o
        for o in sim.control.orders()
        if o["status"] in OPEN_STATUSES and str(o["orderClientId"]).startswith("bb")
    ]


async def test_fills_reach_the_screen_and_k_leaves_nothing_open(tmp_path: Path) -> None:
    with running_simulator(seed=3, tick_interval_s=0.05) as sim:
        settings = _live_settings(sim, tmp_path)
        engine = Engine(settings, command_name="btcbot-tui test")
        app = BtcbotApp(engine, run_options=RunOptions(cycle_seconds=0.2))
        app.animation_level = "none"
        async with app.run_test(size=(160, 48)) as pilot:
            orders = app.screen.query_one(OrdersPane)
            fills = app.screen.query_one(FillsPane)
            await wait_for(pilot, lambda: orders.row_count >= 1 and bool(_ours_open(sim)), 30)
            assert app.snapshot is not None and app.snapshot.mode == "LIVE"
            for symbol in SYMBOLS:  # the market trades through our resting bids
                mid = sim.control.mid_price(symbol)
                sim.control.set_mid_price(symbol, mid * Decimal("0.97"), volume=Decimal(10**6))
            await wait_for(pilot, lambda: fills.row_count >= 1, 30)
            shown = set(fills.row_keys)
            traded = {str(t["id"]) for t in sim.control.trades()}
            assert shown and shown <= traded, "the fills pane shows the exchange's own trades"

            await pilot.press("k")
            assert engine.flags.killed, "k trips the kill flag synchronously"
            await wait_for(
                pilot,
                lambda: (
                    app.snapshot is not None
                    and app.snapshot.mode == "KILLED"
                    and not _ours_open(sim)
                ),
                30,
            )
            assert app.screen.query_one("#mode-banner").has_class("-killed")
            assert not _ours_open(sim)
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running, 30)
        assert app.engine_done, "quitting joined the engine thread"
        assert app.engine_failure is None
        # The engine released its instance lock: a new holder can take it at once.
        with InstanceLock(settings.state_db_path, settings.account_key, command="check"):
            pass
