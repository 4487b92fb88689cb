"""BTCTurk wire JSON -> domain types, with explicit, field-by-field parsers.

Rules (reference sections 3, 4, 8):
- JSON is decoded with `parse_float=Decimal`, so a float never exists: ticker numbers keep the
  exact digits of their JSON token; NaN and Infinity tokens are refused.
- Money fields accept a decimal string (most endpoints) or a JSON number (ticker, exchangeinfo
  price bands); ids accept an int or a string of digits (trade ids reach ~1.2e18, beyond float).
- `type`/`method`/`status` are matched case-insensitively ("Buy" and "buy").
- Every missing or mistyped field raises MalformedResponse naming the endpoint, the field path and
  what was wrong. No KeyError/TypeError/ValueError escapes from here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from btcbot_engine.domain.account import Balance
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.market import BookLevel, OrderBook, Ticker, normalize_symbol
from btcbot_engine.domain.money import MoneyError, to_decimal
from btcbot_engine.domain.orders import (
    ExchangeOrder,
    ExchangeOrderStatus,
    OrderMethod,
    Side,
    SubmitAck,
)
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.exchange.port import MalformedResponse

# Endpoint labels used in error messages (method + path, as the reference names them).
EP_SERVER_TIME = "GET /api/v2/server/time"
EP_EXCHANGE_INFO = "GET /api/v2/server/exchangeinfo"
EP_TICKER = "GET /api/v2/ticker"
EP_ORDERBOOK = "GET /api/v2/orderbook"
EP_BALANCES = "GET /api/v1/users/balances"
EP_SUBMIT = "POST /api/v1/order"
EP_CANCEL = "DELETE /api/v1/order"
EP_OPEN_ORDERS = "GET /api/v1/openOrders"
EP_ALL_ORDERS = "GET /api/v1/allOrders"
EP_ORDER = "GET /api/v1/order/{id}"
EP_USER_TRADES = "GET /api/v1/users/transactions/trade"
EP_KLINES = "GET graph /v1/klines/history"

SNIPPET_CHARS = 200
_INT_RE = re.compile(r"-?[0-9]{1,30}")
# No real price, amount, fee or balance comes near 1e30 (or, unless zero, 1e-30). Beyond that a
# number only comes from a broken reply, and Decimal arithmetic on it overflows: with the
# default context even `-Decimal("1E+999999999")` raises.
_MAX_EXPONENT = 30


# --------------------------------------------------------------------------------------------
# JSON decoding


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"non-finite number {token} is not allowed")


def loads(text: str, endpoint: str) -> Any:
    """Decode a JSON body with Decimal floats and int ints; MalformedResponse if it is not JSON."""
    try:
        return json.loads(text, parse_float=Decimal, parse_int=int, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        # json.JSONDecodeError is a ValueError; so are NaN refusals and over-long int literals.
        raise MalformedResponse(
            f"{endpoint}: body is not valid JSON ({_short(str(exc))}): {snippet(text)!r}"
        ) from None


def snippet(text: str) -> str:
    """The first 200 characters of a body, for error messages."""
    return text[:SNIPPET_CHARS]


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    return f"{type(value).__name__} {_short(repr(value), 60)}"


# --------------------------------------------------------------------------------------------
# Field access with paths


class Fields:
    """A JSON object plus where it came from, with typed accessors that raise MalformedResponse."""

    __slots__ = ("endpoint", "path", "raw")

    def __init__(self, raw: Any, endpoint: str, path: str = "data") -> None:
        if not isinstance(raw, dict):
            raise MalformedResponse(f"{endpoint}: {path}: expected an object, got {_describe(raw)}")
        self.raw: dict[str, Any] = raw
        self.endpoint = endpoint
        self.path = path

    def fail(self, key: str, problem: str) -> MalformedResponse:
        """A MalformedResponse naming this object's field `key`."""
        return MalformedResponse(f"{self.endpoint}: {self.path}.{key}: {problem}")

    def has(self, key: str) -> bool:
        """True when `key` is present and not null."""
        return self.raw.get(key) is not None

    def get(self, key: str) -> Any:
        """The raw value of `key`; MalformedResponse if the key is absent."""
        if key not in self.raw:
            raise self.fail(key, "missing")
        return self.raw[key]

    def text(self, key: str) -> str:
        """A required non-empty string (stripped)."""
        value = self.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {_describe(value)}")
        return value.strip()

    def opt_text(self, key: str) -> str | None:
        """An optional string; null, absent or blank -> None."""
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string or null, got {_describe(value)}")
        return value.strip() or None

    def integer(self, key: str) -> int:
        """A required integer (a JSON int or a string of digits; never a float-like number)."""
        return _as_int(self.get(key), self, key)

    def opt_integer(self, key: str) -> int | None:
        """An optional integer; null or absent -> None."""
        value = self.raw.get(key)
        return None if value is None else _as_int(value, self, key)

    def flag(self, key: str) -> bool:
        """A required JSON boolean."""
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true/false, got {_describe(value)}")
        return value

    def decimal(self, key: str) -> Decimal:
        """A required finite decimal (a decimal string or a JSON number read as Decimal)."""
        value = self.get(key)
        if value is None:
            raise self.fail(key, "expected a number, got null")
        return _as_decimal(value, self, key)

    def opt_decimal(self, key: str) -> Decimal | None:
        """An optional finite decimal; null or absent -> None."""
        value = self.raw.get(key)
        return None if value is None else _as_decimal(value, self, key)

    def amount(self, key: str) -> Decimal:
        """A required price, quantity or balance: a finite decimal, never negative."""
        return _non_negative(self.decimal(key), self, key)

    def opt_amount(self, key: str) -> Decimal | None:
        """An optional price, quantity or balance; null or absent -> None."""
        value = self.opt_decimal(key)
        return None if value is None else _non_negative(value, self, key)

    def array(self, key: str) -> list[Any]:
        """A required JSON array."""
        value = self.get(key)
        if not isinstance(value, list):
            raise self.fail(key, f"expected an array, got {_describe(value)}")
        return value

    def child(self, key: str) -> Fields:
        """A required nested object, as Fields with an extended path."""
        value = self.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, f"expected an object, got {_describe(value)}")
        return Fields(value, self.endpoint, f"{self.path}.{key}")

    def items(self, key: str) -> Iterator[Fields]:
        """Each element of the array `key` as Fields (elements must be objects)."""
        for i, element in enumerate(self.array(key)):
            yield Fields(element, self.endpoint, f"{self.path}.{key}[{i}]")


def _as_int(value: Any, where: Fields, key: str) -> int:
    # bool is an int subclass in Python; a `true` id is a bug, not 1.
    if isinstance(value, bool):
        raise where.fail(key, f"expected an integer, got {_describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value.strip())
    # A Decimal here means the id was written as 1.2e18 or 5.0: digits may already be lost.
    raise where.fail(key, f"expected an integer, got {_describe(value)}")


def _as_decimal(value: Any, where: Fields, key: str) -> Decimal:
    if isinstance(value, bool):
        raise where.fail(key, f"expected a decimal, got {_describe(value)}")
    try:
        result = to_decimal(value, field=key)
    except MoneyError as exc:
        raise where.fail(key, str(exc).removeprefix(f"{key}: ")) from None
    if result and not -_MAX_EXPONENT < result.adjusted() < _MAX_EXPONENT:
        raise where.fail(key, f"out of range: {_short(str(result), 40)}")
    return result


def _non_negative(value: Decimal, where: Fields, key: str) -> Decimal:
    if value < 0:
        raise where.fail(key, f"negative: {value}")
    return value


def _list(value: Any, endpoint: str, path: str = "data") -> list[Any]:
    if not isinstance(value, list):
        raise MalformedResponse(f"{endpoint}: {path}: expected an array, got {_describe(value)}")
    return value


# --------------------------------------------------------------------------------------------
# Envelope


@dataclass(frozen=True, slots=True)
class Envelope:
    """`{success, message, code, data}`; `code` normalized to int (None if absent/unreadable)."""

    success: bool
    message: str | None
    code: int | None
    data: Any


def parse_code(value: Any) -> int | None:
    """`code` is normally an int, but "0" and "SUCCESS" strings occur (ccxt, BtcTurk.Net)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.upper() in ("SUCCESS", "OK"):
            return 0
        if _INT_RE.fullmatch(text):
            return int(text)
    return None


def parse_envelope(payload: Any, endpoint: str) -> Envelope:
    """Read the standard envelope. Success needs `success: true` and a success (or absent) code."""
    if not isinstance(payload, dict):
        raise MalformedResponse(f"{endpoint}: body: expected an object, got {_describe(payload)}")
    if "success" not in payload:
        raise MalformedResponse(f"{endpoint}: body.success: missing")
    success = payload["success"]
    if not isinstance(success, bool):
        raise MalformedResponse(
            f"{endpoint}: body.success: expected true/false, got {_describe(success)}"
        )
    raw_message = payload.get("message")
    message = raw_message if isinstance(raw_message, str) else None
    raw_code = payload.get("code")
    code = parse_code(raw_code)
    if success and raw_code is not None and code != 0:
        # Old 401 bodies carried success:true with code 1037; a non-zero code is not a success.
        success = False
    return Envelope(success=success, message=message, code=code, data=payload.get("data"))


def error_message(payload: Any) -> str | None:
    """The server's error text from a JSON error body (envelope `message`, else `details`)."""
    if isinstance(payload, dict):
        for key in ("message", "details", "error", "Message"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    if isinstance(payload, str) and payload.strip():
        return payload.strip()
    return None


# --------------------------------------------------------------------------------------------
# Public endpoints


def parse_server_time(payload: Any, endpoint: str = EP_SERVER_TIME) -> int:
    """`{"serverTime": 1700000000027, ...}` (not enveloped) -> Unix ms."""
    fields = Fields(payload, endpoint, "body")
    value = fields.integer("serverTime")
    if value <= 0:
        raise fields.fail("serverTime", f"expected a positive ms timestamp, got {value}")
    return value


def _price_filter(symbol: Fields) -> Fields:
    for f in symbol.items("filters"):
        filter_type = f.opt_text("filterType")
        if filter_type is None or filter_type.upper() == "PRICE_FILTER":
            return f
    raise symbol.fail("filters", "no PRICE_FILTER entry")


def parse_symbol_rules(symbol: Fields) -> SymbolRules:
    """One `symbols[]` entry of exchangeinfo -> SymbolRules."""
    price_filter = _price_filter(symbol)
    price_scale = symbol.integer("denominatorScale")
    quantity_scale = symbol.integer("numeratorScale")
    if not (0 <= price_scale <= 18):
        raise symbol.fail("denominatorScale", f"out of range: {price_scale}")
    if not (0 <= quantity_scale <= 18):
        raise symbol.fail("numeratorScale", f"out of range: {quantity_scale}")
    tick_size = price_filter.decimal("tickSize")
    min_notional = price_filter.decimal("minExchangeValue")
    if tick_size < 0:
        raise price_filter.fail("tickSize", f"negative: {tick_size}")
    if min_notional < 0:
        raise price_filter.fail("minExchangeValue", f"negative: {min_notional}")
    methods_raw = symbol.array("orderMethods")
    methods: set[str] = set()
    for i, method in enumerate(methods_raw):
        if not isinstance(method, str):
            raise symbol.fail(f"orderMethods[{i}]", f"expected a string, got {_describe(method)}")
        methods.add(method.strip().upper())
    return SymbolRules(
        symbol=normalize_symbol(symbol.text("name")),
        base=symbol.text("numerator").upper(),
        quote=symbol.text("denominator").upper(),
        status=symbol.text("status"),
        price_scale=price_scale,
        quantity_scale=quantity_scale,
        tick_size=tick_size,
        min_notional=min_notional,
        # JSON numbers in the wire format; parse_float=Decimal kept their exact digits.
        min_price=symbol.opt_amount("minimumLimitOrderPrice"),
        max_price=symbol.opt_amount("maximumLimitOrderPrice"),
        has_fraction=symbol.flag("hasFraction"),
        order_methods=frozenset(methods),
    )


def parse_exchange_info(data: Any, endpoint: str = EP_EXCHANGE_INFO) -> dict[str, SymbolRules]:
    """exchangeinfo `data` -> rules keyed by symbol (`BTCTRY`)."""
    info = Fields(data, endpoint)
    rules: dict[str, SymbolRules] = {}
    for symbol in info.items("symbols"):
        parsed = parse_symbol_rules(symbol)
        rules[parsed.symbol] = parsed
    return rules


def parse_ticker(item: Fields, received_at_ms: int) -> Ticker:
    """One ticker object (JSON numbers, read exactly as Decimal)."""
    return Ticker(
        symbol=normalize_symbol(item.text("pair")),
        bid=item.amount("bid"),
        ask=item.amount("ask"),
        last=item.amount("last"),
        high=item.amount("high"),
        low=item.amount("low"),
        volume=item.amount("volume"),
        average=item.amount("average"),
        exchange_ts_ms=item.integer("timestamp"),
        received_at_ms=received_at_ms,
    )


def parse_tickers(data: Any, received_at_ms: int, endpoint: str = EP_TICKER) -> list[Ticker]:
    """ticker `data` (always an array; `[]` for an unknown pair) -> tickers."""
    items = _list(data, endpoint)
    return [
        parse_ticker(Fields(x, endpoint, f"data[{i}]"), received_at_ms) for i, x in enumerate(items)
    ]


def _levels(book: Fields, key: str) -> tuple[BookLevel, ...]:
    levels: list[BookLevel] = []
    for i, level in enumerate(book.array(key)):
        name = f"{key}[{i}]"
        if not isinstance(level, list) or len(level) < 2:
            raise book.fail(name, f"expected [price, amount], got {_describe(level)}")
        price = _as_decimal(level[0], book, f"{name}[0]")
        quantity = _as_decimal(level[1], book, f"{name}[1]")
        if price <= 0 or quantity < 0:
            raise book.fail(name, f"non-positive price or negative amount: {price} x {quantity}")
        levels.append(BookLevel(price=price, quantity=quantity))
    return tuple(levels)


def parse_order_book(
    data: Any, symbol: str, received_at_ms: int, endpoint: str = EP_ORDERBOOK
) -> OrderBook:
    """orderbook `data` = `{timestamp, bids: [[p, a]], asks: [[p, a]]}` -> OrderBook."""
    book = Fields(data, endpoint)
    bids = _levels(book, "bids")
    asks = _levels(book, "asks")
    # The port promises bids descending and asks ascending; check rather than trust.
    if any(a.price < b.price for a, b in pairwise(bids)):
        raise book.fail("bids", "not sorted descending")
    if any(a.price > b.price for a, b in pairwise(asks)):
        raise book.fail("asks", "not sorted ascending")
    return OrderBook(
        symbol=normalize_symbol(symbol),
        bids=bids,
        asks=asks,
        exchange_ts_ms=book.integer("timestamp"),
        received_at_ms=received_at_ms,
    )


# --------------------------------------------------------------------------------------------
# Private endpoints


def parse_balances(data: Any, endpoint: str = EP_BALANCES) -> list[Balance]:
    """users/balances `data` -> balances (total = `balance`, held = `locked`, tradable = `free`)."""
    balances: list[Balance] = []
    for i, raw in enumerate(_list(data, endpoint)):
        item = Fields(raw, endpoint, f"data[{i}]")
        balances.append(
            Balance(
                asset=item.text("asset").upper(),
                total=item.amount("balance"),
                free=item.amount("free"),
                locked=item.amount("locked"),
            )
        )
    return balances


def parse_side(item: Fields, key: str) -> Side:
    """`type`/`orderType` "buy"/"Buy"/"SELL" -> Side."""
    text = item.text(key).lower()
    try:
        return Side(text)
    except ValueError:
        raise item.fail(key, f"unknown side {text!r}") from None


_METHODS = {
    "limit": OrderMethod.LIMIT,
    "market": OrderMethod.MARKET,
    "stoplimit": OrderMethod.STOP_LIMIT,
    "stopmarket": OrderMethod.STOP_MARKET,
}


def parse_method(item: Fields, key: str) -> OrderMethod:
    """`method` "limit"/"Limit"/"stopLimit"/"stop_limit" -> OrderMethod."""
    text = item.text(key).lower().replace("_", "").replace(" ", "")
    try:
        return _METHODS[text]
    except KeyError:
        raise item.fail(key, f"unknown order method {text!r}") from None


_STATUSES = {s.value.lower(): s for s in ExchangeOrderStatus} | {
    "cancelled": ExchangeOrderStatus.CANCELED,
}


def parse_status(item: Fields, key: str) -> ExchangeOrderStatus:
    """`status` "Untouched"/"Partial"/"Closed"/"Canceled" (any case) -> ExchangeOrderStatus."""
    text = item.text(key).lower()
    try:
        return _STATUSES[text]
    except KeyError:
        raise item.fail(key, f"unknown order status {text!r}") from None


def _order_symbol(item: Fields) -> str:
    return normalize_symbol(item.text("pairSymbol"))


def parse_order(item: Fields) -> ExchangeOrder:
    """One order object (openOrders, allOrders, order/{id})."""
    # `quantity` is the order's size; older payloads only have `amount` (equal in every sample).
    quantity = item.decimal("quantity") if item.has("quantity") else item.decimal("amount")
    left = item.decimal("leftAmount")
    if quantity < 0 or left < 0:
        raise item.fail("leftAmount", f"negative quantity or leftAmount: {quantity}, {left}")
    # `time` is often 0 on the wire; updateTime is the field that is always set.
    update_time = item.opt_integer("updateTime") or 0
    created = item.opt_integer("time") or 0
    updated = update_time or created
    if updated <= 0:
        raise item.fail("updateTime", "missing or 0, and time is missing or 0 too")
    return ExchangeOrder(
        order_id=item.integer("id"),
        client_id=item.opt_text("orderClientId"),
        symbol=_order_symbol(item),
        side=parse_side(item, "type"),
        method=parse_method(item, "method"),
        price=item.amount("price"),
        quantity=quantity,
        left_quantity=left,
        status=parse_status(item, "status"),
        updated_ms=updated,
    )


def parse_open_orders(data: Any, endpoint: str = EP_OPEN_ORDERS) -> list[ExchangeOrder]:
    """openOrders `data` = `{asks: [...], bids: [...]}` -> orders (asks first, then bids)."""
    book = Fields(data, endpoint)
    orders: list[ExchangeOrder] = []
    for key in ("asks", "bids"):
        orders.extend(parse_order(item) for item in book.items(key))
    return orders


def parse_order_list(data: Any, endpoint: str = EP_ALL_ORDERS) -> list[ExchangeOrder]:
    """allOrders `data` (an array of order objects) -> orders."""
    items = _list(data, endpoint)
    return [parse_order(Fields(x, endpoint, f"data[{i}]")) for i, x in enumerate(items)]


def parse_single_order(data: Any, endpoint: str = EP_ORDER) -> ExchangeOrder:
    """order/{id} `data` (one order object) -> order."""
    return parse_order(Fields(data, endpoint))


def parse_fill(item: Fields) -> Fill:
    """One users/transactions/trade row (same shape as WS 423) -> Fill with positive magnitudes.

    `amount` is negative for sells and rounded; `preciseAmount` (a JSON number) carries all the
    digits, so it is preferred when present. `orderType` and the amount's sign must agree.
    """
    amount = item.decimal("amount")
    precise = item.opt_decimal("preciseAmount")
    signed = precise if precise is not None else amount
    if precise is not None and amount != 0 and precise != 0 and (amount < 0) != (precise < 0):
        raise item.fail("preciseAmount", f"sign disagrees with amount ({precise} vs {amount})")
    if signed == 0:
        raise item.fail("amount", "zero amount")
    sign_side = Side.SELL if signed < 0 else Side.BUY
    if item.has("orderType"):
        side = parse_side(item, "orderType")
        if side is not sign_side:
            raise item.fail("orderType", f"{side.value} disagrees with the sign of amount {signed}")
    else:
        side = sign_side
    price = item.decimal("price")
    if price <= 0:
        raise item.fail("price", f"non-positive price {price}")
    fee = item.decimal("fee")
    tax = item.opt_decimal("tax")
    base = item.text("numeratorSymbol").upper()
    quote = item.text("denominatorSymbol").upper()
    return Fill(
        trade_id=item.integer("id"),
        order_id=item.integer("orderId"),
        client_id=item.opt_text("orderClientId"),
        symbol=base + quote,
        base=base,
        quote=quote,
        side=side,
        price=price,
        quantity=abs(signed),
        # Fees and taxes come negative ("-0.06297817"); the domain keeps magnitudes.
        fee=abs(fee),
        tax=abs(tax) if tax is not None else Decimal(0),
        # Charged in the quote currency (commissionFromNumerator: false; reference 3.12).
        fee_asset=quote,
        timestamp_ms=item.integer("timestamp"),
    )


def parse_fills(data: Any, endpoint: str = EP_USER_TRADES) -> list[Fill]:
    """users/transactions/trade `data` (an array) -> fills in wire order."""
    items = _list(data, endpoint)
    return [parse_fill(Fields(x, endpoint, f"data[{i}]")) for i, x in enumerate(items)]


def parse_submit_ack(data: Any, received_at_ms: int, endpoint: str = EP_SUBMIT) -> SubmitAck:
    """POST /api/v1/order `data` -> SubmitAck.

    `datetime` is optional: the only real reply in the reference had it cut off, and refusing an
    otherwise clear ack would turn a placed order into an uncertain one. Our receive time is used.
    """
    item = Fields(data, endpoint)
    price = item.opt_amount("price")
    created = item.opt_integer("datetime")
    return SubmitAck(
        order_id=item.integer("id"),
        client_id=item.opt_text("newOrderClientId"),
        symbol=_order_symbol(item),
        side=parse_side(item, "type"),
        method=parse_method(item, "method"),
        price=price,
        quantity=item.amount("quantity"),
        created_ms=created if created else received_at_ms,
    )


# --------------------------------------------------------------------------------------------
# Graph API


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle from the graph API; `open_time_s` is Unix **seconds** (graph API unit)."""

    open_time_s: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def parse_klines(payload: Any, endpoint: str = EP_KLINES) -> list[Candle]:
    """TradingView-style `{"s": "ok", "t": [...], "o": [...], ...}` -> candles (not enveloped)."""
    body = Fields(payload, endpoint, "body")
    status = body.text("s").lower()
    if status == "no_data":
        return []
    if status != "ok":
        raise body.fail("s", f"expected 'ok' or 'no_data', got {status!r}")
    times = body.array("t")
    columns = {k: body.array(k) for k in ("o", "h", "l", "c", "v")}
    for key, column in columns.items():
        if len(column) != len(times):
            raise body.fail(key, f"has {len(column)} values for {len(times)} times")
    candles: list[Candle] = []
    for i, t in enumerate(times):
        values = {
            k: _non_negative(_as_decimal(col[i], body, f"{k}[{i}]"), body, f"{k}[{i}]")
            for k, col in columns.items()
        }
        candles.append(
            Candle(
                open_time_s=_as_int(t, body, f"t[{i}]"),
                open=values["o"],
                high=values["h"],
                low=values["l"],
                close=values["c"],
                volume=values["v"],
            )
        )
    return candles
