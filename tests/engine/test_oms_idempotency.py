"""OMS idempotency: the same intent in the same cycle is sent once; a changed payload is refused."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from btcbot_engine.config import load_settings
from btcbot_engine.domain.intents import Intent, IntentKind
from btcbot_engine.domain.orders import OrderState, Side
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.simulator.harness import running_simulator
from btcbot_engine.guard import PreWriteGuard, SafetyFlags
from btcbot_engine.oms import IdempotencyConflict, OrderManager, client_order_id
from btcbot_engine.store.db import open_database


def test_client_id_is_deterministic_and_distinct() -> None:
    a = client_order_id("run1", "run1-00001", "profit_aware:BTCTRY:buy:entry")
    assert a == client_order_id("run1", "run1-00001", "profit_aware:BTCTRY:buy:entry")
    assert a != client_order_id("run1", "run1-00002", "profit_aware:BTCTRY:buy:entry")
    assert len(a) <= 36


async def test_same_intent_sent_once_and_conflict_refused(tmp_path: Path) -> None:
    with running_simulator(seed=2, tick_interval_s=0) as sim:
        settings = load_settings(
            _env_file=None,
            safe_mode=False,
            kill_switch=False,
            dry_run=False,
            live_trading=True,
            live_trading_ack="I_UNDERSTAND",
            btcturk_api_key=sim.api_key,
            btcturk_api_secret=sim.api_secret,
        )
        flags = SafetyFlags()
        guard = PreWriteGuard(settings, flags, live=True)
        exchange = BtcturkExchange(
            sim.base_url,
            sim.graph_url,
            api_key=sim.api_key,
            api_secret=sim.api_secret,
            write_guard=guard,
        )
        store = open_database(tmp_path / "oms.db")
        try:
            oms = OrderManager(store, exchange, guard, run_id="r1", clock_ms=store.clock_ms)
            rules = (await exchange.exchange_info())["BTCTRY"]
            bid = sim.control.best_prices("BTCTRY")[0]
            intent = Intent(
                strategy="t",
                symbol="BTCTRY",
                side=Side.BUY,
                kind=IntentKind.OPEN,
                price=bid * Decimal("0.99"),
                quantity=Decimal("0.0002"),
                reason="test",
                key="k1",
            )
            first = await oms.place(intent, rules, cycle_id="c1")
            assert first.reason_code == "oms:submitted"
            again = await oms.place(intent, rules, cycle_id="c1")
            assert again.reason_code == "oms:duplicate_intent"
            with pytest.raises(IdempotencyConflict):
                await oms.place(replace(intent, price=bid * Decimal("0.98")), rules, cycle_id="c1")
            posts = [r for r in sim.control.request_log() if r[1] == "POST"]
            assert len(posts) == 1
            assert len(sim.control.orders()) == 1
            # The kill flag set from another thread blocks the very next submit.
            flags.set_killed(True)
            blocked = await oms.place(replace(intent, key="k2"), rules, cycle_id="c2")
            assert blocked.reason_code == "oms:blocked"
            assert len(sim.control.orders()) == 1
            order = store.orders.list_all()[0]
            assert order.state is OrderState.OPEN
        finally:
            store.close()
            await exchange.close()
