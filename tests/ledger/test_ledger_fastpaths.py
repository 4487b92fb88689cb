"""The ledger's shortcuts give exactly what the plain computations give, over random histories.

`mark` remembers which price values each asset (a plan per set of priced symbols), sums its five
totals in one pass and reads the day figures once; `apply_all` enters the ledger context once for
a batch; `pnl_totals_try` sums three totals in one pass. Each is compared here, Decimal repr by
Decimal repr (so exponents count too), with the straightforward computation it replaces.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal, localcontext

import pytest
from ledger_testkit import T0, D, make_fill

from btcbot_engine.domain.money import MoneyError
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.records import LedgerEvent, LedgerKind
from btcbot_engine.ledger import (
    HOME_CURRENCY,
    Ledger,
    PnlSnapshot,
    check_invariants,
    events_from_fill,
    istanbul_day_start_ms,
    opening_balance_events,
)
from btcbot_engine.ledger_events import LEDGER_CONTEXT

PAIRS = [("BTC", "TRY"), ("BTC", "USDT"), ("ETH", "TRY"), ("ETH", "USDT"), ("USDT", "TRY")]
HOUR_MS = 3_600_000


def _reference_asset_mark(
    ledger: Ledger, asset: str, marks: Mapping[str, Decimal], rates: Mapping[str, Decimal]
) -> Decimal | None:
    # The choice `mark` made per asset before plans were remembered, recomputed every time.
    if asset in rates:
        return rates[asset]
    candidates = {(p.quote, p.symbol) for p in ledger.positions() if p.base == asset}
    candidates |= {(quote, asset + quote) for quote in rates}
    for quote, symbol in sorted(candidates, key=lambda c: (c[0] != HOME_CURRENCY, c)):
        if symbol in marks and quote in rates:
            with localcontext(LEDGER_CONTEXT):
                return marks[symbol] * rates[quote]
    return None


def _sum(values: list[Decimal]) -> Decimal:
    total = D(0)
    for value in values:
        total = LEDGER_CONTEXT.add(total, value)
    return total


def _check_snapshot(ledger: Ledger, snap: PnlSnapshot, prices: dict, rates: dict) -> None:
    marks = {s.upper(): p for s, p in prices.items()}
    all_rates = {a.upper(): r for a, r in rates.items()} | {HOME_CURRENCY: D(1)}
    balances = ledger.balances()
    assert [c.asset for c in snap.cash] == sorted(balances)
    equity = D(0)
    unpriced = set()
    for cash in snap.cash:
        expected = _reference_asset_mark(ledger, cash.asset, marks, all_rates)
        assert repr(cash.mark_try) == repr(expected), cash.asset
        amount = balances[cash.asset]
        value = None if expected is None else LEDGER_CONTEXT.multiply(amount, expected)
        assert repr(cash.value_try) == repr(value), cash.asset
        if value is not None:
            equity = LEDGER_CONTEXT.add(equity, value)
        elif balances[cash.asset] != 0:
            unpriced.add(cash.asset)
    unpriced |= {
        p.symbol
        for p in ledger.positions()
        if p.quantity != 0 and (p.symbol not in marks or p.quote not in all_rates)
    }
    assert repr(snap.equity_try) == repr(equity)
    assert snap.unpriced == tuple(sorted(unpriced))
    positions = snap.positions
    for field in ("realized_try", "unrealized_try", "fees_try", "tax_try", "turnover_try"):
        expected_total = _sum([getattr(p, field) for p in positions])
        assert repr(getattr(snap, field)) == repr(expected_total), field
    day = istanbul_day_start_ms(snap.ts_ms)
    assert repr(snap.realized_today_try) == repr(ledger.realized_today_try(day))
    assert repr(snap.loss_today_try) == repr(ledger.loss_today_try(day))
    if not snap.unpriced:
        # The backtest's valuations must agree with the mark they stand in for.
        assert repr(ledger.equity_try(marks, rates)) == repr(snap.equity_try)
        valuate = ledger.valuation(list(marks), rates)
        assert valuate is not None
        assert repr(valuate(marks)) == repr(snap.equity_try)
    else:
        assert ledger.equity_try(marks, rates) is None


def _random_fill_events(rng: random.Random, held: dict[str, Decimal], i: int) -> list[LedgerEvent]:
    base, quote = rng.choice(PAIRS)
    symbol = base + quote
    have = held.get(symbol, D(0))
    sell = have > 0 and rng.random() < 0.45
    if sell:
        quantity = D(rng.randint(1, int(have.scaleb(8)))).scaleb(-8)
        if rng.random() < 0.05:
            quantity += D("0.001")  # an occasional oversell: recorded as a violation
        held[symbol] = max(have - quantity, D(0))
    else:
        quantity = D(rng.randint(1, 10**8)).scaleb(-8)
        held[symbol] = have + quantity
    fill = make_fill(
        Side.SELL if sell else Side.BUY,
        quantity,
        D(rng.randint(1, 10**9)).scaleb(-2),
        fee=D(rng.randint(0, 10**6)).scaleb(-8),
        tax=D(rng.randint(0, 10**5)).scaleb(-8),
        base=base,
        quote=quote,
        # Mostly forward in time (days roll over), sometimes a little back.
        ts_ms=T0 + i * rng.choice([HOUR_MS, 7 * HOUR_MS]) - rng.choice([0, 0, 0, HOUR_MS]),
    )
    rate = D(1) if quote == "TRY" else D(rng.randint(300_000, 400_000)).scaleb(-4)
    events = events_from_fill(fill, quote_to_try=rate)
    if quote != "TRY" and rng.random() < 0.2:
        events.insert(0, events.pop())  # the FEE_CONVERSION first: nothing waits for its rate
    if rng.random() < 0.1:
        events.append(events[0])  # an identical repeat (ignored)
    return events


@pytest.mark.parametrize("seed", range(25))
def test_mark_and_totals_match_the_plain_computations(seed: int) -> None:
    rng = random.Random(seed)
    ledger = Ledger.replay(
        opening_balance_events({"TRY": D(10) ** 9, "USDT": D(10) ** 6, "ETH": D("2")}, T0 - 1)
    )
    held: dict[str, Decimal] = {}
    for i in range(60):
        events = _random_fill_events(rng, held, i)
        before = (ledger.realized_try, ledger.fees_try, ledger.tax_try)
        assert repr(ledger.pnl_totals_try()) == repr(before)
        ledger.apply_all(events)
        after = (ledger.realized_try, ledger.fees_try, ledger.tax_try)
        assert repr(ledger.pnl_totals_try()) == repr(after)
        # Prices for a random subset of the pairs (so some marks are incomplete), in a random
        # spelling, and rates that sometimes miss USDT or name a coin directly.
        symbols = [b + q for b, q in PAIRS if rng.random() < 0.8]
        prices = {
            (s if rng.random() < 0.7 else s[:3] + "_" + s[3:]).lower(): D(
                rng.randint(1, 10**9)
            ).scaleb(-2)
            for s in symbols
        }
        rates: dict[str, Decimal] = {}
        if rng.random() < 0.85:
            rates["USDT"] = D(rng.randint(300_000, 400_000)).scaleb(-4)
        if rng.random() < 0.1:
            rates["ETH"] = D(rng.randint(1, 10**9)).scaleb(-2)
        snap = ledger.mark(prices, rates, T0 + i * 7 * HOUR_MS)
        _check_snapshot(ledger, snap, {k.replace("_", ""): v for k, v in prices.items()}, rates)


@pytest.mark.parametrize("seed", range(10))
def test_apply_all_equals_applying_one_by_one(seed: int) -> None:
    rng = random.Random(1000 + seed)
    batch, single = Ledger(), Ledger()
    held: dict[str, Decimal] = {}
    for i in range(50):
        events = _random_fill_events(rng, held, i)
        if rng.random() < 0.1:
            # Malformed and conflicting rows: recorded as violations, never raised.
            events.append(
                LedgerEvent(T0, LedgerKind.FILL, "BTC", D(1), D(1), "BTCTRY", D(1), f"bad{i}")
            )
            first = events[0]
            events.append(
                LedgerEvent(
                    first.ts_ms,
                    first.kind,
                    first.asset,
                    first.quantity + 1,
                    first.amount_quote,
                    first.symbol,
                    first.price,
                    first.ref,
                )
            )
        batch.apply_all(events)
        for event in events:
            single.apply(event)
        assert repr(batch.state()) == repr(single.state())
    assert batch.violations  # the sequence did exercise the recording paths


def test_apply_all_uses_the_ledger_context_whatever_the_callers() -> None:
    # 28 digits would round these products; the ledger keeps them exact in any thread context.
    events = events_from_fill(
        make_fill(Side.BUY, "0.12345678", "1234567.89", fee="0.12345678"), quote_to_try=D(1)
    )
    exact = Ledger.replay(events).state()
    with localcontext() as ctx:
        ctx.prec = 6
        ledger = Ledger()
        ledger.apply_all(events)
    assert repr(ledger.state()) == repr(exact)


def test_invariants_still_refuse_float_balances_and_tolerances() -> None:
    ledger = Ledger.replay(opening_balance_events({"TRY": D(100)}, T0))
    with pytest.raises(MoneyError, match="exchange balance TRY"):
        check_invariants(ledger, {"TRY": 100.0}, D("0.01"))  # type: ignore[dict-item]
    with pytest.raises(MoneyError):
        check_invariants(ledger, {"TRY": D(100)}, {"TRY": 0.5})  # type: ignore[dict-item]
    with pytest.raises(MoneyError):
        check_invariants(ledger, {"TRY": D("NaN")}, D("0.01"))


def test_balance_mismatch_difference_is_exact_under_a_narrow_caller_context() -> None:
    ledger = Ledger.replay(opening_balance_events({"BTC": D("0.123456789012345678")}, T0))
    with localcontext() as ctx:
        ctx.prec = 5
        violations = check_invariants(ledger, {"BTC": D("0.123456789012345677")}, D(0))
    assert [v.code for v in violations] == ["ledger:balance_mismatch"]
    assert "difference 0.000000000000000001" in violations[0].detail
