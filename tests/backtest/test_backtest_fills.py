"""The replay exchange's fill model on hand-made bars: trade-through, partial fills by volume,
fees and tax, taker fills at the next open with slippage, latency, cancels."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from backtest_testkit import MIN, T0, write_bars

from btcbot_engine.domain.orders import ExchangeOrderStatus, OrderMethod, OrderRequest, Side
from btcbot_engine.exchange.fill_model import FeeSchedule, round8
from btcbot_engine.exchange.replay import ReplayExchange
from btcbot_engine.replay.dataset import load_dataset
from btcbot_engine.replay.market import ReplayMarket, SimClock

D = Decimal
FEES = FeeSchedule(maker=D("0.0005"), taker=D("0.0009"), tax_share=D("0.18"))

# Bar i opens at T0 + i*MIN and closes at T0 + (i+1)*MIN.
BARS = [
    ("3000000.00", "3000100.00", "2999900.00", "3000000.00", "1.00000000"),  # 0
    (
        "3000000.00",
        "3000200.00",
        "2999000.00",
        "2999500.00",
        "0.02000000",
    ),  # 1: low touches 2999000
    ("2999500.00", "2999600.00", "2998000.00", "2998500.00", "0.02000000"),  # 2: trades through
    ("2998500.00", "2999000.00", "2997000.00", "2998000.00", "0.02000000"),  # 3: again
    ("2998000.00", "3001000.00", "2997900.00", "3000900.00", "5.00000000"),  # 4
    ("3000900.00", "3001000.00", "3000000.00", "3000500.00", "5.00000000"),  # 5
]


def _exchange(tmp_path: Path, **kw: object) -> tuple[ReplayExchange, SimClock]:
    dataset = load_dataset(write_bars(tmp_path / "ds", BARS), cache=False)
    clock = SimClock(T0 + MIN)  # after bar 0 closed
    market = ReplayMarket(dataset, clock)
    balances = {"TRY": D("1000000"), "BTC": D("1")}
    return ReplayExchange(market, balances=balances, fees=FEES, **kw), clock  # type: ignore[arg-type]


def _limit(side: Side, price: str, qty: str, cid: str = "c1") -> OrderRequest:
    return OrderRequest("BTCTRY", side, OrderMethod.LIMIT, D(qty), D(price), cid)


async def test_a_resting_buy_fills_on_trade_through_not_on_a_touch(tmp_path: Path) -> None:
    exchange, clock = _exchange(tmp_path)
    ack = await exchange.submit(_limit(Side.BUY, "2999000", "0.01"))
    clock.set(T0 + 2 * MIN)  # bar 1 closed: its low only touched 2999000
    assert await exchange.advance() == []
    assert (await exchange.order(ack.order_id)).status is ExchangeOrderStatus.UNTOUCHED
    clock.set(T0 + 3 * MIN)  # bar 2 traded through (low 2998000)
    [fill] = await exchange.advance()
    assert (fill.price, fill.quantity, fill.timestamp_ms) == (D("2999000"), D("0.01"), T0 + 2 * MIN)
    assert fill.fee == round8(D("29990.00") * FEES.maker)  # maker: it rested
    assert fill.tax == round8(fill.fee * FEES.tax_share)
    assert (await exchange.order(ack.order_id)).status is ExchangeOrderStatus.CLOSED
    total = {b.asset: b.total for b in await exchange.balances()}
    assert total["TRY"] == D("1000000") - D("29990.00") - fill.fee - fill.tax
    assert total["BTC"] == D("1.01")


async def test_partial_fills_by_the_bars_volume(tmp_path: Path) -> None:
    exchange, clock = _exchange(tmp_path, participation=D("0.5"))
    ack = await exchange.submit(_limit(Side.BUY, "2999000", "0.025"))
    clock.set(T0 + 4 * MIN)  # bars 1..3: only bars 2 and 3 trade through, 0.01 each (half of 0.02)
    fills = await exchange.advance()
    assert [f.quantity for f in fills] == [D("0.01"), D("0.01")]
    order = await exchange.order(ack.order_id)
    assert order.status is ExchangeOrderStatus.PARTIAL and order.left_quantity == D("0.005")
    # Fees accrue per order with cumulative rounding: the sum is the rounded total.
    assert sum(f.fee for f in fills) == round8(D("0.02") * D("2999000") * FEES.maker)
    assert await exchange.fills("BTCTRY", since_ms=T0 + 3 * MIN) == [fills[1]]


async def test_a_crossing_order_takes_the_next_open_with_slippage(tmp_path: Path) -> None:
    exchange, clock = _exchange(tmp_path, slippage_bps=D("10"))
    ack = await exchange.submit(_limit(Side.BUY, "3100000", "0.01", "taker"))
    assert await exchange.fills("BTCTRY") == []  # nothing at submit: the next bar decides
    clock.set(T0 + 2 * MIN)
    [fill] = await exchange.advance()
    # Bar 1 opens at 3,000,000; 10 bps worse is 3,003,000 (on the 10 TRY grid, rounded up).
    assert fill.price == D("3003000")
    assert fill.fee == round8(D("30030.00") * FEES.taker)  # taker
    assert (await exchange.order(ack.order_id)).status is ExchangeOrderStatus.CLOSED
    sell = await exchange.submit(_limit(Side.SELL, "2900000", "0.01", "seller"))
    clock.set(T0 + 3 * MIN)
    [fill] = await exchange.advance()
    assert fill.price == D("2996500")  # bar 2 opens 2,999,500; 10 bps lower, rounded down
    assert fill.order_id == sell.order_id


async def test_latency_moves_the_first_tradable_bar(tmp_path: Path) -> None:
    exchange, clock = _exchange(tmp_path, latency_ms=90_000)
    await exchange.submit(_limit(Side.BUY, "3100000", "0.01"))
    # Sent at T0+1min, active from T0+2.5min: bars 1 and 2 opened too early, bar 3 is first.
    clock.set(T0 + 3 * MIN)
    assert await exchange.advance() == []  # bar 3 has not closed yet
    clock.set(T0 + 4 * MIN)
    [fill] = await exchange.advance()
    assert (fill.price, fill.timestamp_ms) == (D("2998500"), T0 + 3 * MIN)


async def test_a_cancel_before_the_next_bar_leaves_no_fill(tmp_path: Path) -> None:
    exchange, clock = _exchange(tmp_path)
    ack = await exchange.submit(_limit(Side.SELL, "2990000", "0.5"))
    locked = {b.asset: b.locked for b in await exchange.balances()}
    assert locked["BTC"] == D("0.5")
    await exchange.cancel(ack.order_id)
    clock.set(T0 + 5 * MIN)
    assert await exchange.advance() == []
    assert (await exchange.order(ack.order_id)).status is ExchangeOrderStatus.CANCELED
    balances = {b.asset: (b.free, b.locked) for b in await exchange.balances()}
    assert balances["BTC"] == (D("1"), D("0"))


async def test_orders_are_validated_like_the_exchange(tmp_path: Path) -> None:
    from btcbot_engine.exchange.port import Rejected

    exchange, _ = _exchange(tmp_path)
    with pytest.raises(Rejected, match="FAILED_INVALID_PRICE_SCALE"):
        await exchange.submit(_limit(Side.BUY, "2999005", "0.01"))  # not on the 10 TRY tick
    with pytest.raises(Rejected, match="FAILED_MIN_TOTAL_AMOUNT"):
        await exchange.submit(_limit(Side.BUY, "2999000", "0.00001"))
    with pytest.raises(Rejected, match="BALANCE_NOT_ENOUGH"):
        await exchange.submit(_limit(Side.SELL, "2999000", "2"))
