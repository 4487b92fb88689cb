"""Partial fills over many cycles: the ledger equals the exchange's trade list to the last digit.

The simulator's market moves only when the drill steps it. Each round the drill pushes a
forced volume through every resting order of ours (a fraction of what is left, so most fills
are partial), then runs one engine cycle that reconciles, books the fills and places or keeps
orders. Every other pair also moves each tick, so random full fills mix in.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest
from drills_testkit import (
    drill_settings,
    exchange_net_by_symbol,
    opened_store,
    record_figure,
    run_engine,
)

from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.ledger import Ledger

ROUNDS = 16
SYMBOLS = "USDTTRY,AVAXTRY,ARBTRY"
QUANTITY_STEP = Decimal("0.01")  # all three pairs trade in hundredths


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    # TRY only: every base position in the ledger comes from fills, none from opening balances.
    with running_simulator(seed=71, tick_interval_s=0, balances={"TRY": Decimal("50000")}) as h:
        yield h


def _push_partials(sim: SimulatorHandle, rng: random.Random, side: str) -> int:
    """Trade a forced part of our open `side` orders on the next tick; returns how many.

    The mid moves to the order's price, so the spread straddles it: a buy fills from sellers
    trading at the new bid below it, a sell (the mid moving up to it) from buyers at the new ask
    above it, each by exactly the forced volume. One order per pair and tick, because one tick
    has one mid per pair; rounds alternate sides so the mid really moves each time.
    """
    pushed: set[str] = set()
    for order in sim.control.orders():
        pair = str(order["pairSymbol"])
        if order["status"] not in ("Untouched", "Partial") or order["type"] != side:
            continue
        if pair in pushed:
            continue
        left = Decimal(str(order["leftAmount"]))
        part = (left * Decimal(str(rng.uniform(0.15, 0.6)))).quantize(QUANTITY_STEP, ROUND_DOWN)
        if part <= 0:
            continue
        sim.control.set_mid_price(pair, Decimal(str(order["price"])), volume=part)
        pushed.add(pair)
    sim.control.step(1)
    return len(pushed)


@pytest.mark.usefixtures("lifted_read_quotas")
def test_partial_fills_over_many_cycles_match_the_exchange_exactly(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    rng = random.Random(7101)
    settings = drill_settings(
        sim,
        tmp_path / "state.db",
        universe_symbols=SYMBOLS,
        max_orders_per_cycle="3",
        max_notional_per_order_try="400",
        min_profit_bps="5",
        max_open_orders_per_symbol="2",  # a take-profit sell may rest beside a part-filled buy
    )
    run_engine(settings, 1)
    pushed = 0
    for round_no in range(ROUNDS):
        pushed += _push_partials(sim, rng, "buy" if round_no % 2 == 0 else "sell")
        run_engine(settings, 1)

    trades = sim.control.trades()
    per_order = Counter(int(t["orderId"]) for t in trades)
    partial_orders = sum(1 for n in per_order.values() if n > 1)
    assert pushed >= ROUNDS, "the drill pushed volume through resting orders every round"
    assert partial_orders >= 5, f"only {partial_orders} orders filled in several parts"
    assert len(trades) >= 2 * ROUNDS
    assert any(t["orderType"] == "sell" for t in trades), "take-profit sells filled too"

    with opened_store(settings) as store:
        fills = {f.trade_id: f for f in store.fills.all()}
        ledger = Ledger.replay(store.ledger.all())
    assert set(fills) == {int(t["id"]) for t in trades}, "every exchange fill, exactly once"
    for t in trades:
        f = fills[int(t["id"])]
        assert (f.price, f.quantity, f.fee, f.tax) == (
            Decimal(str(t["price"])),
            abs(Decimal(str(t["amount"]))),
            abs(Decimal(str(t["fee"]))),
            abs(Decimal(str(t["tax"]))),
        )

    net = exchange_net_by_symbol(trades)
    positions = {p.symbol: p.quantity for p in ledger.positions()}
    for symbol, quantity in net.items():
        assert positions.get(symbol, Decimal(0)) == quantity, symbol
    assert ledger.fees_try == sum(abs(Decimal(str(t["fee"]))) for t in trades)
    assert ledger.tax_try == sum(abs(Decimal(str(t["tax"]))) for t in trades)
    # And the cash: the ledger's balances are the exchange's, digit for digit.
    exchange = {a: v["total"] for a, v in sim.control.balances().items() if v["total"] != 0}
    books = {a: v for a, v in ledger.balances().items() if v != 0}
    assert books == exchange
    record_figure(
        "partial fills: trades / orders filled in parts / rounds",
        f"{len(trades)} / {partial_orders} / {ROUNDS}",
    )
