"""The quantizer: a quantized order never violates a rule it was given (property tests)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.rules import (
    RuleViolation,
    SymbolRules,
    quantize_limit,
    quantize_market_buy,
    quantize_price,
)

BTCTRY = SymbolRules(
    symbol="BTCTRY",
    base="BTC",
    quote="TRY",
    status="TRADING",
    price_scale=2,
    quantity_scale=8,
    tick_size=Decimal("10"),
    min_notional=Decimal("99.91"),
    min_price=Decimal("300000"),
    max_price=Decimal("30000000"),
    has_fraction=False,
)


@st.composite
def rules_strategy(draw: st.DrawFn) -> SymbolRules:
    price_scale = draw(st.integers(0, 8))
    tick_exp = draw(st.integers(-price_scale - 2, 2))
    tick_mult = draw(st.sampled_from([1, 2, 5]))
    tick = Decimal(tick_mult).scaleb(tick_exp)
    low = draw(st.decimals(Decimal("0.0001"), Decimal("1000"), places=4))
    return SymbolRules(
        symbol="XTRY",
        base="X",
        quote="TRY",
        status="TRADING",
        price_scale=price_scale,
        quantity_scale=draw(st.integers(0, 8)),
        tick_size=tick,
        min_notional=draw(st.decimals(Decimal("0"), Decimal("200"), places=2)),
        min_price=draw(st.none() | st.just(low)),
        max_price=draw(st.none() | st.just(low * 1000)),
        has_fraction=draw(st.booleans()),
    )


positive = st.decimals(Decimal("0.00000001"), Decimal("100000000"), places=8)


@settings(max_examples=400, deadline=None)
@given(rules=rules_strategy(), side=st.sampled_from(list(Side)), price=positive, qty=positive)
def test_quantized_order_obeys_every_rule(
    rules: SymbolRules, side: Side, price: Decimal, qty: Decimal
) -> None:
    try:
        q = quantize_limit(rules, side, price, qty)
    except RuleViolation as exc:
        assert exc.rule in {
            "min_notional",
            "min_price",
            "max_price",
            "quantity_scale",
            "price_positive",
        }
        return
    # Scales
    assert -q.price.as_tuple().exponent <= rules.price_scale
    assert -q.quantity.normalize().as_tuple().exponent <= rules.quantity_scale
    # Tick and integer rule
    assert q.price % rules.tick_size == 0
    if not rules.has_fraction:
        assert q.price == q.price.to_integral_value()
    # Passive side and never more than asked
    assert q.price <= price if side is Side.BUY else q.price >= price
    assert q.quantity <= qty
    # Band and minimum
    if rules.min_price is not None:
        assert q.price >= rules.min_price
    if rules.max_price is not None:
        assert q.price <= rules.max_price
    assert q.notional >= rules.min_notional
    assert q.price > 0 and q.quantity > 0


def test_btctry_example() -> None:
    q = quantize_limit(BTCTRY, Side.BUY, Decimal("2500123.456"), Decimal("0.000123456789"))
    assert q.price == Decimal("2500120.00")
    assert q.quantity == Decimal("0.00012345")
    sell = quantize_limit(BTCTRY, Side.SELL, Decimal("2500121"), Decimal("0.001"))
    assert sell.price == Decimal("2500130.00")


@pytest.mark.parametrize(
    ("price", "qty", "rule"),
    [
        (Decimal("2500000"), Decimal("0.00001"), "min_notional"),
        (Decimal("100000"), Decimal("1"), "min_price"),
        (Decimal("90000000"), Decimal("1"), "max_price"),
        (Decimal("2500000"), Decimal("0.000000001"), "quantity_scale"),
        (Decimal("-1"), Decimal("1"), "price_positive"),
        (Decimal("2500000"), Decimal("0"), "quantity_positive"),
    ],
)
def test_refusals_name_the_rule(price: Decimal, qty: Decimal, rule: str) -> None:
    with pytest.raises(RuleViolation) as info:
        quantize_limit(BTCTRY, Side.BUY, price, qty)
    assert info.value.rule == rule
    assert rule in str(info.value)


def test_not_trading_and_method_refused() -> None:
    from dataclasses import replace

    with pytest.raises(RuleViolation, match="status"):
        quantize_limit(replace(BTCTRY, status="MAINTENANCE"), Side.BUY, Decimal("1e6"), Decimal(1))
    no_market = replace(BTCTRY, order_methods=frozenset({"LIMIT"}))
    with pytest.raises(RuleViolation, match="order_method"):
        quantize_market_buy(no_market, Decimal("500"))


def test_market_buy_is_quote_amount_scaled_like_price() -> None:
    assert quantize_market_buy(BTCTRY, Decimal("500.129")) == Decimal("500.12")
    with pytest.raises(RuleViolation, match="min_notional"):
        quantize_market_buy(BTCTRY, Decimal("50"))


def test_price_rounding_toward_passive_side_on_exact_tick_is_identity() -> None:
    for side in Side:
        assert quantize_price(BTCTRY, side, Decimal("2500000")) == Decimal("2500000.00")
