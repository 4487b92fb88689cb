"""BTCTurk WebSocket frames -> domain objects (pure functions, no I/O).

Every frame is `[model, {...}]`. The parsers here raise `FrameError` naming what is wrong; the feed
counts and logs it and keeps reading, so one bad frame never stops the loop.

Numbers: JSON is decoded with `parse_float=Decimal`, so no float exists at any point. Prices and
amounts arrive as strings on the wire; a JSON number is accepted only because it decodes to an exact
Decimal (or int), never through a float. NaN, Infinity and negatives are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any

from btcbot_engine.domain.market import BookLevel, Ticker, normalize_symbol
from btcbot_engine.domain.money import MoneyError, to_non_negative

_DIGITS = re.compile(r"[0-9]{1,30}")
_MAX_EXPONENT = 30


class Model(IntEnum):
    """WebSocket model numbers this client reads or writes."""

    USER_BALANCE = 201
    TICKER_ALL = 401
    TICKER_PAIR = 402
    USER_TRADE = 423
    ORDERBOOK_FULL = 431
    ORDERBOOK_DIFF = 432
    USER_ORDER_MATCH = 441
    ORDER_INSERT = 451
    ORDER_DELETE = 452
    ORDER_UPDATE = 453
    RESULT = 100
    LOGIN = 114
    SUBSCRIPTION = 151
    WELCOME = 991


PRIVATE_MODELS = frozenset(
    {
        Model.USER_BALANCE,
        Model.USER_TRADE,
        Model.USER_ORDER_MATCH,
        Model.ORDER_INSERT,
        Model.ORDER_DELETE,
        Model.ORDER_UPDATE,
    }
)


class FrameError(ValueError):
    """A frame we cannot read as the documented shape. `model` is None when it is unknown."""

    def __init__(self, model: int | None, reason: str) -> None:
        super().__init__(f"model {model}: {reason}" if model is not None else reason)
        self.model = model
        self.reason = reason


class DiffOp(IntEnum):
    """432 `CP` values (reference section 6)."""

    REPLACE = 0  # the amount at this price is replaced
    NEW = 1  # a new price level
    REMOVE = 3  # the level is gone


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One entry of a 432 diff."""

    op: DiffOp
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class BookSnapshotFrame:
    """A parsed 431: the full book at change sequence `cs`."""

    symbol: str
    cs: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@dataclass(frozen=True, slots=True)
class BookDiffFrame:
    """A parsed 432: changes that turn book `cs - 1` into book `cs`."""

    symbol: str
    cs: int
    bids: tuple[LevelChange, ...]
    asks: tuple[LevelChange, ...]


@dataclass(frozen=True, slots=True)
class PrivateHint:
    """Something changed on our account: a cue to reconcile through REST, never a source of truth.

    `symbol` is None for 201 (balance update), which names no pair.
    """

    model: int
    symbol: str | None
    order_id: int | None
    client_id: str | None


def _reject_constant(name: str) -> Any:
    # json accepts the non-standard NaN / Infinity literals by default; a price must never be one.
    raise ValueError(f"non-finite JSON literal {name}")


def decode_frame(raw: str | bytes) -> tuple[int, dict[str, Any]]:
    """Split raw text into (model, body); raise FrameError if it is not `[int, {...}]`."""
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the interpreter's stack ("[[[[...").
        raise FrameError(None, f"not JSON ({type(exc).__name__})") from None
    if not isinstance(data, list) or len(data) != 2:
        raise FrameError(None, "not a 2-element array")
    model, body = data
    if isinstance(model, bool) or not isinstance(model, int):
        raise FrameError(None, "model number is not an int")
    if not isinstance(body, dict):
        raise FrameError(model, "body is not an object")
    return model, body


def _field(body: Mapping[str, Any], key: str, model: int) -> Any:
    if key not in body or body[key] is None:
        raise FrameError(model, f"missing field {key}")
    return body[key]


def _str_field(body: Mapping[str, Any], key: str, model: int) -> str:
    value = _field(body, key, model)
    if not isinstance(value, str) or not value:
        raise FrameError(model, f"field {key} is not a non-empty string")
    return value


def _int_field(body: Mapping[str, Any], key: str, model: int) -> int:
    value = _field(body, key, model)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FrameError(model, f"field {key} is not an int")
    return value


def _money(body: Mapping[str, Any], key: str, model: int) -> Decimal:
    value = _field(body, key, model)
    try:
        result = to_non_negative(value, field=key)
    except MoneyError as exc:
        raise FrameError(model, str(exc)) from None
    # As in the REST parser: beyond 1e30 (or below 1e-30) only a broken frame, and arithmetic
    # on such a Decimal overflows.
    if result and not -_MAX_EXPONENT < result.adjusted() < _MAX_EXPONENT:
        raise FrameError(model, f"field {key} is out of range")
    return result


def _symbol(body: Mapping[str, Any], model: int) -> str:
    # `PS` is the pair; `event` repeats it on channel frames. Either is enough.
    raw = body.get("PS") or body.get("event")
    if not isinstance(raw, str) or not raw:
        raise FrameError(model, "missing field PS")
    return normalize_symbol(raw)


def parse_ticker(body: Mapping[str, Any], received_at_ms: int, model: int = 402) -> Ticker:
    """A 402 body (or one 401 item) -> Ticker.

    402 carries no timestamp, so `exchange_ts_ms` is our receive time: the freshest claim we can
    honestly make. Freshness checks use `received_at_ms` anyway.
    """
    return Ticker(
        symbol=_symbol(body, model),
        bid=_money(body, "B", model),
        ask=_money(body, "A", model),
        last=_money(body, "LA", model),
        high=_money(body, "H", model),
        low=_money(body, "L", model),
        volume=_money(body, "V", model),
        average=_money(body, "AV", model),
        exchange_ts_ms=received_at_ms,
        received_at_ms=received_at_ms,
    )


def parse_ticker_all(body: Mapping[str, Any], received_at_ms: int) -> list[Ticker]:
    """A 401 body -> tickers. One bad item rejects the frame: a half-read frame hides errors."""
    items = _field(body, "items", Model.TICKER_ALL)
    if not isinstance(items, list):
        raise FrameError(Model.TICKER_ALL, "field items is not a list")
    tickers = []
    for item in items:
        if not isinstance(item, dict):
            raise FrameError(Model.TICKER_ALL, "an item is not an object")
        tickers.append(parse_ticker(item, received_at_ms, model=Model.TICKER_ALL))
    return tickers


def _levels(body: Mapping[str, Any], key: str, model: int) -> list[Mapping[str, Any]]:
    value = body.get(key, [])
    # An absent or null side means "no levels" (an empty side of a book is legitimate).
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FrameError(model, f"field {key} is not a list of objects")
    return value


def _price(level: Mapping[str, Any], model: int) -> Decimal:
    price = _money(level, "P", model)
    if price == 0:
        raise FrameError(model, "level price is zero")
    return price


def parse_book_snapshot(body: Mapping[str, Any]) -> BookSnapshotFrame:
    """A 431 body -> BookSnapshotFrame (AO = asks, BO = bids). Zero-amount levels are dropped."""
    model = Model.ORDERBOOK_FULL
    symbol = _symbol(body, model)
    cs = _int_field(body, "CS", model)

    def side(key: str) -> tuple[BookLevel, ...]:
        out = []
        for level in _levels(body, key, model):
            price, qty = _price(level, model), _money(level, "A", model)
            if qty > 0:
                out.append(BookLevel(price=price, quantity=qty))
        return tuple(out)

    return BookSnapshotFrame(symbol=symbol, cs=cs, bids=side("BO"), asks=side("AO"))


def parse_book_diff(body: Mapping[str, Any]) -> BookDiffFrame:
    """A 432 body -> BookDiffFrame; an unknown `CP` is a malformed frame, not a guess."""
    model = Model.ORDERBOOK_DIFF
    symbol = _symbol(body, model)
    cs = _int_field(body, "CS", model)

    def side(key: str) -> tuple[LevelChange, ...]:
        out = []
        for level in _levels(body, key, model):
            cp = _int_field(level, "CP", model)
            try:
                op = DiffOp(cp)
            except ValueError:
                raise FrameError(model, f"unknown CP {cp}") from None
            # A removal may omit the amount; it is irrelevant there.
            if op is DiffOp.REMOVE and "A" not in level:
                qty = Decimal(0)
            else:
                qty = _money(level, "A", model)
            out.append(LevelChange(op=op, price=_price(level, model), quantity=qty))
        return tuple(out)

    return BookDiffFrame(symbol=symbol, cs=cs, bids=side("BO"), asks=side("AO"))


def _opt_int(body: Mapping[str, Any], key: str, model: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise FrameError(model, f"field {key} is not an int")
    if isinstance(value, int):
        return value
    # Ids above 2**53 may come as strings in some clients' frames; accept plain ASCII digits
    # (str.isdigit() also says yes to "²", which int() refuses).
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise FrameError(model, f"field {key} is not an int")


def _opt_str(body: Mapping[str, Any], key: str, model: int) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FrameError(model, f"field {key} is not a string")
    return value


def parse_private_hint(model: int, body: Mapping[str, Any]) -> PrivateHint:
    """A private model body -> PrivateHint. The client-id field name differs per model (ref 6.2)."""
    if model in (Model.ORDER_INSERT, Model.ORDER_DELETE, Model.ORDER_UPDATE):
        return PrivateHint(
            model=model,
            symbol=normalize_symbol(_str_field(body, "symbol", model)),
            order_id=_opt_int(body, "id", model),
            client_id=_opt_str(body, "newOrderClientId", model),
        )
    if model == Model.USER_ORDER_MATCH:
        # 441 `id` is the order id (it equals the 451 `id` of the same order in the reference).
        return PrivateHint(
            model=model,
            symbol=normalize_symbol(_str_field(body, "symbol", model)),
            order_id=_opt_int(body, "id", model),
            client_id=_opt_str(body, "clientId", model),
        )
    if model == Model.USER_TRADE:
        # 423 has no `type` and no pair symbol: the pair is numerator + denominator; `id` is the
        # trade id, `orderId` the order.
        base = _str_field(body, "numeratorSymbol", model)
        quote = _str_field(body, "denominatorSymbol", model)
        return PrivateHint(
            model=model,
            symbol=normalize_symbol(base + quote),
            order_id=_opt_int(body, "orderId", model),
            client_id=_opt_str(body, "orderClientId", model),
        )
    if model == Model.USER_BALANCE:
        return PrivateHint(model=model, symbol=None, order_id=None, client_id=None)
    raise FrameError(model, "not a private model")
