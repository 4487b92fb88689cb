"""Orders on the private API: booking, fills, fees, rejects, cancel, queries (3.7-3.12, 4, 5)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pytest

from btcbot_engine.exchange.simulator import SimulatorHandle

from .conftest import Api, auth_headers, exact

EIGHT = Decimal("0.00000001")


def _below(
    sim: SimulatorHandle, fraction: str, symbol: str = "BTCTRY", step: str = "10"
) -> Decimal:
    """A valid price `fraction` of the current mid, rounded down to the tick."""
    raw = sim.control.mid_price(symbol) * Decimal(fraction)
    return (raw / Decimal(step)).to_integral_value() * Decimal(step)


def _book(api: Api, side: str, price: Decimal, quantity: str, **extra: str) -> int:
    reply = api.limit(side, str(price), quantity, **extra)
    assert reply.status_code == 200, reply.text
    return exact(reply)["data"]["id"]


def _balance(sim: SimulatorHandle, asset: str) -> dict[str, Decimal]:
    return sim.control.balances()[asset]


def test_submit_reply_shape_and_big_int_ids(sim: SimulatorHandle, api: Api) -> None:
    price = _below(sim, "0.98")
    reply = api.limit("buy", str(price), "0.01", newOrderClientId="client-1")
    assert reply.status_code == 200
    body = exact(reply)
    assert (body["success"], body["message"], body["code"], body["httpStatusCode"]) == (
        True,
        "OK",
        0,
        200,
    )
    data = body["data"]
    assert isinstance(data["id"], int) and data["id"] >= 21770789256
    assert data["stopPrice"] is None and data["newOrderClientId"] == "client-1"
    assert (data["type"], data["method"], data["pairSymbol"], data["pairSymbolNormalized"]) == (
        "buy",
        "limit",
        "BTCTRY",
        "BTC_TRY",
    )
    assert isinstance(data["datetime"], int)
    assert isinstance(data["quantity"], str) and isinstance(data["price"], str)

    order = api.order(data["id"])
    assert order["status"] == "Untouched" and order["leftAmount"] == "0.01"
    assert order["stopPrice"] == "0.00" and order["time"] == 0
    assert order["orderClientId"] == "client-1" and isinstance(order["updateTime"], int)
    assert order["amount"] == order["quantity"] == "0.01000000"
    assert order["price"] == f"{price}.00"

    # A server-made client id when none is sent (a GUID), and lowercase/uppercase methods.
    other = api.submit(
        pairSymbol="btc_try",
        orderType="BUY",
        orderMethod="Limit",
        price=str(price),
        quantity="0.01",
    )
    assert other.status_code == 200
    assert len(exact(other)["data"]["newOrderClientId"]) == 36


def test_limit_buy_rests_then_fills_when_the_market_trades_through(
    sim: SimulatorHandle, api: Api
) -> None:
    price = _below(sim, "0.98")
    order_id = _book(api, "buy", price, "0.01", newOrderClientId="rest-then-fill")
    lock = (Decimal("0.01") * price * Decimal("1.0011")).quantize(EIGHT, ROUND_CEILING)
    assert _balance(sim, "TRY")["locked"] == lock
    sim.control.step(3)
    assert api.order(order_id)["status"] == "Untouched"
    open_bids = exact(api.get("/api/v1/openOrders", pairSymbol="BTCTRY"))["data"]["bids"]
    assert [o["id"] for o in open_bids] == [order_id]

    sim.control.set_mid_price("BTCTRY", price - 10_000)
    sim.control.step()
    order = api.order(order_id)
    assert order["status"] == "Closed" and Decimal(order["leftAmount"]) == 0

    rows = exact(api.get("/api/v1/users/transactions/trade", orderId=order_id))["data"]
    assert rows and sum(Decimal(r["amount"]) for r in rows) == Decimal("0.01")
    notional = Decimal(0)
    for row in rows:
        assert isinstance(row["id"], int) and row["id"] > 2**53  # beyond float precision
        assert row["orderId"] == order_id and row["orderClientId"] == "rest-then-fill"
        assert Decimal(row["price"]) == price  # maker: filled at the limit
        assert (row["numeratorSymbol"], row["denominatorSymbol"], row["orderType"]) == (
            "BTC",
            "TRY",
            "buy",
        )
        fill_notional = (Decimal(row["price"]) * Decimal(row["amount"])).quantize(EIGHT)
        fee = (fill_notional * Decimal("0.0005")).quantize(EIGHT, ROUND_HALF_UP)
        assert row["fee"] == f"-{fee}"
        assert row["tax"] == f"-{(fee * Decimal('0.18')).quantize(EIGHT, ROUND_HALF_UP)}"
        assert isinstance(row["preciseAmount"], Decimal) and row["preciseAmount"] > 0
        notional += fill_notional
    try_balance = _balance(sim, "TRY")
    assert try_balance["locked"] == 0
    fees = sum(-Decimal(r["fee"]) - Decimal(r["tax"]) for r in rows)
    assert try_balance["total"] == Decimal("100000") - notional - fees
    assert _balance(sim, "BTC")["total"] == Decimal("0.06")


def test_partial_fill_then_close(sim: SimulatorHandle, api: Api) -> None:
    price = _below(sim, "0.98")
    order_id = _book(api, "buy", price, "0.02")
    # Trade exactly 0.005 BTC just below our price (the new best ask stays above it).
    sim.control.set_mid_price("BTCTRY", price - 100, volume=Decimal("0.005"))
    sim.control.step()
    order = api.order(order_id)
    assert order["status"] == "Partial" and Decimal(order["leftAmount"]) == Decimal("0.015")
    assert order["quantity"] == "0.02000000"
    sim.control.set_mid_price("BTCTRY", price - 20_000)
    sim.control.step()
    order = api.order(order_id)
    assert order["status"] == "Closed" and Decimal(order["leftAmount"]) == 0
    assert _balance(sim, "TRY")["locked"] == 0


def test_limit_sell_fill_rows_are_negative(sim: SimulatorHandle, api: Api) -> None:
    price = _below(sim, "1.02")
    order_id = _book(api, "sell", price, "0.01")
    assert _balance(sim, "BTC")["locked"] == Decimal("0.01")
    sim.control.set_mid_price("BTCTRY", price + 10_000)
    sim.control.step()
    assert api.order(order_id)["status"] == "Closed"
    rows = exact(api.get("/api/v1/users/transactions/trade", orderId=order_id))["data"]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("-0.01")
    assert all(r["preciseAmount"] < 0 and r["orderType"] == "sell" for r in rows)
    assert all(r["fee"].startswith("-") and r["tax"].startswith("-") for r in rows)
    assert _balance(sim, "BTC") == {
        "total": Decimal("0.04"),
        "locked": Decimal(0),
        "free": Decimal("0.04"),
    }


def test_crossing_limit_fills_at_once_as_taker(sim: SimulatorHandle, api: Api) -> None:
    price = _below(sim, "1.01")  # above the best ask
    order_id = _book(api, "buy", price, "0.001")
    assert api.order(order_id)["status"] == "Closed"
    rows = exact(api.get("/api/v1/users/transactions/trade", orderId=order_id))["data"]
    for row in rows:
        notional = (Decimal(row["price"]) * Decimal(row["amount"])).quantize(EIGHT)
        assert Decimal(row["price"]) <= price
        assert row["fee"] == f"-{(notional * Decimal('0.0009')).quantize(EIGHT, ROUND_HALF_UP)}"


def test_market_buy_spends_quote_and_market_sell_sells_base(sim: SimulatorHandle, api: Api) -> None:
    best_ask = sim.control.best_prices("BTCTRY")[1]
    reply = api.submit(pairSymbol="BTCTRY", orderType="buy", orderMethod="market", quantity="1000")
    assert reply.status_code == 200, reply.text
    order_id = exact(reply)["data"]["id"]
    order = api.order(order_id)
    assert order["status"] == "Closed" and order["method"] == "market"
    rows = exact(api.get("/api/v1/users/transactions/trade", orderId=order_id))["data"]
    spent = sum(Decimal(r["price"]) * Decimal(r["amount"]) for r in rows)
    assert Decimal("999") < spent <= Decimal("1000")
    assert all(Decimal(r["price"]) <= best_ask * Decimal("1.05") for r in rows)

    reply = api.submit(
        pairSymbol="BTCTRY", orderType="sell", orderMethod="market", quantity="0.001"
    )
    assert reply.status_code == 200, reply.text
    sell_id = exact(reply)["data"]["id"]
    assert api.order(sell_id)["status"] == "Closed"
    rows = exact(api.get("/api/v1/users/transactions/trade", orderId=sell_id))["data"]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("-0.001")


def _reject(api: Api, message: str, code: int, **body: str) -> None:
    reply = api.submit(**body)
    assert reply.status_code == 400, reply.text
    assert exact(reply) == {
        "httpStatusCode": 400,
        "data": None,
        "success": False,
        "message": message,
        "code": code,
    }


@pytest.mark.parametrize(
    ("price", "quantity", "message", "code"),
    [
        ("2940000.5", "0.01", "FAILED_INVALID_PRICE_SCALE", 1126),  # fraction, hasFraction false
        ("2940005", "0.01", "FAILED_INVALID_PRICE_SCALE", 1126),  # not a multiple of tick 10
        ("2940000", "0.000000001", "FAILED_INVALID_QUANTITY_SCALE", 1127),  # 9 > 8 decimals
        ("2940000", "0.00001", "FAILED_MIN_TOTAL_AMOUNT", 1123),  # 29.40 TRY < 99.91
        ("2940000", "1", "BALANCE_NOT_ENOUGH", 1121),  # 2.94M TRY > 100k total
        ("90000000", "0.001", "PRICE_MUST_BE_LESS_THAN_MAXPRICE", 1226),
        ("100000", "0.01", "PRICE_MUST_BE_LESS_THAN_MINPRICE", 1227),
    ],
)
def test_limit_rejects(api: Api, price: str, quantity: str, message: str, code: int) -> None:
    _reject(
        api,
        message,
        code,
        pairSymbol="BTCTRY",
        orderType="buy",
        orderMethod="limit",
        price=price,
        quantity=quantity,
    )
    assert api.sim.control.orders() == []  # a refused order leaves no trace


def test_method_and_open_order_rejects(sim: SimulatorHandle, api: Api) -> None:
    arb = {"pairSymbol": "ARBTRY", "orderType": "buy", "orderMethod": "market", "quantity": "200"}
    _reject(api, "ORDER_METHOD_NOT_SUPPORTED", 1134, **arb)
    price = _below(sim, "0.98")
    _book(api, "buy", price, "0.02")  # locks ~58.9k of 100k TRY
    _reject(
        api,
        "FAILED_ORDER_WITH_OPEN_ORDERS",
        1122,
        pairSymbol="BTCTRY",
        orderType="buy",
        orderMethod="limit",
        price=str(price),
        quantity="0.015",
    )
    usdt = {"pairSymbol": "USDTTRY", "orderType": "buy", "orderMethod": "limit"}
    _reject(api, "FAILED_INVALID_PRICE_SCALE", 1126, **usdt, price="34.505", quantity="10")
    _reject(api, "FAILED_INVALID_QUANTITY_SCALE", 1127, **usdt, price="34.50", quantity="10.001")


def test_cancel_is_asynchronous(sim: SimulatorHandle, api: Api) -> None:
    price = _below(sim, "0.98")
    order_id = _book(api, "buy", price, "0.01")
    reply = api.cancel(order_id)
    assert reply.status_code == 200
    assert exact(reply) == {"success": True, "message": "SUCCESS", "code": 0}
    assert api.order(order_id)["status"] == "Untouched"  # accepted, not done yet
    assert _balance(sim, "TRY")["locked"] > 0
    sim.control.step()
    assert api.order(order_id)["status"] == "Canceled"
    assert _balance(sim, "TRY")["locked"] == 0
    assert exact(api.get("/api/v1/openOrders", pairSymbol="BTCTRY"))["data"] == {
        "asks": [],
        "bids": [],
    }
    again = api.cancel(order_id)
    assert again.status_code == 400
    assert exact(again)["message"] == "ORDER_COULD_NOT_BE_CANCELED"
    unknown = api.cancel(123)
    assert unknown.status_code == 400
    assert exact(unknown)["message"] == "NO_ORDER_MATCHES_YOUR_REQUEST"


def test_order_not_found(api: Api) -> None:
    reply = api.get("/api/v1/order/999")
    assert reply.status_code == 400
    assert exact(reply) == {"success": False, "message": "Order not found", "code": 1152}


def test_all_orders_filters_and_paging(sim: SimulatorHandle, api: Api) -> None:
    price = _below(sim, "0.97")
    ids = [_book(api, "buy", price, "0.001") for _ in range(3)]
    _book(api, "buy", Decimal("107000"), "0.001", symbol="ETHTRY")
    rows = exact(api.get("/api/v1/allOrders", pairSymbol="BTCTRY"))["data"]
    assert [r["id"] for r in rows] == ids[::-1]  # this pair only, newest first
    rows = exact(api.get("/api/v1/allOrders", pairSymbol="BTCTRY", orderId=ids[1]))["data"]
    assert {r["id"] for r in rows} == set(ids[1:])
    created = api.order(ids[0])["updateTime"]
    for start in (created, created // 1000):  # milliseconds or seconds
        rows = exact(api.get("/api/v1/allOrders", pairSymbol="BTCTRY", startTime=start))["data"]
        assert len(rows) == 3
    late = exact(api.get("/api/v1/allOrders", pairSymbol="BTCTRY", startTime=created + 60_000))
    assert late["data"] == []
    page2 = exact(api.get("/api/v1/allOrders", pairSymbol="BTCTRY", page=2, limit=2))["data"]
    assert [r["id"] for r in page2] == [ids[0]]


def test_user_trades_filters(sim: SimulatorHandle, api: Api) -> None:
    buy = exact(
        api.submit(pairSymbol="BTCTRY", orderType="buy", orderMethod="market", quantity="500")
    )["data"]["id"]
    sell = exact(
        api.submit(pairSymbol="ETHTRY", orderType="sell", orderMethod="market", quantity="0.01")
    )["data"]["id"]
    every = exact(api.get("/api/v1/users/transactions/trade"))["data"]
    assert {r["orderId"] for r in every} == {buy, sell}
    sells = exact(api.get("/api/v1/users/transactions/trade", type="sell"))["data"]
    assert {r["orderId"] for r in sells} == {sell}
    eth = exact(api.get("/api/v1/users/transactions/trade", symbol="eth"))["data"]
    assert {r["orderId"] for r in eth} == {sell}
    both = api.http.get(
        "/api/v1/users/transactions/trade?type=buy&type=sell", headers=auth_headers(sim)
    )
    assert {r["orderId"] for r in exact(both)["data"]} == {buy, sell}
    btctry = exact(api.get("/api/v1/users/transactions/trade", pairSymbol="BTC_TRY"))["data"]
    assert {r["orderId"] for r in btctry} == {buy}
    future = exact(
        api.get("/api/v1/users/transactions/trade", startDate=every[0]["timestamp"] + 60_000)
    )
    assert future["data"] == []
    assert next(r["orderId"] for r in sim.control.trades()) == buy  # control: oldest first
