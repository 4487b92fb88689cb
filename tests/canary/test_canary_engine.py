"""The bounded live canary run by the real engine against the simulator over loopback."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from canary_testkit import (
    SYMBOL,
    canary_state,
    engine_thread,
    exchange_writes,
    final_view,
    live_settings,
    open_on_exchange,
    plan,
    resting,
    run_canary,
    store_of,
    wait_until,
)

from btcbot_engine.canary import ACTIVE_KEY
from btcbot_engine.commands import AbortCanary, CancelAll, RunOneCycle, SetSafeMode, StartCanary
from btcbot_engine.domain.orders import OrderState
from btcbot_engine.domain.rules import quantize_price
from btcbot_engine.engine import RunOptions
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.gates import Mode
from btcbot_engine.runtime_state import effective_gates
from btcbot_engine.strategies.canary import canary_order


def _assert_ended_safe(sim: SimulatorHandle, settings: object) -> None:
    """The promise of every end: nothing open on the exchange, safe mode on and persisted."""
    assert open_on_exchange(sim) == []
    gates = effective_gates(settings)  # type: ignore[arg-type]
    assert "SAFE_MODE" in gates.blocked_by and gates.mode is Mode.OBSERVE_ONLY


def test_once_rests_with_our_client_id_then_ttl_cancel_verified(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = live_settings(sim, tmp_path)
    engine = run_canary(settings, plan(ttl_seconds=1.0))
    view = final_view(engine)
    assert (view.state, view.stop_reason) == ("finished", "")
    assert view.verified and view.safe_mode_on
    assert (view.orders_placed, view.orders_open, view.fills) == (1, 0, 0)

    [remote] = sim.control.orders()
    with store_of(settings) as store:
        [record] = [o for o in store.orders.list_all() if o.intent.startswith("canary:")]
        events = store.orders.events(record.client_id)
        cycles = store.cycles.recent(limit=50)
        assert store.runtime.get(ACTIVE_KEY) == ""
    assert remote["orderClientId"] == record.client_id
    assert remote["status"] == "Canceled"
    assert Decimal(remote["price"]) == record.price
    assert record.state is OrderState.CANCELED
    # Passive and on the price grid: BTCTRY ticks by 10 TRY without fractions.
    assert record.price is not None and record.price % 10 == 0
    assert record.price < sim.control.best_prices(SYMBOL)[0] * Decimal("0.995")
    # Write-ahead (persisted before the HTTP call), acknowledged, cancelled after the TTL.
    states = [e.to_state for e in events]
    assert states == [
        OrderState.NEW,
        OrderState.SUBMITTING,
        OrderState.OPEN,
        OrderState.CANCELING,
        OrderState.CANCELED,
    ]
    canceling = next(e for e in events if e.to_state is OrderState.CANCELING)
    assert canceling.ts_ms - record.created_ms >= 1000
    # The real cycle ran it: its cycles are recorded under canary ids.
    assert any(f"-canary{view.started_ms}-c01-" in c.cycle_id for c in cycles)
    assert [o.client_id for o in view.orders] == [record.client_id]
    assert view.orders[0].exchange_status == "Canceled"
    _assert_ended_safe(sim, settings)


def test_fill_summary_equals_the_exchange_trades(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=30.0)))
        watcher.wait_for(resting, "the canary order to rest")
        [order] = open_on_exchange(sim)
        price = Decimal(order["price"])
        # Push the market through the order with enough volume to fill it whole.
        sim.control.set_mid_price(SYMBOL, price * Decimal("0.99"), volume=Decimal("1"))
        watcher.wait_for(lambda s: canary_state(s) == "finished", "the canary to finish")
    view = final_view(engine)
    trades = sim.control.trades()
    assert trades and view.verified and view.stop_reason == ""
    assert view.fills == len(trades)
    assert view.filled_quantity == sum(abs(Decimal(t["amount"])) for t in trades)
    assert view.filled_notional_try == sum(
        abs(Decimal(t["amount"])) * Decimal(t["price"]) for t in trades
    )
    assert view.fees_try == sum(abs(Decimal(t["fee"])) + abs(Decimal(t["tax"])) for t in trades)
    assert view.fees_try > 0
    assert view.orders[0].state == "FILLED" and view.orders[0].exchange_status == "Closed"
    with store_of(settings) as store:
        booked = {f.trade_id for f in store.fills.all()}
    assert booked == {int(t["id"]) for t in trades}  # the ledger got them through fill sync
    _assert_ended_safe(sim, settings)


def test_refused_unless_live_without_touching_the_exchange(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = live_settings(sim, tmp_path, dry_run=True)
    view = final_view(run_canary(settings, plan()))
    assert (view.state, view.stop_reason) == ("refused", "canary:not_live")
    assert "DRY_RUN" in view.detail
    assert exchange_writes(sim) == [] and sim.control.orders() == []


def test_refused_over_the_notional_cap(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path, max_notional_per_order_try=200)
    view = final_view(run_canary(settings, plan(notional_try=Decimal("250"))))
    assert (view.state, view.stop_reason) == ("refused", "canary:cap")
    assert "MAX_NOTIONAL_PER_ORDER_TRY" in view.detail
    assert exchange_writes(sim) == []


def test_refused_for_an_unknown_symbol(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    view = final_view(run_canary(settings, plan(symbol="nope_try")))
    assert (view.state, view.stop_reason) == ("refused", "canary:unknown_symbol")
    assert "NOPETRY" in view.detail
    assert exchange_writes(sim) == []


def test_refused_below_the_pair_minimum(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path, min_order_notional_try=10)
    view = final_view(run_canary(settings, plan(notional_try=Decimal("50"))))
    assert (view.state, view.stop_reason) == ("refused", "canary:below_min")
    assert "min_notional" in view.detail
    assert exchange_writes(sim) == []


def test_stale_data_stops_and_leaves_nothing_open(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path, max_market_data_age_ms=400)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        watcher.wait_for(resting, "the canary order to rest")
        sim.control.set_faults(freeze_market=True)
        watcher.wait_for(lambda s: canary_state(s) == "stopped", "the canary to stop")
    view = final_view(engine)
    assert view.stop_reason == "canary:stale_data"
    assert "stale" in view.detail
    assert view.orders_open == 0 and view.verified
    assert [o["status"] for o in sim.control.orders()] == ["Canceled"]
    _assert_ended_safe(sim, settings)


def _preview_notional(sim: SimulatorHandle, offset_bps: Decimal) -> Decimal:
    """What the canary's order would cost on this simulator right now (reads only)."""

    async def read() -> Decimal:
        ex = BtcturkExchange(sim.base_url, sim.graph_url)
        try:
            rules = await ex.exchange_info()
            [ticker] = await ex.tickers([SYMBOL])
        finally:
            await ex.close()
        return canary_order(rules[SYMBOL], ticker.bid, Decimal("150"), offset_bps).notional

    return asyncio.run(read())


def test_exchange_reject_stops_the_canary(tmp_path: Path) -> None:
    # The exchange locks a little more than our fee reserve (0.11 % vs 0.09 %): a TRY balance
    # between the two passes our checks and risk, and the exchange refuses the order. Two
    # simulators with the same seed and no ticks show the same book, so the first one tells
    # the order's notional and the second one gets just that balance.
    with running_simulator(seed=5, tick_interval_s=0) as probe:
        notional = _preview_notional(probe, Decimal("200"))
    balance = notional * Decimal("1.001")
    with running_simulator(seed=5, tick_interval_s=0, balances={"TRY": balance}) as sim:
        settings = live_settings(sim, tmp_path)
        view = final_view(run_canary(settings, plan()))
        assert (view.state, view.stop_reason) == ("stopped", "canary:rejected")
        assert "BALANCE_NOT_ENOUGH" in view.detail
        assert view.orders_placed == 0 and sim.control.orders() == []
        assert [(o.state, o.exchange_status) for o in view.orders] == [("REJECTED", "absent")]
        assert view.verified
        _assert_ended_safe(sim, settings)


def test_order_outside_the_price_band_is_refused_before_sending(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = live_settings(sim, tmp_path)
    view = final_view(run_canary(settings, plan(offset_bps=Decimal("9500"))))
    assert (view.state, view.stop_reason) == ("refused", "canary:rule")
    assert "min_price" in view.detail
    assert exchange_writes(sim) == []


def test_kill_during_the_run_cancels_and_stops(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        watcher.wait_for(resting, "the canary order to rest")
        engine.kill("test")  # from this (another) thread, as the TUI's `k` does
        watcher.wait_for(lambda s: canary_state(s) == "stopped", "the canary to stop")
    view = final_view(engine)
    assert view.stop_reason == "canary:kill"
    assert view.orders_open == 0 and view.verified
    assert [o["status"] for o in sim.control.orders()] == ["Canceled"]
    _assert_ended_safe(sim, settings)
    assert effective_gates(settings).blocked_by[:2] == ("SAFE_MODE", "KILL_SWITCH")


def test_abort_from_another_thread(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        watcher.wait_for(resting, "the canary order to rest")
        engine.submit(AbortCanary("test"))
        watcher.wait_for(lambda s: canary_state(s) == "stopped", "the canary to stop")
    view = final_view(engine)
    assert view.stop_reason == "canary:aborted" and "test" in view.detail
    assert view.orders_open == 0 and view.verified and view.safe_mode_on
    _assert_ended_safe(sim, settings)


def test_submit_latency_over_the_threshold_stops(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path, canary_max_submit_latency_ms=100)
    sim.control.set_faults(slow_reply_s=0.15)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        wait_until(lambda: bool(sim.control.orders()), "the canary order to be booked")
        sim.control.set_faults(slow_reply_s=0)
        watcher.wait_for(lambda s: canary_state(s) == "stopped", "the canary to stop")
    view = final_view(engine)
    assert view.stop_reason == "canary:latency"
    assert "CANARY_MAX_SUBMIT_LATENCY_MS 100" in view.detail
    _assert_ended_safe(sim, settings)


def test_engine_stop_mid_canary_still_cancels(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        watcher.wait_for(resting, "the canary order to rest")
        engine.stop()
    view = final_view(engine)
    assert (view.state, view.stop_reason) == ("stopped", "canary:aborted")
    assert "engine stopping" in view.detail
    _assert_ended_safe(sim, settings)


def test_inside_a_long_running_engine_the_strategy_waits(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    # The TUI's engine: loops forever with the normal strategy on BTCTRY and USDTTRY.
    settings = live_settings(
        sim, tmp_path, universe_symbols="BTCTRY,USDTTRY", cooldown_seconds=0, ttl_seconds=3600
    )
    options = RunOptions(loop=True, cycle_seconds=3600, first_cycle_now=False)
    with engine_thread(settings, options) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        watcher.wait_for(resting, "the canary order to rest")
        engine.submit(RunOneCycle())  # the operator's `r` must not trade during the canary
        watcher.wait_for(lambda s: "cycle skipped: a canary is running" in s.messages, "skip")
        engine.submit(AbortCanary("done looking"))
        watcher.wait_for(lambda s: canary_state(s) == "stopped", "the canary to stop")
        engine.submit(RunOneCycle())  # after it: safe mode, so the strategy only observes
        snap = watcher.wait_for(lambda s: s.status.cycle_count >= 1, "a normal cycle")
        assert snap.mode == "OBSERVE_ONLY"
        engine.stop()
    assert len(sim.control.orders()) == 1  # only ever the canary's order
    assert engine.cycles_run == 1
    _assert_ended_safe(sim, settings)


def test_second_start_is_refused_while_one_runs(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0)))
        watcher.wait_for(resting, "the canary order to rest")
        engine.submit(StartCanary(plan(symbol="ETHTRY")))
        watcher.wait_for(
            lambda s: "canary refused: one is already running" in s.messages, "the refusal"
        )
        engine.submit(AbortCanary("test"))
    assert [o["pairSymbol"] for o in sim.control.orders()] == [SYMBOL]
    _assert_ended_safe(sim, settings)


def test_loop_runs_its_cycles_apart(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    engine = run_canary(settings, plan(ttl_seconds=1.0, max_cycles=2, cycle_seconds=0.2))
    view = final_view(engine)
    assert (view.state, view.cycle, view.orders_placed) == ("finished", 2, 2)
    orders = sim.control.orders()
    assert [o["status"] for o in orders] == ["Canceled", "Canceled"]
    assert len({o["orderClientId"] for o in orders}) == 2
    assert view.verified and view.orders_open == 0
    _assert_ended_safe(sim, settings)


def test_quantized_price_is_one_step_below_the_bid_by_default() -> None:
    from btcbot_engine.domain.orders import Side
    from btcbot_engine.domain.rules import SymbolRules
    from btcbot_engine.strategies.canary import canary_order

    rules = SymbolRules(
        symbol="BTCTRY",
        base="BTC",
        quote="TRY",
        status="TRADING",
        price_scale=2,
        quantity_scale=8,
        tick_size=Decimal("10"),
        min_notional=Decimal("99.91"),
        has_fraction=False,
    )
    order = canary_order(rules, Decimal("3000005"), Decimal("150"), Decimal(0))
    assert order.price == quantize_price(rules, Side.BUY, Decimal("2999995")) == Decimal("2999990")
    assert order.quantity == Decimal("0.00005000")
    assert order.notional <= Decimal("150")


def test_lost_submit_reply_stops_and_the_order_is_found_and_cancelled(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(lost_submit_ack_remaining=1)  # booked on the exchange, reply lost
    settings = live_settings(sim, tmp_path, http_timeout_seconds=0.5)
    view = final_view(run_canary(settings, plan(ttl_seconds=60.0)))
    assert (view.state, view.stop_reason) == ("stopped", "canary:uncertain")
    [remote] = sim.control.orders()
    assert remote["status"] == "Canceled"  # resolved by client id, then cancelled
    [order] = view.orders
    assert order.client_id == remote["orderClientId"] and order.exchange_status == "Canceled"
    assert view.orders_open == 0 and view.verified
    _assert_ended_safe(sim, settings)


def test_a_second_canary_in_the_same_engine_after_rearming(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = live_settings(sim, tmp_path)
    options = RunOptions(loop=True, cycle_seconds=3600, first_cycle_now=False)
    with engine_thread(settings, options) as (engine, watcher):
        engine.submit(StartCanary(plan()))
        first = watcher.wait_for(lambda s: canary_state(s) == "finished", "the first canary")
        engine.submit(StartCanary(plan()))  # safe mode is on now: refused
        watcher.wait_for(lambda s: canary_state(s) == "refused", "the refusal")
        engine.submit(SetSafeMode(False))  # the operator re-arms (the TUI's `s`)
        engine.submit(StartCanary(plan()))
        second = watcher.wait_for(
            lambda s: canary_state(s) == "finished" and s.canary is not first.canary,
            "the second canary",
        )
        engine.stop()
    assert first.canary is not None and second.canary is not None
    ids = [o.client_id for o in first.canary.orders + second.canary.orders]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert [o["status"] for o in sim.control.orders()] == ["Canceled", "Canceled"]
    _assert_ended_safe(sim, settings)


def test_cancel_all_during_the_canary_ends_it(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = live_settings(sim, tmp_path)
    with engine_thread(settings) as (engine, watcher):
        engine.submit(StartCanary(plan(ttl_seconds=60.0, max_cycles=3)))
        watcher.wait_for(resting, "the canary order to rest")
        engine.submit(CancelAll())  # the TUI's `C`
        watcher.wait_for(lambda s: canary_state(s) == "stopped", "the canary to stop")
    view = final_view(engine)
    assert view.stop_reason == "canary:aborted" and "cancelled all" in view.detail
    assert len(sim.control.orders()) == 1  # no second canary order was placed
    _assert_ended_safe(sim, settings)
