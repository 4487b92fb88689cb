"""Private REST v1 routes (HMAC): balances, submit, cancel, open/all orders, order, fills.

Every route checks the credentials first. Submit replies as reference 3.8; business refusals are
HTTP 400 with `httpStatusCode` and `data: null` (section 5). Cancel only *accepts* the request:
the order becomes Canceled on the next market tick (3.9).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from btcbot_engine.exchange.simulator import errors
from btcbot_engine.exchange.simulator.errors import ApiError, bad_request, unknown_pair
from btcbot_engine.exchange.simulator.http import DROP, Request
from btcbot_engine.exchange.simulator.matching import SimOrder, UserFill
from btcbot_engine.exchange.simulator.pairs import find_pair
from btcbot_engine.exchange.simulator.rest_public import (
    int_param,
    invalid_request,
    ok,
    required_pair,
)
from btcbot_engine.exchange.simulator.wire import loads, plain

if TYPE_CHECKING:
    from btcbot_engine.exchange.simulator.server import SimulatorServer

MAX_ALL_ORDERS = 1000
DEFAULT_FILL_WINDOW_MS = 30 * 24 * 3600 * 1000  # users/transactions default: last 30 days
SECONDS_CUTOFF = 100_000_000_000  # below this a time is in seconds (year 5138 in ms)


def _authenticate(server: SimulatorServer, request: Request) -> None:
    server.credentials.check_rest(request.headers, server.clock.now_ms())


def _time_ms(request: Request, name: str) -> int | None:
    # allOrders time units are unverified (ms in one client, s in another): accept both.
    text = request.param(name)
    if text is None or text == "":
        return None
    try:
        value = int(Decimal(text))
    except ArithmeticError:
        raise invalid_request() from None
    return value * 1000 if abs(value) < SECONDS_CUTOFF else value


async def balances(server: SimulatorServer, request: Request) -> Any:
    """Every asset with balance, locked, free, orderFund, requestFund (strings), precision."""
    _authenticate(server, request)
    return ok(server.engine.account.to_wire())


async def submit_order(server: SimulatorServer, request: Request) -> Any:
    """Validate and book an order; honours the lost-ack fault (booked, then no reply).

    With `submit_delay_s` the request waits before booking, as a slow matching engine would; a
    client that gives up meanwhile still gets its order booked.
    """
    _authenticate(server, request)
    faults = server.faults
    if faults.submit_delay_s > 0:
        await asyncio.sleep(faults.submit_delay_s)
    lose_reply = faults.lost_submit_ack_remaining > 0
    if lose_reply:
        faults.lost_submit_ack_remaining -= 1
        server.counts["lost_submit_acks"] += 1
    try:
        order, price_text = _book(server, request)
    except ApiError:
        if lose_reply:
            return DROP  # the reply is lost either way; a refused order books nothing
        raise
    if lose_reply:
        return DROP
    return {
        "success": True,
        "message": "OK",
        "code": 0,
        "httpStatusCode": 200,
        "data": {
            "id": order.id,
            "quantity": plain(order.quantity),
            "price": price_text,
            "stopPrice": None,
            "newOrderClientId": order.client_id,
            "type": order.side,
            "method": order.method,
            "pairSymbol": order.pair.name,
            "pairSymbolNormalized": order.pair.name_normalized,
            "datetime": order.created_ms,
        },
    }


def _book(server: SimulatorServer, request: Request) -> tuple[SimOrder, str]:
    try:
        body = loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request(errors.INVALID_REQUEST) from None
    if not isinstance(body, dict):
        raise bad_request(errors.INVALID_REQUEST)
    symbol = body.get("pairSymbol")
    pair = find_pair(symbol) if isinstance(symbol, str) else None
    if pair is None:
        raise unknown_pair(str(symbol or ""))
    order = server.engine.submit(
        pair,
        body.get("orderType"),
        body.get("orderMethod"),
        body.get("quantity"),
        body.get("price"),
        body.get("newOrderClientId"),
    )
    # The reply echoes the price; a market order's price is ignored, so echo what was sent.
    sent = body.get("price")
    price_text = plain(order.price) if order.method == "limit" else str(sent or "0")
    return order, price_text


async def cancel_order(server: SimulatorServer, request: Request) -> Any:
    """Accept a cancel (`{"success":true,"message":"SUCCESS","code":0}`); applied next tick."""
    _authenticate(server, request)
    text = request.param("id")
    try:
        order_id = int(text or "")
    except ValueError:
        raise bad_request(errors.INVALID_REQUEST) from None
    server.engine.request_cancel(order_id, server.faults.cancel_delay_ticks)
    return {"success": True, "message": "SUCCESS", "code": 0}


async def open_orders(server: SimulatorServer, request: Request) -> Any:
    """`data` = {asks: [sell orders], bids: [buy orders]}; pairSymbol optional."""
    _authenticate(server, request)
    text = request.param("pairSymbol")
    pair = None
    if text:
        pair = find_pair(text)
        if pair is None:
            raise unknown_pair(text)
    orders = server.engine.open_orders(pair)
    return ok(
        {
            "asks": [o.to_wire() for o in orders if o.side == "sell"],
            "bids": [o.to_wire() for o in orders if o.side == "buy"],
        }
    )


async def all_orders(server: SimulatorServer, request: Request) -> Any:
    """Orders of any status for one pair, newest first, filtered and paged."""
    _authenticate(server, request)
    pair = required_pair(request)
    min_id = int_param(request, "orderId", 0)
    start = _time_ms(request, "startTime")
    end = _time_ms(request, "endTime")
    page = max(1, int_param(request, "page", 1))
    limit = max(1, min(MAX_ALL_ORDERS, int_param(request, "limit", 100)))
    selected = [
        o
        for o in server.engine.orders.values()
        if o.pair is pair
        and o.id >= min_id
        and (start is None or o.created_ms >= start)
        and (end is None or o.created_ms <= end)
    ]
    selected.sort(key=lambda o: o.id, reverse=True)
    chunk = selected[(page - 1) * limit : page * limit]
    return ok([o.to_wire() for o in chunk])


async def order_by_id(server: SimulatorServer, request: Request, raw_id: str) -> Any:
    """One order by id; unknown -> 400 `Order not found` code 1152."""
    _authenticate(server, request)
    try:
        order = server.engine.orders.get(int(raw_id))
    except ValueError:
        order = None
    if order is None:
        raise bad_request(errors.ORDER_NOT_FOUND, order_style=False)
    return ok(order.to_wire())


def _fill_matches(
    fill: UserFill,
    types: set[str],
    symbols: set[str],
    pair_name: str | None,
    start: int,
    end: int,
) -> bool:
    pair = fill.order.pair
    if types and fill.order.side not in types:
        return False
    if symbols and not ({pair.base.lower(), pair.quote.lower()} & symbols):
        return False
    if pair_name is not None and pair.name != pair_name:
        return False
    return start <= fill.ts_ms <= end


async def user_trades(server: SimulatorServer, request: Request) -> Any:
    """Fills (reference 3.12), newest first: by orderId alone, or by filters and time window."""
    _authenticate(server, request)
    fills = server.engine.fills
    order_text = request.param("orderId")
    if order_text:
        try:
            order_id = int(order_text)
        except ValueError:
            raise invalid_request() from None
        rows = [f for f in fills if f.order.id == order_id]
        return ok([f.to_wire() for f in reversed(rows)])
    now = server.clock.now_ms()
    end = int_param(request, "endDate", now)
    start = int_param(request, "startDate", end - DEFAULT_FILL_WINDOW_MS)
    types = {t.strip().lower() for t in request.params("type") if t.strip()}
    symbols = {s.strip().lower() for s in request.params("symbol") if s.strip()}
    pair_text = request.param("pairSymbol")
    pair_name = None
    if pair_text:
        pair = find_pair(pair_text)
        if pair is None:
            return ok([])
        pair_name = pair.name
    rows = [f for f in fills if _fill_matches(f, types, symbols, pair_name, start, end)]
    return ok([f.to_wire() for f in reversed(rows)])
