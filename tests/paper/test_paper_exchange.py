"""PaperExchange over a hand-built market: funds, statuses, async cancel, rejects, persistence."""

from __future__ import annotations

import dataclasses
import inspect
import json
from decimal import Decimal

import pytest
from paper_testkit import BTCTRY, Clock, FakeMarket, walk_for_floats

from btcbot_engine.domain.money import MoneyError
from btcbot_engine.domain.orders import (
    ExchangeOrderStatus,
    OrderMethod,
    OrderRequest,
    Side,
)
from btcbot_engine.exchange.fill_model import FeeSchedule
from btcbot_engine.exchange.paper import PaperExchange
from btcbot_engine.exchange.port import (
    ExchangePort,
    ExchangeUnavailable,
    OrderNotFound,
    Rejected,
)

D = Decimal
S = ExchangeOrderStatus
START = {"TRY": D("100000"), "BTC": D("0.5")}
# A limit buy of 0.01 BTC at 1,000,000 locks 10,000 + taker fee 9 + its tax 1.62.
BUY_LOCK = D("10010.62")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def market(clock: Clock) -> FakeMarket:
    m = FakeMarket(clock)
    m.set_book("BTCTRY", [("999000", "1")], [("1001000", "1")])
    m.set_book("XYZTRY", [("9.9", "1000")], [("10.1", "1000")])
    m.set_book("ABCTRY", [("999000", "1")], [("1001000", "1")])
    return m


@pytest.fixture
def paper(market: FakeMarket, clock: Clock) -> PaperExchange:
    return PaperExchange(market, balances=START, clock_ms=clock)


def limit(
    side: Side, price: str, qty: str, cid: str = "c1", symbol: str = "BTCTRY"
) -> OrderRequest:
    return OrderRequest(symbol, side, OrderMethod.LIMIT, D(qty), D(price), cid)


def market_order(side: Side, qty: str, cid: str = "m1") -> OrderRequest:
    return OrderRequest("BTCTRY", side, OrderMethod.MARKET, D(qty), None, cid)


async def bal(paper: PaperExchange) -> dict[str, tuple[Decimal, Decimal]]:
    return {b.asset: (b.free, b.locked) for b in await paper.balances()}


# ---- no keys, delegation ----------------------------------------------------------------------


def test_paper_exchange_takes_and_holds_no_keys(paper: PaperExchange) -> None:
    params = inspect.signature(PaperExchange.__init__).parameters
    suspicious = ("key", "secret", "token", "password", "credential", "sign")
    assert not [p for p in params if any(word in p.lower() for word in suspicious)]
    assert not [a for a in vars(paper) if any(word in a.lower() for word in suspicious)]
    assert isinstance(paper, ExchangePort)


async def test_public_calls_delegate_and_close_leaves_market_open(
    paper: PaperExchange, market: FakeMarket, clock: Clock
) -> None:
    assert await paper.server_time_ms() == clock.now
    assert set(await paper.exchange_info()) == {"BTCTRY", "XYZTRY", "ABCTRY"}
    assert (await paper.order_book("BTCTRY")).best_ask == D("1001000")
    assert [t.symbol for t in await paper.tickers(["BTCTRY"])] == ["BTCTRY"]
    await paper.close()
    assert not market.closed


# ---- limit orders: locks, through-not-touch, partials -----------------------------------------


async def test_limit_buy_locks_quote_with_fee_reserve(paper: PaperExchange) -> None:
    ack = await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    assert isinstance(ack.order_id, int) and ack.client_id == "c1"
    assert (await bal(paper))["TRY"] == (D("100000") - BUY_LOCK, BUY_LOCK)
    [o] = await paper.open_orders("BTCTRY")
    assert (o.status, o.left_quantity) == (S.UNTOUCHED, D("0.01"))
    assert await paper.fills("BTCTRY") == []


async def test_touch_does_not_fill_but_trade_through_does(
    paper: PaperExchange, market: FakeMarket
) -> None:
    ack = await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    market.set_book("BTCTRY", [("999000", "1")], [("1000000", "5")])  # touching: no fill
    assert await paper.advance() == []
    assert (await paper.order(ack.order_id)).status is S.UNTOUCHED

    market.set_book("BTCTRY", [("998000", "1")], [("999999", "5")])  # traded through
    [fill] = await paper.advance()
    assert (fill.price, fill.quantity, fill.side) == (D("1000000"), D("0.01"), Side.BUY)
    assert (fill.fee, fill.tax, fill.fee_asset) == (D("5"), D("0.9"), "TRY")  # maker 0.05%
    assert fill.order_id == ack.order_id and fill.client_id == "c1"
    order = await paper.order(ack.order_id)
    assert (order.status, order.left_quantity) == (S.CLOSED, D("0"))
    # 10,000 + 5 fee + 0.9 tax spent, the unused fee reserve released, nothing left locked.
    assert await bal(paper) == {"TRY": (D("89994.1"), D("0")), "BTC": (D("0.51"), D("0"))}
    assert await paper.open_orders() == []


async def test_partial_fill_by_depth_releases_funds_exactly(
    paper: PaperExchange, market: FakeMarket
) -> None:
    ack = await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    market.set_book("BTCTRY", [("998000", "1")], [("999000", "0.003"), ("999500", "0.001")])
    [fill] = await paper.advance()
    assert fill.quantity == D("0.004")
    order = await paper.order(ack.order_id)
    assert (order.status, order.left_quantity, order.filled_quantity) == (
        S.PARTIAL,
        D("0.006"),
        D("0.004"),
    )
    # Spent 4,000 + fee 2 + tax 0.36 out of the lock; BTC arrives free.
    assert await bal(paper) == {
        "TRY": (D("100000") - BUY_LOCK, BUY_LOCK - D("4002.36")),
        "BTC": (D("0.504"), D("0")),
    }


async def test_limit_sell_locks_base_and_pays_fees_from_proceeds(
    paper: PaperExchange, market: FakeMarket
) -> None:
    ack = await paper.submit(limit(Side.SELL, "1002000", "0.1"))
    assert (await bal(paper))["BTC"] == (D("0.4"), D("0.1"))
    market.set_book("BTCTRY", [("1002001", "0.04")], [("1003000", "1")])
    [fill] = await paper.advance()
    assert (fill.price, fill.quantity, fill.fee, fill.tax) == (
        D("1002000"),
        D("0.04"),
        D("20.04"),
        D("3.6072"),
    )
    assert (await paper.order(ack.order_id)).status is S.PARTIAL
    assert await bal(paper) == {
        "TRY": (D("100000") + D("40080") - D("20.04") - D("3.6072"), D("0")),
        "BTC": (D("0.4"), D("0.06")),
    }


async def test_same_snapshot_never_fills_twice(paper: PaperExchange, market: FakeMarket) -> None:
    await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    market.set_book("BTCTRY", [("998000", "1")], [("999000", "0.002")])
    assert len(await paper.advance()) == 1
    assert await paper.advance() == []  # nothing new traded: the market did not move
    assert paper.last_skipped == {"BTCTRY": "book:already_matched"}
    market.set_book("BTCTRY", [("998000", "1")], [("999000", "0.002")])  # a new snapshot
    assert len(await paper.advance()) == 1


async def test_marketable_limit_takes_at_submit_then_rests(
    paper: PaperExchange, market: FakeMarket
) -> None:
    market.set_book("BTCTRY", [("998000", "1")], [("1000000", "0.004"), ("1001000", "0.003")])
    ack = await paper.submit(limit(Side.BUY, "1001000", "0.01"))
    takes = await paper.fills("BTCTRY")
    assert [(f.price, f.quantity) for f in takes] == [
        (D("1000000"), D("0.004")),
        (D("1001000"), D("0.003")),
    ]
    # Taker fee 0.09%: 4000 * 0.0009 = 3.6 (tax 0.648); 3003 * 0.0009 = 2.7027 (tax 0.486486).
    assert [(f.fee, f.tax) for f in takes] == [(D("3.6"), D("0.648")), (D("2.7027"), D("0.486486"))]
    order = await paper.order(ack.order_id)
    assert (order.status, order.left_quantity) == (S.PARTIAL, D("0.003"))
    # The submit-time fills are reported by the next advance; the same snapshot adds nothing.
    assert await paper.advance() == takes
    # A second buy against the same snapshot cannot take the depth the first one used.
    await paper.submit(limit(Side.BUY, "1001000", "0.002", cid="c2"))
    assert len(await paper.fills("BTCTRY")) == 2


# ---- market orders ----------------------------------------------------------------------------


async def test_market_buy_spends_quote_within_five_percent(
    paper: PaperExchange, market: FakeMarket
) -> None:
    market.set_book(
        "BTCTRY",
        [("999000", "1")],
        [("1000000", "0.001"), ("1050000", "0.001"), ("1050001", "1")],
    )
    ack = await paper.submit(market_order(Side.BUY, "5000"))
    assert ack.price is None and ack.quantity == D("5000")
    fills = await paper.fills("BTCTRY")
    assert [(f.price, f.quantity) for f in fills] == [
        (D("1000000"), D("0.001")),
        (D("1050000"), D("0.001")),
    ]
    order = await paper.order(ack.order_id)
    # The band stopped it: the rest (in quote, the order's unit) is dropped, funds released.
    assert (order.status, order.left_quantity, order.price) == (S.CANCELED, D("2950"), D("1000000"))
    spent = D("2050") + sum(f.fee + f.tax for f in fills)
    assert await bal(paper) == {"TRY": (D("100000") - spent, D("0")), "BTC": (D("0.502"), D("0"))}


async def test_market_sell_fills_and_closes(paper: PaperExchange, market: FakeMarket) -> None:
    ack = await paper.submit(market_order(Side.SELL, "0.2"))
    order = await paper.order(ack.order_id)
    assert (order.status, order.left_quantity) == (S.CLOSED, D("0"))
    [fill] = await paper.fills("BTCTRY")
    assert (fill.price, fill.quantity, fill.fee) == (D("999000"), D("0.2"), D("179.82"))
    assert (await bal(paper))["BTC"] == (D("0.3"), D("0"))


# ---- cancel -----------------------------------------------------------------------------------


async def test_cancel_is_asynchronous_and_releases_funds(
    paper: PaperExchange, market: FakeMarket
) -> None:
    ack = await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    await paper.cancel(ack.order_id)
    # Accepted, not done: still open and still holding funds until the next advance.
    assert [o.order_id for o in await paper.open_orders()] == [ack.order_id]
    assert (await bal(paper))["TRY"][1] == BUY_LOCK
    await paper.cancel(ack.order_id)  # asking twice is harmless
    market.set_book("BTCTRY", [("998000", "1")], [("990000", "5")])  # would fill it
    assert await paper.advance() == []  # the cancel is applied before matching
    order = await paper.order(ack.order_id)
    assert (order.status, order.left_quantity) == (S.CANCELED, D("0.01"))
    assert await bal(paper) == {"TRY": (D("100000"), D("0")), "BTC": (D("0.5"), D("0"))}
    with pytest.raises(Rejected) as closed:
        await paper.cancel(ack.order_id)
    assert closed.value.reason == "ORDER_COULD_NOT_BE_CANCELED"


async def test_unknown_order_ids(paper: PaperExchange) -> None:
    with pytest.raises(OrderNotFound) as by_cancel:
        await paper.cancel(424242)
    assert by_cancel.value.reason == "NO_ORDER_MATCHES_YOUR_REQUEST"
    with pytest.raises(OrderNotFound):
        await paper.order(424242)


# ---- rejects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (limit(Side.BUY, "1000000", "0.01", symbol="NOPETRY"), "Pair NOPETRY does not exists."),
        (limit(Side.BUY, "1000000.5", "0.01"), "FAILED_INVALID_PRICE_SCALE"),
        (limit(Side.BUY, "1000000.123", "0.01"), "FAILED_INVALID_PRICE_SCALE"),
        (limit(Side.BUY, "1000000", "0.000000001"), "FAILED_INVALID_QUANTITY_SCALE"),
        (limit(Side.BUY, "1000000", "0.00009"), "FAILED_MIN_TOTAL_AMOUNT"),
        (limit(Side.BUY, "10000001", "0.01"), "PRICE_MUST_BE_LESS_THAN_MAXPRICE"),
        (limit(Side.BUY, "99999", "0.01"), "PRICE_MUST_BE_LESS_THAN_MINPRICE"),
        (limit(Side.BUY, "1000000", "0.2"), "BALANCE_NOT_ENOUGH"),
        (limit(Side.SELL, "1000000", "0.6"), "BALANCE_NOT_ENOUGH"),
        (limit(Side.BUY, "1000000", "0"), "FAILED_ORDER_PARAMETER"),
        (market_order(Side.BUY, "99.99"), "FAILED_MIN_TOTAL_AMOUNT"),
        (market_order(Side.BUY, "100.001"), "FAILED_INVALID_QUANTITY_SCALE"),
        (market_order(Side.SELL, "0.0001"), "FAILED_MIN_TOTAL_AMOUNT"),
        (
            OrderRequest("XYZTRY", Side.BUY, OrderMethod.MARKET, D("500"), None, "x"),
            "ORDER_METHOD_NOT_SUPPORTED",
        ),
        (
            OrderRequest("BTCTRY", Side.BUY, OrderMethod.STOP_LIMIT, D("1"), D("1000000"), "x"),
            "ORDER_METHOD_NOT_SUPPORTED",
        ),
        (limit(Side.BUY, "1000000", "0.01", symbol="ABCTRY"), "FAILED_LIMIT_ORDER"),
    ],
)
async def test_rejects_carry_the_exchange_reason_and_leave_no_trace(
    paper: PaperExchange, request_: OrderRequest, reason: str
) -> None:
    before = await bal(paper)
    with pytest.raises(Rejected) as rejected:
        await paper.submit(request_)
    assert rejected.value.reason == reason
    assert await bal(paper) == before
    assert await paper.all_orders("BTCTRY") == []


async def test_open_orders_holding_the_funds_is_its_own_reason(paper: PaperExchange) -> None:
    await paper.submit(limit(Side.BUY, "1000000", "0.09"))  # locks ~90,095 TRY
    with pytest.raises(Rejected) as rejected:
        await paper.submit(limit(Side.BUY, "1000000", "0.01", cid="c2"))
    assert rejected.value.reason == "FAILED_ORDER_WITH_OPEN_ORDERS"


async def test_symbol_spelling_is_normalized(paper: PaperExchange) -> None:
    ack = await paper.submit(limit(Side.BUY, "1000000", "0.01", symbol="btc_try"))
    assert ack.symbol == "BTCTRY"
    assert len(await paper.open_orders("BTC_TRY")) == 1


async def test_float_money_is_refused(paper: PaperExchange) -> None:
    bad = OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, 0.01, D("1000000"), "f")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        await paper.submit(bad)


# ---- no data, no fills ------------------------------------------------------------------------


async def test_failed_stale_or_crossed_book_gives_no_fills(
    paper: PaperExchange, market: FakeMarket
) -> None:
    await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    market.set_book("BTCTRY", [("998000", "1")], [("990000", "5")])
    market.failing.add("BTCTRY")
    assert await paper.advance() == []
    assert paper.last_skipped == {"BTCTRY": "book:unavailable:ExchangeUnavailable"}
    market.failing.clear()
    market.set_book("BTCTRY", [("998000", "1")], [("990000", "5")], age_ms=10_001)
    assert await paper.advance() == []
    assert paper.last_skipped == {"BTCTRY": "book:stale"}
    market.set_book("BTCTRY", [("995000", "1")], [("990000", "5")])
    assert await paper.advance() == []
    assert paper.last_skipped == {"BTCTRY": "book:crossed"}
    market.set_book("BTCTRY", [("989000", "1")], [("990000", "5")])
    assert len(await paper.advance()) == 1
    assert paper.last_skipped == {}


async def test_submit_without_a_book_books_nothing(
    paper: PaperExchange, market: FakeMarket
) -> None:
    market.failing.add("BTCTRY")
    with pytest.raises(ExchangeUnavailable):
        await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    market.failing.clear()
    market.set_book("BTCTRY", [("999000", "1")], [("1001000", "1")], age_ms=60_000)
    with pytest.raises(ExchangeUnavailable):
        await paper.submit(limit(Side.BUY, "1000000", "0.01"))
    assert await paper.all_orders("BTCTRY") == []
    assert await bal(paper) == {"TRY": (D("100000"), D("0")), "BTC": (D("0.5"), D("0"))}


# ---- queries ----------------------------------------------------------------------------------


async def test_queries_by_client_id_time_and_order(
    paper: PaperExchange, market: FakeMarket, clock: Clock
) -> None:
    a = await paper.submit(limit(Side.BUY, "990000", "0.001", cid="a"))
    clock.tick()
    b = await paper.submit(limit(Side.BUY, "991000", "0.001", cid="b"))
    clock.tick()
    c = await paper.submit(limit(Side.SELL, "1010000", "0.001", cid="a"))
    assert [o.order_id for o in await paper.all_orders("BTCTRY")] == [
        c.order_id,
        b.order_id,
        a.order_id,
    ]
    assert [o.order_id for o in await paper.all_orders("BTCTRY", limit=2)] == [
        c.order_id,
        b.order_id,
    ]
    started_b = (await paper.order(b.order_id)).updated_ms
    assert len(await paper.all_orders("BTCTRY", start_ms=started_b)) == 2
    assert [o.order_id for o in await paper.orders_by_client_id("BTCTRY", "a")] == [
        a.order_id,
        c.order_id,
    ]
    market.set_book("BTCTRY", [("1020000", "1")], [("1030000", "1")])
    clock.tick()
    [fill] = await paper.advance()
    assert fill.order_id == c.order_id
    assert await paper.fills("BTCTRY", since_ms=fill.timestamp_ms) == [fill]
    assert await paper.fills("BTCTRY", since_ms=fill.timestamp_ms + 1) == []
    assert await paper.fills("XYZTRY") == []


async def test_ids_are_ints_and_trade_ids_exceed_float_precision(
    paper: PaperExchange, market: FakeMarket, clock: Clock
) -> None:
    await paper.submit(market_order(Side.SELL, "0.01"))
    [fill] = await paper.fills("BTCTRY")
    assert isinstance(fill.trade_id, int) and fill.trade_id > 2**53
    custom = PaperExchange(
        market, balances=START, clock_ms=clock, order_id_start=7, trade_id_start=100
    )
    ack = await custom.submit(market_order(Side.SELL, "0.01"))
    assert ack.order_id == 7
    assert [f.trade_id for f in await custom.fills("BTCTRY")] == [100]


# ---- persistence and types --------------------------------------------------------------------


async def _busy(paper: PaperExchange, market: FakeMarket) -> None:
    await paper.submit(limit(Side.BUY, "1000000", "0.01", cid="r1"))
    await paper.submit(limit(Side.SELL, "1005000", "0.05", cid="r2"))
    await paper.submit(limit(Side.BUY, "995000", "0.002", cid="r3"))
    market.set_book("BTCTRY", [("998000", "1")], [("999999", "0.004"), ("1006000", "1")])
    await paper.advance()  # r1 partly filled
    market.set_book("BTCTRY", [("1005001", "0.02")], [("1006000", "1")])
    await paper.submit(limit(Side.BUY, "1006000", "0.001", cid="r4"))  # takes at submit
    await paper.advance()  # r2 partly filled
    await paper.cancel((await paper.orders_by_client_id("BTCTRY", "r3"))[0].order_id)
    await paper.submit(market_order(Side.BUY, "333.33"))


async def test_state_round_trip_is_exact_and_behaves_the_same(
    paper: PaperExchange, market: FakeMarket, clock: Clock
) -> None:
    await _busy(paper, market)
    state = paper.to_state()
    assert walk_for_floats(state) == []
    blob = json.dumps(state)  # JSON-safe as is
    restored = PaperExchange.from_state(market, json.loads(blob), clock_ms=clock)
    assert restored.to_state() == state
    assert await restored.balances() == await paper.balances()
    assert await restored.all_orders("BTCTRY") == await paper.all_orders("BTCTRY")
    assert await restored.fills("BTCTRY") == await paper.fills("BTCTRY")
    # Same next step from the same market: same fills (ids included), same state.
    market.set_book("BTCTRY", [("989000", "1")], [("990000", "1")])
    assert await restored.advance() == await paper.advance()
    market.set_book("BTCTRY", [("1005001", "1")], [("1006000", "1")])
    assert len(await restored.advance()) == 1
    assert len(await paper.advance()) == 1
    assert restored.to_state() == paper.to_state()


def test_state_of_another_version_is_refused(market: FakeMarket) -> None:
    with pytest.raises(ValueError):
        PaperExchange.from_state(market, {"version": 99})


async def test_no_floats_anywhere(paper: PaperExchange, market: FakeMarket) -> None:
    await _busy(paper, market)
    everything = [
        await paper.balances(),
        await paper.open_orders(),
        await paper.all_orders("BTCTRY"),
        await paper.fills("BTCTRY"),
        paper.to_state(),
    ]
    assert walk_for_floats(everything) == []
    for fill in await paper.fills("BTCTRY"):
        for f in dataclasses.fields(fill):
            value = getattr(fill, f.name)
            assert not isinstance(value, float)
            if f.name in ("price", "quantity", "fee", "tax"):
                assert isinstance(value, Decimal)


async def test_custom_fee_schedule_is_used(market: FakeMarket, clock: Clock) -> None:
    paper = PaperExchange(
        market, balances=START, clock_ms=clock, fees=FeeSchedule(taker=D("0.002"))
    )
    await paper.submit(market_order(Side.SELL, "0.1"))
    [fill] = await paper.fills("BTCTRY")
    assert (fill.fee, fill.tax) == (D("199.8"), D("35.964"))


def test_rules_fixture_matches_the_tests() -> None:
    assert BTCTRY.price_step == D("1")
