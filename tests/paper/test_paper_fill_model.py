"""The pure fill model: through-not-touch, depth, marketable limits, market orders, fees."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.domain.market import BookLevel, OrderBook
from btcbot_engine.domain.orders import Side
from btcbot_engine.exchange.fill_model import (
    FeeSchedule,
    Liquidity,
    PaperOrder,
    is_marketable,
    match_market,
    match_marketable,
    match_resting,
    match_resting_book,
    match_resting_on_bar,
    round8,
)

D = Decimal
FEES = FeeSchedule()
STEP = D("0.00000001")


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    return OrderBook(
        symbol="BTCTRY",
        bids=tuple(BookLevel(D(p), D(q)) for p, q in bids),
        asks=tuple(BookLevel(D(p), D(q)) for p, q in asks),
        exchange_ts_ms=1,
        received_at_ms=1,
    )


def buy(price: str, qty: str) -> PaperOrder:
    return PaperOrder(Side.BUY, D(price), D(qty))


def sell(price: str, qty: str) -> PaperOrder:
    return PaperOrder(Side.SELL, D(price), D(qty))


# ---- resting orders ---------------------------------------------------------------------------


def test_touch_does_not_fill_either_side() -> None:
    touching = book([("100", "5")], [("100", "5")])
    assert match_resting(buy("100", "1"), touching, FEES) == []
    assert match_resting(sell("100", "1"), touching, FEES) == []


def test_buy_fills_only_against_asks_strictly_below_its_price() -> None:
    b = book([("95", "9")], [("99", "0.5"), ("100", "7"), ("101", "7")])
    [piece] = match_resting(buy("100", "2"), b, FEES)
    # Only the 0.5 at 99 traded through; the 7 sitting at 100 is a touch.
    assert piece.quantity == D("0.5")
    assert piece.price == D("100")  # the resting order's own price, not the ask's
    assert piece.liquidity is Liquidity.MAKER


def test_sell_fills_only_against_bids_strictly_above_its_price() -> None:
    b = book([("102", "0.25"), ("101", "0.5"), ("100", "3")], [("104", "1")])
    [piece] = match_resting(sell("100", "5"), b, FEES)
    assert piece.quantity == D("0.75")
    assert piece.price == D("100")


def test_partial_fill_by_depth_and_cap_by_left_quantity() -> None:
    b = book([], [("98", "0.3"), ("99", "0.5"), ("101", "5")])
    assert match_resting(buy("100", "2"), b, FEES)[0].quantity == D("0.8")
    assert match_resting(buy("100", "0.6"), b, FEES)[0].quantity == D("0.6")


def test_participation_scales_depth_and_quantity_step_truncates() -> None:
    b = book([], [("98", "0.3"), ("99", "0.5")])
    [piece] = match_resting(buy("100", "2"), b, FEES, participation=D("0.5"))
    assert piece.quantity == D("0.4")
    [piece] = match_resting(
        buy("100", "2"), b, FEES, participation=D("0.3333"), quantity_step=D("0.01")
    )
    assert piece.quantity == D("0.26")  # 0.8 * 0.3333 = 0.26664, down to the step
    with pytest.raises(ValueError):
        match_resting(buy("100", "2"), b, FEES, participation=D("0"))


def test_resting_maker_fee_and_tax_exact() -> None:
    b = book([], [("99", "0.8")])
    [piece] = match_resting(buy("100", "2"), b, FEES)
    assert piece.notional == D("80")
    assert piece.fee == D("0.04")  # 80 * 0.0005
    assert piece.tax == D("0.0072")  # 18% of the fee


def test_orders_share_one_snapshot_by_price_then_time_priority() -> None:
    b = book([], [("99", "1")])
    orders = [buy("100", "0.7"), buy("101", "0.6"), buy("100", "0.7")]
    per_order, rest = match_resting_book(orders, b, FEES)
    # The better price goes first, then the older of the two at 100; the depth is used once.
    assert [sum(p.quantity for p in pieces) for pieces in per_order] == [D("0.4"), D("0.6"), 0]
    assert rest.asks == ()


def test_bar_variant_fills_through_not_touch_capped_by_participation() -> None:
    o = buy("100", "5")
    assert match_resting_on_bar(o, D("100"), D("110"), D("50"), D("0.1"), FEES) == []
    [piece] = match_resting_on_bar(o, D("99.99"), D("110"), D("20"), D("0.1"), FEES)
    assert (piece.price, piece.quantity, piece.liquidity) == (D("100"), D("2"), Liquidity.MAKER)
    s = sell("100", "1")
    assert match_resting_on_bar(s, D("90"), D("100"), D("50"), D("1"), FEES) == []
    [piece] = match_resting_on_bar(s, D("90"), D("100.5"), D("50"), D("1"), FEES)
    assert piece.quantity == D("1")  # capped by what is left, not the volume


# ---- taking liquidity -------------------------------------------------------------------------


def test_marketable_limit_takes_levels_at_their_prices_then_rests() -> None:
    b = book([("98", "1")], [("100", "0.5"), ("101", "0.5"), ("102", "1")])
    o = buy("101", "1.5")
    assert is_marketable(o.side, o.price, b)
    taken = match_marketable(o, b, FEES)
    assert [(p.price, p.quantity, p.liquidity) for p in taken.slices] == [
        (D("100"), D("0.5"), Liquidity.TAKER),
        (D("101"), D("0.5"), Liquidity.TAKER),
    ]
    assert taken.quantity == D("1")  # 0.5 is left to rest at 101
    assert taken.book.asks == (BookLevel(D("102"), D("1")),)
    # Taker fees at 0.09%: 50 * 0.0009 = 0.045, then 50.5 * 0.0009 = 0.04545 on top.
    assert [p.fee for p in taken.slices] == [D("0.045"), D("0.04545")]


def test_non_crossing_limit_takes_nothing() -> None:
    b = book([("98", "1")], [("100", "1")])
    assert not is_marketable(Side.BUY, D("99"), b)
    assert match_marketable(buy("99", "1"), b, FEES).slices == ()
    assert is_marketable(Side.SELL, D("98"), b)
    assert not is_marketable(Side.SELL, D("98.5"), b)


def test_market_buy_spends_a_quote_amount() -> None:
    b = book([], [("100", "1"), ("104", "1"), ("106", "10")])
    result = match_market(Side.BUY, D("150"), b, FEES, quantity_step=STEP)
    assert [(p.price, p.quantity) for p in result.slices] == [
        (D("100"), D("1")),
        (D("104"), D("0.48076923")),  # 50 / 104, truncated to the quantity step
    ]
    assert result.done  # the 0.00000008 left cannot buy one more step
    assert result.left == D("0.00000008")
    assert sum(p.notional for p in result.slices) + result.left == D("150")


def test_market_buy_stops_at_five_percent_from_best_ask() -> None:
    b = book([], [("100", "1"), ("105", "1"), ("105.01", "10")])
    result = match_market(Side.BUY, D("1000"), b, FEES, quantity_step=STEP)
    assert [p.price for p in result.slices] == [D("100"), D("105")]  # 105 is the bound itself
    assert not result.done
    assert result.left == D("795")


def test_market_sell_walks_bids_within_five_percent() -> None:
    b = book([("100", "1"), ("96", "1"), ("94.99", "5")], [])
    result = match_market(Side.SELL, D("3"), b, FEES)
    assert [(p.price, p.quantity) for p in result.slices] == [(D("100"), D("1")), (D("96"), D("1"))]
    assert (result.left, result.done) == (D("1"), False)
    done = match_market(Side.SELL, D("1.5"), b, FEES)
    assert (done.left, done.done) == (D("0"), True)


def test_market_on_empty_side_fills_nothing() -> None:
    result = match_market(Side.BUY, D("100"), book([("1", "1")], []), FEES)
    assert result.slices == () and result.left == D("100") and not result.done


# ---- fees -------------------------------------------------------------------------------------


def test_tax_is_eighteen_percent_of_fee_as_in_the_reference_example() -> None:
    # Reference 3.12: fee 0.06297817 -> tax 0.01133607. A 100% rate makes the fee the notional.
    fee, tax, _ = FeeSchedule(taker=D("1")).charge(D("0.06297817"), Liquidity.TAKER)
    assert (fee, tax) == (D("0.06297817"), D("0.01133607"))


def test_fee_rounds_half_up_to_eight_places() -> None:
    # 0.00005 * 0.0009 = 0.000000045 -> 0.00000005 (half up); its tax 0.000000009 -> 0.00000001
    fee, tax, exact = FEES.charge(D("0.05"), Liquidity.TAKER)
    assert exact == D("0.000045")
    fee, tax, exact = FEES.charge(D("0.00005"), Liquidity.TAKER)
    assert (fee, tax, exact) == (D("0.00000005"), D("0.00000001"), D("0.000000045"))


def test_cumulative_rounding_never_charges_more_than_the_rounded_total() -> None:
    # Ten fills of exact fee 0.000000045 each: rounding each on its own would charge
    # 10 * 0.00000005 = 0.0000005; the order's exact total is 0.00000045, and that is charged.
    accrued = D(0)
    charged = D(0)
    for _ in range(10):
        fee, _tax, exact = FEES.charge(D("0.00005"), Liquidity.TAKER, accrued)
        accrued += exact
        charged += fee
    assert charged == round8(accrued) == D("0.00000045")


@given(
    notionals=st.lists(
        st.decimals(min_value=D("0.00000001"), max_value=D("100000"), places=8), max_size=30
    ),
    maker=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_fees_of_an_order_fit_its_reserve(notionals: list[Decimal], maker: list[bool]) -> None:
    total = sum(notionals, D(0))
    accrued, fees, taxes = D(0), D(0), D(0)
    for n, m in zip(notionals, maker, strict=False):
        fee, tax, exact = FEES.charge(n, Liquidity.MAKER if m else Liquidity.TAKER, accrued)
        assert fee >= 0 and tax >= 0
        accrued += exact
        fees += fee
        taxes += tax
    assert fees == round8(accrued)
    assert total + fees + taxes <= FEES.buy_reserve(total)
