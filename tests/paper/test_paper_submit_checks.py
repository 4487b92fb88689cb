"""The paper submit's cached rule checks: refreshed rules take effect, scale checks stay exact."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paper_testkit import BTCTRY, Clock, FakeMarket

from btcbot_engine.domain.orders import OrderMethod, OrderRequest, Side
from btcbot_engine.domain.rules import SymbolRules, _lcm_decimal
from btcbot_engine.exchange.paper import PaperExchange, _too_fine
from btcbot_engine.exchange.port import Rejected

D = Decimal
TTL_MS = 60_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def market(clock: Clock) -> FakeMarket:
    m = FakeMarket(clock)
    m.set_book("BTCTRY", [("999000", "1")], [("1001000", "1")])
    return m


@pytest.fixture
def paper(market: FakeMarket, clock: Clock) -> PaperExchange:
    return PaperExchange(market, balances={"TRY": D("100000")}, clock_ms=clock, rules_ttl_ms=TTL_MS)


def buy(price: str, qty: str, cid: str) -> OrderRequest:
    return OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, D(qty), D(price), cid)


async def reject_reason(paper: PaperExchange, request: OrderRequest) -> str:
    with pytest.raises(Rejected) as rejected:
        await paper.submit(request)
    return rejected.value.reason


async def test_refreshed_rules_replace_the_cached_checks(
    paper: PaperExchange, market: FakeMarket, clock: Clock
) -> None:
    await paper.submit(buy("1000001", "0.01", "a"))  # tick 1: any whole price
    market.rules["BTCTRY"] = dataclasses.replace(BTCTRY, tick_size=D("100"))
    clock.tick(TTL_MS + 1)
    assert await reject_reason(paper, buy("1000001", "0.01", "b")) == "FAILED_INVALID_PRICE_SCALE"
    await paper.submit(buy("1000100", "0.01", "c"))

    market.rules["BTCTRY"] = dataclasses.replace(BTCTRY, status="HALTED")
    clock.tick(TTL_MS + 1)
    assert await reject_reason(paper, buy("1000100", "0.01", "d")) == "FAILED_LIMIT_ORDER"

    market.rules["BTCTRY"] = dataclasses.replace(BTCTRY, order_methods=frozenset({"market"}))
    clock.tick(TTL_MS + 1)
    assert await reject_reason(paper, buy("1000100", "0.01", "e")) == "ORDER_METHOD_NOT_SUPPORTED"


async def test_trailing_zeros_never_count_as_decimals(paper: PaperExchange) -> None:
    await paper.submit(buy("1000000.0000000", "0.01000000000000", "a"))  # 2 and 8 places at most
    assert await reject_reason(paper, buy("1000000", "0.000000011", "b")) == (
        "FAILED_INVALID_QUANTITY_SCALE"
    )
    assert await reject_reason(paper, buy("1000000.001", "0.01", "c")) == (
        "FAILED_INVALID_PRICE_SCALE"
    )


def _decimals_reference(value: Decimal) -> int:
    """The definition `_too_fine` must agree with: places used once trailing zeros are gone."""
    return max(0, -int(value.normalize().as_tuple().exponent))


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, places=None),
    zeros=st.integers(min_value=0, max_value=12),
    scale=st.integers(min_value=0, max_value=12),
)
def test_too_fine_agrees_with_counting_places(value: Decimal, zeros: int, scale: int) -> None:
    sign, digits, exponent = value.as_tuple()
    padded = D((sign, digits + (0,) * zeros, int(exponent) - zeros))  # same value, more zeros
    for v in (value, padded):
        assert _too_fine(v, scale) is (_decimals_reference(v) > scale)


@pytest.mark.parametrize(
    ("price_scale", "tick", "has_fraction"),
    [(2, "1", True), (2, "0.10", True), (2, "0.1", True), (4, "0.0025", True), (2, "0.5", False)],
)
def test_cached_price_step_is_the_lcm_of_its_inputs(
    price_scale: int, tick: str, has_fraction: bool
) -> None:
    rules = dataclasses.replace(
        BTCTRY, price_scale=price_scale, tick_size=D(tick), has_fraction=has_fraction
    )
    steps = [D(1).scaleb(-price_scale), D(tick)] + ([] if has_fraction else [D(1)])
    expected = _lcm_decimal(steps)
    assert rules.price_step == expected
    assert str(rules.price_step) == str(expected)  # the same representation, not only value
    assert str(rules.quantity_step) == str(D(1).scaleb(-rules.quantity_scale))


def test_accepts_reads_methods_in_any_case_even_from_a_plain_set() -> None:
    lower = dataclasses.replace(BTCTRY, order_methods=frozenset({"limit"}))
    assert lower.accepts("LIMIT") and lower.accepts("limit") and not lower.accepts("MARKET")
    untyped = SymbolRules(**{**_fields(BTCTRY), "order_methods": {"Market"}})  # type: ignore[arg-type]
    assert untyped.accepts("MARKET") and not untyped.accepts("LIMIT")


def _fields(rules: SymbolRules) -> dict[str, object]:
    return {f.name: getattr(rules, f.name) for f in dataclasses.fields(rules)}
