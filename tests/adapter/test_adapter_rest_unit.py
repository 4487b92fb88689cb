"""BtcturkExchange over a scripted httpx transport: exact control of every reply and failure.

Only the socket is replaced (httpx.MockTransport); the adapter's limiter, guard, signing, retry
and parsing all run for real. The loopback tests against the simulator are in
test_adapter_loopback.py.
"""

from __future__ import annotations

import logging
import re
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from btcturk_testkit import PRIVATE_KEY, PUBLIC_KEY, Router, allow_writes, envelope, json_response

from btcbot_engine.domain.orders import OrderMethod, OrderRequest, Side
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange, skew_status
from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.port import (
    AuthFailed,
    ExchangePort,
    ExchangeUnavailable,
    MalformedResponse,
    OrderNotFound,
    RateLimited,
    Rejected,
    SubmitUncertain,
    WriteBlocked,
)

BASE = "https://api.example.test"
GRAPH = "https://graph.example.test"

ORDER = {
    "id": 16060237,
    "price": "66867.00",
    "amount": "0.04971904",
    "quantity": "0.04971904",
    "stopPrice": "0.00",
    "pairSymbol": "BTCTRY",
    "pairSymbolNormalized": "BTC_TRY",
    "type": "sell",
    "method": "limit",
    "orderClientId": "cid-1",
    "time": 0,
    "updateTime": 1591286411913,
    "status": "Untouched",
    "leftAmount": "0.04971904",
}

ACK = {
    "id": 21770789256,
    "quantity": "0.001",
    "price": "3000000",
    "stopPrice": None,
    "newOrderClientId": "cid-1",
    "type": "buy",
    "method": "limit",
    "pairSymbol": "BTCTRY",
    "pairSymbolNormalized": "BTC_TRY",
    "datetime": 1713439781304,
}

LIMIT_BUY = OrderRequest(
    symbol="BTCTRY",
    side=Side.BUY,
    method=OrderMethod.LIMIT,
    quantity=Decimal("0.00100"),
    price=Decimal("3.0E+6"),
    client_id="cid-1",
)


def fill_row(trade_id: int, ts: int, amount: str, symbol: tuple[str, str] = ("BTC", "TRY")) -> dict:
    return {
        "id": trade_id,
        "timestamp": ts,
        "amount": amount,
        "fee": "-0.1",
        "tax": "-0.02",
        "price": "3000000.00",
        "numeratorSymbol": symbol[0],
        "denominatorSymbol": symbol[1],
        "orderType": "sell" if amount.startswith("-") else "buy",
        "orderId": 7,
        "orderClientId": "cid-1",
    }


def make(router: Router, **kwargs: Any) -> BtcturkExchange:
    options: dict[str, Any] = {
        "api_key": PUBLIC_KEY,
        "api_secret": PRIVATE_KEY,
        "write_guard": allow_writes,
        "timeout_s": 1.0,
        "max_total_retry_wait_s": 1.0,
        "max_retries": 3,
        "retry_base_s": 0.01,
        "transport": httpx.MockTransport(router),
    }
    options.update(kwargs)
    return BtcturkExchange(BASE, GRAPH, **options)


def ok(data: Any) -> httpx.Response:
    return json_response(200, envelope(data))


def reject(message: str, code: int, status: int = 400) -> httpx.Response:
    body = {"httpStatusCode": status, "data": None, "success": False, "message": message}
    return json_response(status, body | {"code": code})


def html(status: int) -> httpx.Response:
    page = (
        f"<html><head><title>{status} Error</title></head><body>{'cloudflare ' * 50}</body></html>"
    )
    return httpx.Response(status, text=page, headers={"Content-Type": "text/html"})


# ---------------------------------------------------------------------------------------------
# Shape, secrets, signing


def test_implements_the_port() -> None:
    assert isinstance(make(Router()), ExchangePort)


def test_repr_and_str_hide_secrets() -> None:
    client = make(Router())
    for text in (repr(client), str(client), repr(vars(client))):
        assert PUBLIC_KEY not in text and PRIVATE_KEY not in text
    assert "keys=configured" in repr(client)


async def test_signed_headers_follow_the_reference() -> None:
    router = Router().on("GET", "/api/v1/users/balances", ok([]))
    client = make(router)
    await client.balances()
    await client.balances()
    signed = [r for r in router.requests if r.url.path == "/api/v1/users/balances"]
    stamps = []
    for request in signed:
        stamp = request.headers["X-Stamp"]
        assert re.fullmatch(r"\d{13}", stamp)
        assert request.headers["X-PCK"] == PUBLIC_KEY
        assert request.headers["X-Signature"] == sign(PUBLIC_KEY, PRIVATE_KEY, stamp)
        assert request.headers["Content-Type"] == "application/json"
        stamps.append(int(stamp))
    assert stamps[1] > stamps[0]
    assert abs(stamps[0] - time.time() * 1000) < 5_000
    ids = [r.headers["X-Request-ID"] for r in router.requests]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


async def test_public_calls_carry_no_credentials() -> None:
    router = Router().on("GET", "/api/v2/ticker", ok([]))
    await make(router).tickers()
    (request,) = router.requests
    assert "X-PCK" not in request.headers and "X-Signature" not in request.headers
    assert "X-Request-ID" in request.headers


@pytest.mark.parametrize(
    ("key", "secret", "expected"),
    [
        (None, None, "no API keys configured"),
        (PUBLIC_KEY, None, "no API keys configured"),
        (PUBLIC_KEY, "not*base64!", "API secret is not valid base64"),
    ],
)
async def test_private_call_without_usable_keys_sends_nothing(
    key: str | None, secret: str | None, expected: str
) -> None:
    router = Router()
    client = make(router, api_key=key, api_secret=secret)
    with pytest.raises(AuthFailed, match=expected) as info:
        await client.balances()
    assert "not*base64!" not in str(info.value)
    assert router.requests == []
    assert not client.has_credentials


async def test_401_text_is_reported_and_secrets_redacted() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        # A hostile or buggy proxy that echoes our headers back into the error text.
        text = f"Unauthorized - Invalid Signature for {request.headers['X-PCK']} / {PRIVATE_KEY}"
        return json_response(401, {"success": False, "message": text, "code": 1037})

    router = Router().on("GET", "/api/v1/users/balances", echo)
    with pytest.raises(AuthFailed) as info:
        await make(router).balances()
    message = str(info.value)
    assert "Unauthorized - Invalid Signature" in message
    assert PUBLIC_KEY not in message and PRIVATE_KEY not in message
    assert router.count("GET", "/api/v1/users/balances") == 1  # never loop on 401


async def test_logs_carry_request_ids_and_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    router = Router().on("GET", "/api/v1/users/balances", json_response(503, "{}"), ok([]))
    caplog.set_level(logging.DEBUG, logger="btcbot_engine.exchange.btcturk")
    await make(router).balances()
    text = "\n".join(r.getMessage() for r in caplog.records)
    for request in router.requests:
        assert request.headers["X-Request-ID"] in text
    assert PUBLIC_KEY not in text and PRIVATE_KEY not in text
    assert "X-Signature" not in text
    assert any(r.levelno == logging.WARNING and "retry" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------------------
# Write guard


async def test_no_write_guard_refuses_without_traffic() -> None:
    router = Router()
    client = make(router, write_guard=None)
    with pytest.raises(WriteBlocked) as info:
        await client.submit(LIMIT_BUY)
    assert info.value.blocked_by == ("NO_WRITE_GUARD",)
    with pytest.raises(WriteBlocked):
        await client.cancel(1)
    assert router.requests == []


async def test_guard_is_called_right_before_each_write() -> None:
    router = Router().on("POST", "/api/v1/order", ok(ACK)).on("DELETE", "/api/v1/order", ok(None))

    def guard(action: str) -> None:
        router.events.append(f"guard {action}")

    client = make(router, write_guard=guard)
    await client.submit(LIMIT_BUY)
    await client.cancel(5)
    writes = [e for e in router.events if not e.endswith("server/time")]
    assert writes == ["guard submit", "POST /api/v1/order", "guard cancel", "DELETE /api/v1/order"]


async def test_guard_refusal_and_guard_bug_block_the_write() -> None:
    router = Router().on("POST", "/api/v1/order", ok(ACK))

    def kill_switch(action: str) -> None:
        raise WriteBlocked(action, ["KILL_SWITCH"])

    def broken(action: str) -> None:
        raise RuntimeError("bug in the guard")

    with pytest.raises(WriteBlocked) as info:
        await make(router, write_guard=kill_switch).submit(LIMIT_BUY)
    assert info.value.blocked_by == ("KILL_SWITCH",)
    with pytest.raises(WriteBlocked) as info:
        await make(router, write_guard=broken).submit(LIMIT_BUY)
    assert info.value.blocked_by == ("GUARD_ERROR",)
    assert router.count("POST", "/api/v1/order") == 0


# ---------------------------------------------------------------------------------------------
# Submit and cancel


async def test_submit_limit_body_and_ack() -> None:
    router = Router().on("POST", "/api/v1/order", ok(ACK))
    ack = await make(router).submit(LIMIT_BUY)
    (post,) = [r for r in router.requests if r.method == "POST"]
    body = post.read().decode()
    assert '"price":"3000000"' in body and '"quantity":"0.001"' in body
    assert httpx.Response(200, content=body).json() == {
        "pairSymbol": "BTCTRY",
        "orderType": "buy",
        "orderMethod": "limit",
        "quantity": "0.001",
        "newOrderClientId": "cid-1",
        "price": "3000000",
    }
    assert ack.order_id == 21770789256 and ack.client_id == "cid-1"
    assert ack.price == Decimal("3000000") and ack.side is Side.BUY


async def test_submit_market_buy_sends_quote_amount_without_price() -> None:
    router = Router().on("POST", "/api/v1/order", ok(ACK | {"method": "market", "price": None}))
    request = OrderRequest("BTC_TRY", Side.BUY, OrderMethod.MARKET, Decimal("250.50"), None, "m-1")
    await make(router).submit(request)
    (post,) = [r for r in router.requests if r.method == "POST"]
    assert httpx.Response(200, content=post.read()).json() == {
        "pairSymbol": "BTCTRY",
        "orderType": "buy",
        "orderMethod": "market",
        "quantity": "250.5",
        "newOrderClientId": "m-1",
    }


@pytest.mark.parametrize(
    "request_",
    [
        OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, Decimal("1"), None, "c"),
        OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, Decimal("0"), Decimal("1"), "c"),
        OrderRequest("BTCTRY", Side.BUY, OrderMethod.STOP_LIMIT, Decimal("1"), Decimal("1"), "c"),
        OrderRequest("BTCTRY", Side.BUY, OrderMethod.LIMIT, Decimal("1"), Decimal("1"), ""),
    ],
)
async def test_invalid_requests_never_reach_the_wire(request_: OrderRequest) -> None:
    router = Router()
    with pytest.raises(ValueError):
        await make(router).submit(request_)
    assert router.requests == []


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("FAILED_MIN_TOTAL_AMOUNT", 1123),
        ("FAILED_INVALID_PRICE_SCALE", 1126),
        ("FAILED_INVALID_QUANTITY_SCALE", 1127),
        ("BALANCE_NOT_ENOUGH", 1100),
    ],
)
async def test_business_rejects(reason: str, code: int) -> None:
    router = Router().on("POST", "/api/v1/order", reject(reason, code))
    with pytest.raises(Rejected) as info:
        await make(router).submit(LIMIT_BUY)
    assert not isinstance(info.value, OrderNotFound)
    assert (info.value.reason, info.value.code, info.value.http_status) == (reason, code, 400)
    assert router.count("POST", "/api/v1/order") == 1


async def test_reject_is_keyed_on_message_with_string_code() -> None:
    router = Router().on(
        "POST",
        "/api/v1/order",
        json_response(
            400, {"success": False, "message": "FAILED_MIN_TOTAL_AMOUNT", "code": "1123"}
        ),
    )
    with pytest.raises(Rejected) as info:
        await make(router).submit(LIMIT_BUY)
    assert info.value.reason == "FAILED_MIN_TOTAL_AMOUNT" and info.value.code == 1123


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.WriteError("broken pipe"),
        json_response(503, {"success": False, "message": "maintenance", "code": 503}),
        json_response(500, "{}"),
        html(502),
        httpx.Response(200, text="<html>ok?</html>"),
        json_response(200, {"success": True, "code": 0, "data": {"quantity": "1"}}),
        json_response(200, {"unexpected": True}),
    ],
    ids=[
        "read-timeout",
        "remote-protocol",
        "read-error",
        "write-error",
        "503",
        "500",
        "502-html",
        "200-html",
        "200-ack-without-id",
        "200-no-envelope",
    ],
)
async def test_lost_or_unreadable_submit_reply_is_uncertain(failure: Any) -> None:
    router = Router().on("POST", "/api/v1/order", failure, ok(ACK))
    with pytest.raises(SubmitUncertain) as info:
        await make(router).submit(LIMIT_BUY)
    assert info.value.client_id == "cid-1"
    assert router.count("POST", "/api/v1/order") == 1  # never retried blindly


async def test_submit_connect_failure_is_retried_because_nothing_was_sent() -> None:
    router = Router().on("POST", "/api/v1/order", httpx.ConnectError("connection refused"), ok(ACK))
    ack = await make(router).submit(LIMIT_BUY)
    assert ack.order_id == 21770789256
    assert router.count("POST", "/api/v1/order") == 2


async def test_submit_429_waits_retry_after_then_resends_through_the_guard() -> None:
    calls: list[str] = []
    router = Router().on(
        "POST",
        "/api/v1/order",
        json_response(
            429,
            {"message": "TOO_MANY_REQUESTS", "success": False, "code": 429},
            {"Retry-After": "0.2"},
        ),
        ok(ACK),
    )
    client = make(router, write_guard=calls.append)
    started = time.monotonic()
    await client.submit(LIMIT_BUY)
    assert time.monotonic() - started >= 0.2
    assert calls == ["submit", "submit"]
    assert router.count("POST", "/api/v1/order") == 2


async def test_submit_401_is_not_retried_even_for_invalid_nonce() -> None:
    router = Router().on(
        "POST",
        "/api/v1/order",
        json_response(
            401, {"success": False, "message": "Unauthorized - Invalid Nonce", "code": 1037}
        ),
    )
    with pytest.raises(AuthFailed, match="Invalid Nonce"):
        await make(router).submit(LIMIT_BUY)
    assert router.count("POST", "/api/v1/order") == 1


async def test_cancel_success_not_found_and_lost_reply() -> None:
    router = Router().on("DELETE", "/api/v1/order", ok(None))
    client = make(router)
    await client.cancel(42)
    (delete,) = [r for r in router.requests if r.method == "DELETE"]
    assert delete.url.params["id"] == "42"

    router.on("DELETE", "/api/v1/order", reject("NO_ORDER_MATCHES_YOUR_REQUEST", 1152))
    with pytest.raises(OrderNotFound):
        await client.cancel(43)

    router.on("DELETE", "/api/v1/order", reject("ORDER_COULD_NOT_BE_CANCELED", 1153))
    with pytest.raises(Rejected) as info:
        await client.cancel(44)
    assert not isinstance(info.value, OrderNotFound)

    before = router.count("DELETE", "/api/v1/order")
    router.on("DELETE", "/api/v1/order", httpx.ReadTimeout("lost"), ok(None))
    with pytest.raises(ExchangeUnavailable, match="may or may not"):
        await client.cancel(45)
    router.on("DELETE", "/api/v1/order", json_response(502, "{}"), ok(None))
    with pytest.raises(ExchangeUnavailable):
        await client.cancel(46)
    assert router.count("DELETE", "/api/v1/order") == before + 2  # no loops


# ---------------------------------------------------------------------------------------------
# Reads: retries, rate limits, error pages


async def test_read_5xx_burst_is_retried_then_succeeds() -> None:
    router = Router().on(
        "GET",
        "/api/v2/ticker",
        json_response(503, "{}"),
        html(502),
        json_response(500, "{}"),
        ok([]),
    )
    assert await make(router).tickers() == []
    assert router.count("GET", "/api/v2/ticker") == 4


async def test_read_5xx_forever_gives_up_with_exchange_unavailable() -> None:
    router = Router().on("GET", "/api/v2/ticker", json_response(503, "{}"))
    with pytest.raises(ExchangeUnavailable, match="HTTP 503"):
        await make(router, max_retries=2).tickers()
    assert router.count("GET", "/api/v2/ticker") == 3


async def test_read_transport_errors_are_retried() -> None:
    router = Router().on(
        "GET", "/api/v2/ticker", httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x"), ok([])
    )
    assert await make(router).tickers() == []


async def test_html_403_is_a_clear_exchange_unavailable() -> None:
    router = Router().on("GET", "/api/v2/ticker", html(403))
    with pytest.raises(ExchangeUnavailable) as info:
        await make(router).tickers()
    message = str(info.value)
    assert "HTTP 403" in message and "non-JSON body" in message and "403 Error" in message
    assert len(message) < 400
    assert router.count("GET", "/api/v2/ticker") == 1


async def test_html_200_is_malformed_with_status_and_snippet() -> None:
    router = Router().on("GET", "/api/v2/ticker", html(200))
    with pytest.raises(MalformedResponse) as info:
        await make(router).tickers()
    assert "HTTP 200" in str(info.value) and "<html>" in str(info.value)


async def test_429_honours_retry_after() -> None:
    router = Router().on(
        "GET",
        "/api/v2/orderbook",
        json_response(
            429,
            {"message": "TOO_MANY_REQUESTS", "success": False, "code": 429},
            {"Retry-After": "0.3"},
        ),
        ok({"timestamp": 1, "bids": [["1", "1"]], "asks": [["2", "1"]]}),
    )
    client = make(router)
    started = time.monotonic()
    book = await client.order_book("BTCTRY", limit=5)
    assert time.monotonic() - started >= 0.3
    assert book.best_ask == Decimal("2")
    request = router.requests[-1]
    assert request.url.params["pairSymbol"] == "BTCTRY" and request.url.params["limit"] == "5"


@pytest.mark.parametrize("headers", [{"Retry-After": "53"}, {}])
async def test_429_beyond_the_budget_raises_rate_limited(headers: dict[str, str]) -> None:
    router = Router().on("GET", "/api/v2/ticker", json_response(429, {"code": 429}, headers))
    client = make(router)
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        await client.tickers()
    assert time.monotonic() - started < 0.5  # it did not sleep 53 s first
    assert info.value.retry_after == (53 if headers else 60)
    assert router.count("GET", "/api/v2/ticker") == 1
    assert client.budget_used()["ticker"] == 1.0  # the group is held until Retry-After


async def test_order_not_found() -> None:
    router = Router().on(
        "GET",
        "/api/v1/order/99",
        json_response(400, {"success": False, "message": "Order not found", "code": 1152}),
    )
    with pytest.raises(OrderNotFound) as info:
        await make(router).order(99)
    assert info.value.code == 1152 and info.value.http_status == 400


async def test_200_with_success_false_is_rejected() -> None:
    router = Router().on(
        "GET",
        "/api/v2/orderbook",
        json_response(
            200, {"success": False, "message": "Pair NOPEUSDT does not exists.", "code": 1037}
        ),
    )
    with pytest.raises(Rejected, match="does not exists"):
        await make(router).order_book("NOPEUSDT")


async def test_malformed_reply_names_endpoint_and_field() -> None:
    bad = dict(ORDER)
    del bad["leftAmount"]
    router = Router().on("GET", "/api/v1/openOrders", ok({"asks": [bad], "bids": []}))
    with pytest.raises(MalformedResponse) as info:
        await make(router).open_orders("BTCTRY")
    assert "GET /api/v1/openOrders" in str(info.value)
    assert "data.asks[0].leftAmount: missing" in str(info.value)


async def test_nothing_listening_fails_fast_with_exchange_unavailable() -> None:
    router = Router().on(
        "GET", "/api/v2/ticker", httpx.ConnectError("All connection attempts failed")
    )
    started = time.monotonic()
    with pytest.raises(ExchangeUnavailable, match="ConnectError"):
        await make(router, max_retries=2).tickers()
    assert time.monotonic() - started < 1.0
    assert router.count("GET", "/api/v2/ticker") == 3


# ---------------------------------------------------------------------------------------------
# Clock


async def test_clock_offset_measured_lazily_and_stamps_corrected() -> None:
    router = Router(skew_ms=8_000).on("GET", "/api/v1/users/balances", ok([]))
    client = make(router)
    assert client.clock_offset_ms is None
    await client.balances()
    assert router.events[:2] == ["GET /api/v2/server/time", "GET /api/v1/users/balances"]
    assert client.clock_offset_ms is not None and abs(client.clock_offset_ms - 8_000) < 300
    stamp = int(router.requests[1].headers["X-Stamp"])
    assert abs(stamp - (time.time() * 1000 + 8_000)) < 1_000
    await client.balances()
    assert router.count("GET", "/api/v2/server/time") == 1  # not every call


async def test_clock_is_remeasured_after_the_resync_interval() -> None:
    router = Router().on("GET", "/api/v1/users/balances", ok([]))
    client = make(router, clock_resync_s=0.0)
    await client.balances()
    await client.balances()
    assert router.count("GET", "/api/v2/server/time") == 2


async def test_invalid_nonce_on_a_read_remeasures_and_retries_once() -> None:
    nonce = json_response(
        401, {"success": False, "message": "Unauthorized - Invalid Nonce", "code": 1037}
    )
    router = Router().on("GET", "/api/v1/users/balances", nonce, ok([]))
    client = make(router)
    assert await client.balances() == []
    assert router.count("GET", "/api/v1/users/balances") == 2
    assert router.count("GET", "/api/v2/server/time") == 2  # lazy + re-measure

    router.on("GET", "/api/v1/users/balances", nonce)
    with pytest.raises(AuthFailed, match="Invalid Nonce"):
        await client.balances()
    assert router.count("GET", "/api/v1/users/balances") == 4  # one retry, then stop


async def test_clock_unmeasurable_fails_the_private_call() -> None:
    router = Router().on("GET", "/api/v2/server/time", json_response(503, "{}"))
    router.on("GET", "/api/v1/users/balances", ok([]))
    with pytest.raises(ExchangeUnavailable, match="cannot measure the server clock"):
        await make(router, max_retries=0).balances()
    assert router.count("GET", "/api/v1/users/balances") == 0


@pytest.mark.parametrize(
    ("offset", "status"),
    [(0, "OK"), (1000, "OK"), (-1001, "WARN"), (4000, "WARN"), (4001, "FAIL"), (-8000, "FAIL")],
)
def test_skew_status(offset: int, status: str) -> None:
    assert skew_status(offset) == status


# ---------------------------------------------------------------------------------------------
# Endpoint semantics


async def test_fills_oldest_first_only_the_symbol_since() -> None:
    rows = [
        fill_row(3, 3_000, "-0.1"),
        fill_row(1, 1_000, "0.2"),
        fill_row(9, 2_000, "0.3", ("ETH", "TRY")),
        fill_row(2, 2_000, "0.4"),
        fill_row(4, 500, "0.5"),
    ]
    router = Router().on("GET", "/api/v1/users/transactions/trade", ok(rows))
    fills = await make(router).fills("btc_try", since_ms=1_000)
    assert [f.trade_id for f in fills] == [1, 2, 3]
    assert fills[-1].side is Side.SELL and fills[-1].quantity == Decimal("0.1")
    params = router.requests[-1].url.params
    assert params["pairSymbol"] == "BTCTRY" and params["startDate"] == "1000"


async def test_orders_by_client_id_searches_open_then_all() -> None:
    other = ORDER | {"id": 1, "orderClientId": "someone-else"}
    mine = ORDER | {"id": 2, "status": "Closed", "leftAmount": "0"}
    router = Router()
    router.on("GET", "/api/v1/openOrders", ok({"asks": [other], "bids": []}))
    router.on("GET", "/api/v1/allOrders", ok([other, mine, mine]))
    found = await make(router).orders_by_client_id("BTCTRY", "cid-1")
    assert [o.order_id for o in found] == [2]
    assert router.events.index("GET /api/v1/openOrders") < router.events.index(
        "GET /api/v1/allOrders"
    )

    router.on("GET", "/api/v1/openOrders", ok({"asks": [], "bids": [ORDER | {"type": "buy"}]}))
    before = router.count("GET", "/api/v1/allOrders")
    found = await make(router).orders_by_client_id("BTCTRY", "cid-1")
    assert [o.order_id for o in found] == [16060237]
    assert router.count("GET", "/api/v1/allOrders") == before  # open orders were enough


async def test_exchange_info_is_cached() -> None:
    symbol = {
        "name": "BTCTRY",
        "status": "TRADING",
        "numerator": "BTC",
        "denominator": "TRY",
        "numeratorScale": 8,
        "denominatorScale": 2,
        "hasFraction": False,
        "filters": [{"filterType": "PRICE_FILTER", "tickSize": "10", "minExchangeValue": "99.91"}],
        "orderMethods": ["LIMIT", "MARKET"],
        "maximumLimitOrderPrice": None,
        "minimumLimitOrderPrice": None,
    }
    router = Router().on("GET", "/api/v2/server/exchangeinfo", ok({"symbols": [symbol]}))
    client = make(router)
    first = await client.exchange_info()
    first.clear()  # callers get a copy
    second = await client.exchange_info()
    assert second["BTCTRY"].tick_size == Decimal("10")
    assert router.count("GET", "/api/v2/server/exchangeinfo") == 1


async def test_tickers_filtering() -> None:
    def ticker(pair: str) -> dict[str, Any]:
        n = 5
        return {
            "pair": pair,
            "timestamp": 1,
            "last": n,
            "high": n,
            "low": n,
            "bid": n,
            "ask": n,
            "volume": n,
            "average": n,
        }

    router = Router().on("GET", "/api/v2/ticker", ok([ticker("BTCTRY"), ticker("ETHTRY")]))
    client = make(router)
    assert [t.symbol for t in await client.tickers(["ethtry", "XRPTRY"])] == ["ETHTRY"]
    assert "pairSymbol" not in router.requests[-1].url.params
    await client.tickers(["BTC_TRY"])
    assert router.requests[-1].url.params["pairSymbol"] == "BTCTRY"
    assert await client.tickers([]) == []


async def test_health_reports_without_raising() -> None:
    router = Router(skew_ms=2_000).on("GET", "/api/v1/users/balances", ok([]))
    router.on("GET", "/api/v2/server/exchangeinfo", ok({"symbols": []}))
    report = await make(router).health()
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {
        "reachable": "OK",
        "clock_skew": "WARN",
        "exchange_info": "OK",
        "auth": "OK",
    }
    assert report.ok and report.reachable and report.server_time_ms
    assert report.as_dict()["ok"] is True

    down = Router().on("GET", "/api/v2/server/time", httpx.ConnectError("refused"))
    report = await make(down, max_retries=0).health()
    assert not report.ok and not report.reachable
    assert {c.name: c.status for c in report.checks}["reachable"] == "FAIL"

    bad_key = Router().on(
        "GET",
        "/api/v1/users/balances",
        json_response(401, {"success": False, "message": "Unauthorized - Invalid Signature"}),
    )
    bad_key.on("GET", "/api/v2/server/exchangeinfo", ok({"symbols": []}))
    report = await make(bad_key).health()
    auth = next(c for c in report.checks if c.name == "auth")
    assert auth.status == "FAIL" and "Invalid Signature" in auth.detail

    keyless = await make(
        Router().on("GET", "/api/v2/server/exchangeinfo", ok({"symbols": []})), api_key=None
    ).health()
    assert next(c for c in keyless.checks if c.name == "auth").status == "WARN"
    assert keyless.ok


async def test_budget_usage_is_exposed() -> None:
    router = Router().on("DELETE", "/api/v1/order", ok(None))
    client = make(router, rate_limit_share=0.5)  # 5 cancels per second
    for i in range(3):
        await client.cancel(i)
    assert client.budget_used()["order_cancel"] == pytest.approx(0.6)
