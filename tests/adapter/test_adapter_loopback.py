"""BtcturkExchange against the bundled simulator over real sockets on 127.0.0.1.

Nothing of ours is mocked: the simulator checks signatures and stamps, books orders, matches,
and injects faults (429 storms, 5xx bursts, HTML pages, slow and lost replies, malformed bodies,
clock skew). Assertions about traffic use the simulator's own request log.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from btcturk_testkit import allow_writes

from btcbot_engine.domain.orders import ExchangeOrderStatus, OrderMethod, OrderRequest, Side
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.port import (
    AuthFailed,
    ExchangeUnavailable,
    MalformedResponse,
    OrderNotFound,
    RateLimited,
    Rejected,
    SubmitUncertain,
    WriteBlocked,
)

harness = pytest.importorskip("btcbot_engine.exchange.simulator.harness")


@pytest.fixture
def sim() -> Iterator[Any]:
    # tick_interval_s=0: the market only moves on control.step(), so tests are deterministic.
    with harness.running_simulator(seed=1, tick_interval_s=0) as running:
        yield running


def client_for(sim: Any, **overrides: Any) -> BtcturkExchange:
    options: dict[str, Any] = {
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "write_guard": allow_writes,
        "timeout_s": 2.0,
        "max_total_retry_wait_s": 3.0,
        "max_retries": 3,
        "retry_base_s": 0.02,
    }
    options.update(overrides)
    return BtcturkExchange(sim.base_url, sim.graph_url, **options)


@pytest.fixture
async def client(sim: Any) -> AsyncIterator[BtcturkExchange]:
    exchange = client_for(sim)
    yield exchange
    await exchange.close()


def requests(sim: Any, method: str | None = None, path: str | None = None) -> list[Any]:
    """The simulator's request log, filtered: (monotonic_t, method, path, status)."""
    return [
        entry
        for entry in sim.control.request_log()
        if (method is None or entry[1] == method)
        and (path is None or entry[2].lower() == path.lower())
    ]


async def wait_until(condition: Any, timeout_s: float = 5.0) -> None:
    """Poll `condition()` until true (a state wait with a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


def sim_orders(sim: Any) -> list[dict[str, Any]]:
    return [o if isinstance(o, dict) else o.to_wire() for o in sim.control.orders()]


def order_request(
    price: str | None,
    quantity: str,
    *,
    side: Side = Side.BUY,
    method: OrderMethod = OrderMethod.LIMIT,
    symbol: str = "BTCTRY",
    client_id: str = "t-1",
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        method=method,
        quantity=Decimal(quantity),
        price=None if price is None else Decimal(price),
        client_id=client_id,
    )


async def passive_buy_price(client: BtcturkExchange, symbol: str = "BTCTRY") -> Decimal:
    """A valid resting buy price: ~2 % under the best bid, on the tick, inside the band."""
    rules = (await client.exchange_info())[symbol]
    book = await client.order_book(symbol, limit=1)
    assert book.best_bid is not None
    step = rules.price_step
    return ((book.best_bid * Decimal("0.98")) // step) * step


# ---------------------------------------------------------------------------------------------
# Every endpoint, happy path


async def test_public_endpoints(sim: Any, client: BtcturkExchange) -> None:
    server_ms = await client.server_time_ms()
    assert abs(server_ms - time.time() * 1000) < 2_000

    rules = await client.exchange_info()
    assert {"BTCTRY", "ETHTRY", "USDTTRY", "AVAXTRY", "BTCUSDT", "ETHUSDT"} <= set(rules)
    btc = rules["BTCTRY"]
    assert (btc.base, btc.quote) == ("BTC", "TRY")
    assert btc.tick_size == Decimal("10") and btc.has_fraction is False
    assert btc.min_notional == Decimal("99.91")
    assert btc.min_price is not None and btc.max_price is not None
    assert btc.min_price < btc.max_price

    everything = await client.tickers()
    assert {t.symbol for t in everything} >= set(rules)
    (ticker,) = await client.tickers(["BTC_TRY"])
    assert ticker.symbol == "BTCTRY"
    assert Decimal(1_000_000) < ticker.last < Decimal(10_000_000)
    assert ticker.bid <= ticker.ask
    assert await client.tickers(["NOPETRY"]) == []

    book = await client.order_book("BTCTRY", limit=10)
    assert 0 < len(book.bids) <= 10 and 0 < len(book.asks) <= 10
    assert book.best_bid is not None and book.best_ask is not None
    assert book.best_bid < book.best_ask

    now_s = int(time.time())
    candles = await client.klines("BTCTRY", 60, now_s - 24 * 3600, now_s)
    assert candles and all(c.low <= c.high for c in candles)

    with pytest.raises(Rejected, match="does not exist"):
        await client.order_book("NOPETRY")


async def test_private_endpoints_order_life_cycle(sim: Any, client: BtcturkExchange) -> None:
    balances = {b.asset: b for b in await client.balances()}
    assert balances["TRY"].total == Decimal("100000")
    assert balances["TRY"].free == Decimal("100000")

    price = await passive_buy_price(client)
    ack = await client.submit(order_request(str(price), "0.001", client_id="life-1"))
    assert ack.client_id == "life-1" and ack.symbol == "BTCTRY" and ack.side is Side.BUY
    assert ack.price == price

    (open_order,) = await client.open_orders("BTCTRY")
    assert open_order.order_id == ack.order_id
    assert open_order.status is ExchangeOrderStatus.UNTOUCHED
    assert open_order.left_quantity == Decimal("0.001")
    assert [o.order_id for o in await client.open_orders()] == [ack.order_id]

    locked = {b.asset: b for b in await client.balances()}["TRY"]
    assert locked.locked > 0 and locked.free + locked.locked == locked.total

    assert (await client.order(ack.order_id)).client_id == "life-1"
    assert [o.order_id for o in await client.all_orders("BTCTRY")] == [ack.order_id]
    found = await client.orders_by_client_id("BTCTRY", "life-1")
    assert [o.order_id for o in found] == [ack.order_id]
    assert await client.orders_by_client_id("BTCTRY", "someone-else") == []

    await client.cancel(ack.order_id)
    sim.control.step(1)  # the simulator applies accepted cancels on the next tick, like BTCTurk
    assert (await client.order(ack.order_id)).status is ExchangeOrderStatus.CANCELED
    assert await client.open_orders("BTCTRY") == []
    found = await client.orders_by_client_id("BTCTRY", "life-1")
    assert [o.status for o in found] == [ExchangeOrderStatus.CANCELED]


async def test_fills_from_marketable_orders(sim: Any, client: BtcturkExchange) -> None:
    start_ms = await client.server_time_ms()
    book = await client.order_book("BTCTRY", limit=1)
    assert book.best_ask is not None
    rules = (await client.exchange_info())["BTCTRY"]
    # A limit buy well through the ask fills at once (taker).
    through = ((book.best_ask * Decimal("1.01")) // rules.price_step) * rules.price_step
    buy = await client.submit(order_request(str(through), "0.002", client_id="fill-buy"))
    # A market sell of part of it (base quantity), and a market buy spending 500 TRY (quote).
    await client.submit(
        order_request(None, "0.001", side=Side.SELL, method=OrderMethod.MARKET, client_id="fill-s")
    )
    await client.submit(
        order_request(None, "500", side=Side.BUY, method=OrderMethod.MARKET, client_id="fill-mb")
    )
    fills = await client.fills("BTCTRY", since_ms=start_ms - 1_000)
    assert {f.client_id for f in fills} == {"fill-buy", "fill-s", "fill-mb"}
    assert [f.timestamp_ms for f in fills] == sorted(f.timestamp_ms for f in fills)
    for fill in fills:
        assert fill.quantity > 0 and fill.fee >= 0 and fill.tax >= 0
        assert fill.fee_asset == "TRY" and fill.symbol == "BTCTRY"
    sells = [f for f in fills if f.client_id == "fill-s"]
    assert sells and all(f.side is Side.SELL for f in sells)
    assert sum(f.quantity for f in sells) == Decimal("0.001")
    market_buy = [f for f in fills if f.client_id == "fill-mb"]
    spent = sum(f.price * f.quantity for f in market_buy)
    assert Decimal("490") < spent <= Decimal("500")
    assert (await client.order(buy.order_id)).status is ExchangeOrderStatus.CLOSED
    assert await client.fills("ETHTRY") == []
    assert await client.fills("BTCTRY", since_ms=int(time.time() * 1000) + 60_000) == []


# ---------------------------------------------------------------------------------------------
# Authentication and the write guard


async def test_wrong_secret_and_wrong_key_are_auth_failures(sim: Any) -> None:
    wrong_secret = client_for(sim, api_secret="d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=")
    with pytest.raises(AuthFailed, match="Invalid Signature") as info:
        await wrong_secret.balances()
    assert "d3Jvbmctc2VjcmV0" not in str(info.value)
    wrong_key = client_for(sim, api_key="00000000-0000-0000-0000-000000000000")
    with pytest.raises(AuthFailed, match="Invalid Public key"):
        await wrong_key.balances()
    keyless = client_for(sim, api_key=None, api_secret=None)
    before = len(requests(sim))
    with pytest.raises(AuthFailed, match="no API keys configured"):
        await keyless.balances()
    assert len(requests(sim)) == before
    for c in (wrong_secret, wrong_key, keyless):
        await c.close()


async def test_no_write_guard_refuses_and_nothing_reaches_the_simulator(sim: Any) -> None:
    exchange = client_for(sim, write_guard=None)
    with pytest.raises(WriteBlocked) as info:
        await exchange.submit(order_request("3000000", "0.001"))
    assert info.value.blocked_by == ("NO_WRITE_GUARD",)
    with pytest.raises(WriteBlocked):
        await exchange.cancel(1)
    assert requests(sim, "POST") == [] and requests(sim, "DELETE") == []
    assert sim_orders(sim) == []
    await exchange.close()


# ---------------------------------------------------------------------------------------------
# Business rejects


async def test_precision_band_and_min_notional_rejects(sim: Any, client: BtcturkExchange) -> None:
    price = await passive_buy_price(client)
    rules = (await client.exchange_info())["BTCTRY"]
    assert rules.min_price is not None
    cases = [
        (order_request(str(price + Decimal("0.001")), "0.001"), "FAILED_INVALID_PRICE_SCALE"),
        (order_request(str(price), "0.000000001"), "FAILED_INVALID_QUANTITY_SCALE"),
        (order_request(str(price), "0.00001"), "FAILED_MIN_TOTAL_AMOUNT"),  # ~30 TRY
        (
            order_request(str(rules.min_price / 2 // 10 * 10), "1"),
            "PRICE_MUST_BE_LESS_THAN_MINPRICE",
        ),
    ]
    for request, reason in cases:
        with pytest.raises(Rejected) as info:
            await client.submit(request)
        assert info.value.reason == reason, request
        assert info.value.http_status == 400
    assert sim_orders(sim) == []
    # A market buy below minExchangeValue (quote amount) is refused as well.
    with pytest.raises(Rejected) as info:
        await client.submit(order_request(None, "50", method=OrderMethod.MARKET))
    assert info.value.reason == "FAILED_MIN_TOTAL_AMOUNT"


async def test_unknown_order_is_order_not_found(client: BtcturkExchange) -> None:
    with pytest.raises(OrderNotFound):
        await client.order(987654321)
    with pytest.raises(OrderNotFound):
        await client.cancel(987654321)


# ---------------------------------------------------------------------------------------------
# Faults


async def test_429_storm_is_honoured(sim: Any) -> None:
    exchange = client_for(sim, max_total_retry_wait_s=5.0, max_retries=4)
    await exchange.measure_clock_offset()  # keep the storm for the call under test
    sim.control.set_faults(rate_limit_remaining=2, retry_after_s=1)
    balances = await exchange.balances()
    assert balances
    log = requests(sim, "GET", "/api/v1/users/balances")
    assert [entry[3] for entry in log] == [429, 429, 200]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(log)]
    assert all(gap >= 0.99 for gap in gaps), gaps

    # A storm longer than the retry budget ends in RateLimited, with no extra requests.
    sim.control.set_faults(rate_limit_remaining=50, retry_after_s=1)
    tight = client_for(sim, max_total_retry_wait_s=1.5, max_retries=4)
    started = time.monotonic()
    before = len(requests(sim))
    with pytest.raises(RateLimited) as info:
        await tight.tickers()
    assert info.value.retry_after == 1
    assert time.monotonic() - started < 2.0
    assert len(requests(sim)) - before == 2  # first try + one retry; another 1 s > 1.5 s budget
    await exchange.close()
    await tight.close()


async def test_429_on_submit_is_resent_after_retry_after(sim: Any, client: BtcturkExchange) -> None:
    price = await passive_buy_price(client)
    await client.measure_clock_offset()
    sim.control.set_faults(rate_limit_remaining=1, retry_after_s=1)
    ack = await client.submit(order_request(str(price), "0.001", client_id="rl-1"))
    posts = requests(sim, "POST", "/api/v1/order")
    assert [p[3] for p in posts] == [429, 200]
    assert posts[1][0] - posts[0][0] >= 0.99
    assert [o["orderClientId"] for o in sim_orders(sim)] == ["rl-1"]
    assert ack.client_id == "rl-1"


async def test_5xx_burst_is_retried_then_succeeds(sim: Any, client: BtcturkExchange) -> None:
    sim.control.set_faults(server_error_remaining=2, server_error_status=503)
    assert await client.tickers(["BTCTRY"])
    assert [e[3] for e in requests(sim, "GET", "/api/v2/ticker")] == [503, 503, 200]


async def test_html_error_page_is_a_clear_exchange_unavailable(sim: Any) -> None:
    exchange = client_for(sim, max_retries=1)
    sim.control.set_faults(server_error_remaining=5, server_error_status=502, html_errors=True)
    with pytest.raises(ExchangeUnavailable) as info:
        await exchange.tickers()
    message = str(info.value)
    assert "HTTP 502" in message and "non-JSON body" in message and "Cloudflare" in message
    assert len(message) < 500
    await exchange.close()


async def test_slow_reply_times_out_within_the_bound(sim: Any) -> None:
    exchange = client_for(sim, timeout_s=0.3, max_retries=1, max_total_retry_wait_s=0.5)
    sim.control.set_faults(slow_reply_s=1.5)
    started = time.monotonic()
    with pytest.raises(ExchangeUnavailable, match=r"no reply within 0\.3 s"):
        await exchange.tickers()
    elapsed = time.monotonic() - started
    # Two attempts of at most one timeout each, plus one backoff (<= 0.5 s budget).
    assert 0.6 <= elapsed < 2 * 0.3 + 0.5 + 0.3
    await exchange.close()


async def test_slow_submit_reply_is_uncertain_and_the_order_exists(sim: Any) -> None:
    exchange = client_for(sim, timeout_s=0.3)
    price = await passive_buy_price(exchange)
    await exchange.measure_clock_offset()
    sim.control.set_faults(slow_reply_s=1.0)
    with pytest.raises(SubmitUncertain) as info:
        await exchange.submit(order_request(str(price), "0.001", client_id="slow-1"))
    assert info.value.client_id == "slow-1"
    sim.control.set_faults(slow_reply_s=0)
    # The simulator logs a request when its (slow) reply is written: wait for that.
    await wait_until(lambda: len(requests(sim, "POST")) == 1)
    found = await exchange.orders_by_client_id("BTCTRY", "slow-1")
    assert [o.client_id for o in found] == ["slow-1"]
    await exchange.close()


async def test_lost_ack_is_uncertain_exactly_one_order_exists(
    sim: Any, client: BtcturkExchange
) -> None:
    price = await passive_buy_price(client)
    await client.measure_clock_offset()
    sim.control.set_faults(lost_submit_ack_remaining=1)
    with pytest.raises(SubmitUncertain) as info:
        await client.submit(order_request(str(price), "0.001", client_id="lost-1"))
    assert info.value.client_id == "lost-1"
    posts = requests(sim, "POST", "/api/v1/order")
    assert len(posts) == 1 and posts[0][3] == 0  # dropped without a reply, never re-sent
    assert [o["orderClientId"] for o in sim_orders(sim)] == ["lost-1"]
    found = await client.orders_by_client_id("BTCTRY", "lost-1")
    assert len(found) == 1 and found[0].price == price


@pytest.mark.parametrize(
    ("path", "call", "expected"),
    [
        (
            "/api/v2/ticker",
            lambda c: c.tickers(),
            ["data[0].pair: missing", "data[0].pair: expected"],
        ),
        (
            "/api/v1/users/balances",
            lambda c: c.balances(),
            ["data[0].asset: missing", "data[0].asset: expected"],
        ),
        (
            "/api/v2/orderbook",
            lambda c: c.order_book("BTCTRY"),
            ["data.timestamp: missing", "data.timestamp: expected"],
        ),
        (
            "/api/v1/openOrders",
            lambda c: c.open_orders("BTCTRY"),
            ["data.asks: missing", "data.asks: expected an array"],
        ),
    ],
)
async def test_malformed_replies_name_the_field(
    sim: Any, client: BtcturkExchange, path: str, call: Any, expected: list[str]
) -> None:
    await client.measure_clock_offset()
    sim.control.set_faults(malformed_remaining=2, malformed_path=path)
    messages = []
    for _ in range(2):  # the simulator alternates: drop the field, then mistype it
        with pytest.raises(MalformedResponse) as info:
            await call(client)
        messages.append(str(info.value))
    assert all(path.split("/")[-1] in m for m in messages), messages
    assert any(e in messages[0] for e in expected) or any(e in messages[1] for e in expected), (
        messages
    )
    await call(client)  # the fault is spent: the next reply parses


async def test_malformed_submit_ack_is_uncertain(sim: Any, client: BtcturkExchange) -> None:
    price = await passive_buy_price(client)
    await client.measure_clock_offset()
    sim.control.set_faults(malformed_remaining=1, malformed_path="/api/v1/order")
    with pytest.raises(SubmitUncertain, match=r"data\.id: missing"):
        await client.submit(order_request(str(price), "0.001", client_id="mal-1"))
    found = await client.orders_by_client_id("BTCTRY", "mal-1")
    assert [o.client_id for o in found] == ["mal-1"]


async def test_clock_skew_is_measured_and_stamps_corrected(sim: Any) -> None:
    sim.control.set_faults(clock_skew_ms=8_000)
    exchange = client_for(sim)
    assert await exchange.balances()  # signed call inside the skewed ±5 s window
    assert exchange.clock_offset_ms is not None
    assert abs(exchange.clock_offset_ms - 8_000) < 500
    report = await exchange.health()
    skew = next(c for c in report.checks if c.name == "clock_skew")
    assert skew.status == "FAIL"  # the host clock is 8 s off: the doctor must say so
    assert next(c for c in report.checks if c.name == "auth").status == "OK"
    await exchange.close()


async def test_skew_appearing_later_is_recovered_by_one_nonce_retry(sim: Any) -> None:
    exchange = client_for(sim)
    assert await exchange.balances()  # offset measured ~0
    sim.control.set_faults(clock_skew_ms=-9_000)
    assert await exchange.balances()  # 401 Invalid Nonce -> re-measure -> one retry
    statuses = [e[3] for e in requests(sim, "GET", "/api/v1/users/balances")]
    assert statuses == [200, 401, 200]
    assert exchange.clock_offset_ms is not None and abs(exchange.clock_offset_ms + 9_000) < 500
    await exchange.close()


async def test_nothing_listening_fails_within_the_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The port is closed again: nothing listens there now.
    exchange = BtcturkExchange(
        f"http://127.0.0.1:{port}",
        f"http://127.0.0.1:{port}",
        timeout_s=1.0,
        max_retries=2,
        max_total_retry_wait_s=0.5,
        retry_base_s=0.05,
    )
    started = time.monotonic()
    with pytest.raises(ExchangeUnavailable, match="ConnectError"):
        await exchange.server_time_ms()
    assert time.monotonic() - started < 1.0
    report = await exchange.health()
    assert not report.ok and not report.reachable
    await exchange.close()


async def test_health_against_the_simulator(client: BtcturkExchange) -> None:
    report = await client.health()
    assert report.ok, report
    assert {c.name: c.status for c in report.checks} == {
        "reachable": "OK",
        "clock_skew": "OK",
        "exchange_info": "OK",
        "auth": "OK",
    }
    assert report.clock_offset_ms is not None and abs(report.clock_offset_ms) < 500
