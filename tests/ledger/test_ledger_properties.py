"""Properties of the ledger over random trade sequences (never selling more than held):
conservation, replay determinism, partial-fill splitting, and no float anywhere."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_testkit import FEES, PAIRS, PRICES, QUANTITIES, RATES, T0, D, find_floats, make_fill

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.records import LedgerEvent
from btcbot_engine.ledger import Ledger, LedgerState, events_from_fill, opening_balance_events

FAST = settings(max_examples=60, deadline=None)


@dataclass(frozen=True)
class Plan:
    base: str
    quote: str
    rate: Decimal  # the quote's TRY rate, constant over the plan
    fills: tuple[Fill, ...]
    opening: tuple[LedgerEvent, ...]

    @property
    def symbol(self) -> str:
        return self.base + self.quote

    def events_for(self, fill: Fill) -> list[LedgerEvent]:
        return events_from_fill(fill, quote_to_try=self.rate)

    def all_events(self) -> list[LedgerEvent]:
        return [*self.opening, *(e for f in self.fills for e in self.events_for(f))]

    def prices(self, price: Decimal) -> dict[str, Decimal]:
        return {self.symbol: price}

    def rates(self) -> dict[str, Decimal]:
        return {self.quote: self.rate}


@st.composite
def plans(draw: st.DrawFn, *, price: Decimal | None = None, max_fills: int = 12) -> Plan:
    """Random buys and sells of one pair; a sell never exceeds the position."""
    base, quote = draw(PAIRS)
    rate = D(1) if quote == "TRY" else draw(RATES)
    held = D(0)
    fills = []
    for i in range(draw(st.integers(1, max_fills))):
        if held > 0 and draw(st.booleans()):
            side = Side.SELL
            quantity = D(draw(st.integers(1, int(held.scaleb(8))))).scaleb(-8)
            held -= quantity
        else:
            side = Side.BUY
            quantity = draw(QUANTITIES)
            held += quantity
        fills.append(
            make_fill(
                side,
                quantity,
                price if price is not None else draw(PRICES),
                fee=draw(FEES),
                tax=draw(FEES),
                base=base,
                quote=quote,
                ts_ms=T0 + i * 1000,
            )
        )
    # Plenty of quote to spend, and some base coins held from before the bot (no cost basis):
    # they count in equity but are never sold, since sells only reduce what was bought.
    opening = opening_balance_events(
        {quote: D(10) ** 10, base: draw(QUANTITIES | st.just(D(0)))}, T0 - 1
    )
    return Plan(base, quote, rate, tuple(fills), tuple(opening))


def _signed(fill: Fill) -> tuple[Decimal, Decimal]:
    """(base delta, quote delta before fees) of one fill."""
    if fill.side is Side.BUY:
        return fill.quantity, -fill.notional
    return -fill.quantity, fill.notional


# -- (1) conservation ----------------------------------------------------------------------------


@FAST
@given(price=PRICES, data=st.data())
def test_cash_moves_by_the_fill_and_equity_by_minus_costs_at_constant_price(
    price: Decimal, data: st.DataObject
) -> None:
    plan = data.draw(plans(price=price))
    ledger = Ledger.replay(plan.opening)
    equity = ledger.mark(plan.prices(price), plan.rates(), T0).equity_try
    for fill in plan.fills:
        base_before, quote_before = ledger.cash(plan.base), ledger.cash(plan.quote)
        ledger.apply_all(plan.events_for(fill))
        base_delta, quote_delta = _signed(fill)
        assert ledger.cash(plan.base) - base_before == base_delta
        assert ledger.cash(plan.quote) - quote_before == quote_delta - fill.fee - fill.tax
        # Swapping quote for base at the mark price is value-neutral: only the costs leave.
        new_equity = ledger.mark(plan.prices(price), plan.rates(), fill.timestamp_ms).equity_try
        assert new_equity - equity == -(fill.fee + fill.tax) * plan.rate
        equity = new_equity
    snap = ledger.mark(plan.prices(price), plan.rates(), T0)
    assert snap.fees_try == sum((f.fee for f in plan.fills), D(0)) * plan.rate
    assert snap.tax_try == sum((f.tax for f in plan.fills), D(0)) * plan.rate
    assert ledger.violations == ()


@FAST
@given(mark=PRICES, data=st.data())
def test_net_pnl_equals_equity_change(mark: Decimal, data: st.DataObject) -> None:
    plan = data.draw(plans())
    start = Ledger.replay(plan.opening).mark(plan.prices(mark), plan.rates(), T0).equity_try
    ledger = Ledger.replay(plan.all_events())
    snap = ledger.mark(plan.prices(mark), plan.rates(), T0)
    costs = snap.fees_try + snap.tax_try
    assert snap.net_pnl_try == snap.realized_try + snap.unrealized_try - costs
    assert snap.net_pnl_try == snap.equity_try - start
    position = ledger.position(plan.symbol)
    assert position is not None
    assert position.quantity >= 0
    assert position.realized_try == position.realized_quote * plan.rate
    assert snap.turnover_try == sum((f.notional for f in plan.fills), D(0)) * plan.rate
    assert ledger.violations == ()


# -- (2) replay determinism ----------------------------------------------------------------------


@FAST
@given(data=st.data())
def test_replay_equals_incremental_apply(data: st.DataObject) -> None:
    plan = data.draw(plans())
    events = plan.all_events()
    marks = data.draw(st.lists(PRICES, min_size=len(events), max_size=len(events)))

    incremental = Ledger()
    for event in events:
        incremental.apply(event)
    replayed = Ledger.replay(events)
    assert incremental.state() == replayed.state()
    final = data.draw(PRICES)
    assert incremental.mark(plan.prices(final), plan.rates(), T0) == replayed.mark(
        plan.prices(final), plan.rates(), T0
    )

    # The peak depends on when marks happened: the same events and marks in the same order
    # reproduce it, and every snapshot along the way.
    def run() -> tuple[list[object], LedgerState]:
        ledger = Ledger()
        snaps: list[object] = []
        for event, price in zip(events, marks, strict=True):
            ledger.apply(event)
            snaps.append(ledger.mark(plan.prices(price), plan.rates(), event.ts_ms))
        return snaps, ledger.state()

    assert run() == run()

    # A replay that sees every event twice books each once.
    doubled = Ledger.replay([*events, *events]).state()
    assert doubled.duplicates_ignored == len(events)
    assert dataclasses.replace(doubled, duplicates_ignored=0) == Ledger.replay(events).state()


# -- (3) partial fills ---------------------------------------------------------------------------


def _split(data: st.DataObject, total: Decimal, parts: int, *, allow_zero: bool) -> list[Decimal]:
    """Split an 8-dp amount into `parts` 8-dp pieces that sum to it exactly."""
    units = int(total.scaleb(8))
    if parts == 1:
        return [total]
    if allow_zero:
        cuts = data.draw(st.lists(st.integers(0, units), min_size=parts - 1, max_size=parts - 1))
    else:
        cuts = data.draw(
            st.lists(st.integers(1, units - 1), min_size=parts - 1, max_size=parts - 1, unique=True)
        )
    bounds = [0, *sorted(cuts), units]
    return [D(b - a).scaleb(-8) for a, b in pairwise(bounds)]


@FAST
@given(data=st.data())
def test_splitting_fills_into_partials_changes_nothing(data: st.DataObject) -> None:
    plan = data.draw(plans(max_fills=8))
    split_fills = []
    for fill in plan.fills:
        units = int(fill.quantity.scaleb(8))
        parts = data.draw(st.integers(1, min(units, 5)))
        quantities = _split(data, fill.quantity, parts, allow_zero=False)
        fees = _split(data, fill.fee, parts, allow_zero=True)
        taxes = _split(data, fill.tax, parts, allow_zero=True)
        split_fills += [
            make_fill(
                fill.side,
                q,
                fill.price,
                fee=f,
                tax=t,
                base=plan.base,
                quote=plan.quote,
                ts_ms=fill.timestamp_ms,
            )
            for q, f, t in zip(quantities, fees, taxes, strict=True)
        ]
    split_plan = dataclasses.replace(plan, fills=tuple(split_fills))
    whole = Ledger.replay(plan.all_events())
    pieces = Ledger.replay(split_plan.all_events())

    assert pieces.balances() == whole.balances()
    a, b = whole.position(plan.symbol), pieces.position(plan.symbol)
    assert a is not None and b is not None
    assert dataclasses.replace(b, fills=a.fills) == a  # quantity, cost, avg, realized, costs
    mark = data.draw(PRICES)
    snap_whole = whole.mark(plan.prices(mark), plan.rates(), T0)
    snap_pieces = pieces.mark(plan.prices(mark), plan.rates(), T0)
    assert snap_pieces == snap_whole


# -- (4) never a float ---------------------------------------------------------------------------


@FAST
@given(mark=PRICES, data=st.data())
def test_no_float_anywhere(mark: Decimal, data: st.DataObject) -> None:
    plan = data.draw(plans())
    ledger = Ledger.replay(plan.all_events())
    snap = ledger.mark(plan.prices(mark), plan.rates(), T0)
    assert find_floats(snap) == []
    assert find_floats(ledger.state(), "state") == []
    assert find_floats(plan.all_events(), "events") == []
    for position in snap.positions:
        for field in dataclasses.fields(position):
            value = getattr(position, field.name)
            assert isinstance(value, (str, Decimal)) or value is None, field.name


def test_find_floats_finds_them() -> None:
    @dataclass(frozen=True)
    class Leaky:
        nested: tuple[object, ...]

    assert find_floats(Leaky((D(1), {"x": 0.5}))) == ["snapshot.nested[1]['x']"]
