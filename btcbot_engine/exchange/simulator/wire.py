"""JSON as BTCTurk writes it: exact Decimal numbers, big ints, strings formatted at a scale.

`json.dumps` would turn a Decimal into a float (or refuse it). Here a Decimal is written as a JSON
number from its own digits, so ticker numbers never pass through a float, and a float anywhere in
a reply is a bug that raises instead of leaking rounding onto the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from json.encoder import encode_basestring  # C-accelerated, keeps non-ASCII as is
from typing import Any

from btcbot_engine.domain.money import fmt

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def dumps(value: Any) -> str:
    """Encode dicts, lists, str, int, bool, None and Decimal (as a number) to compact JSON."""
    parts: list[str] = []
    _encode(value, parts.append)
    return "".join(parts)


def _encode(value: Any, out: Callable[[str], object]) -> None:
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        out(str(value))
    elif isinstance(value, Decimal):
        out(decimal_number(value))
    elif isinstance(value, str):
        out(encode_basestring(value))
    elif isinstance(value, dict):
        out("{")
        first = True
        for key, item in value.items():
            if not first:
                out(",")
            first = False
            out(encode_basestring(str(key)))
            out(":")
            _encode(item, out)
        out("}")
    elif isinstance(value, list | tuple):
        out("[")
        for index, item in enumerate(value):
            if index:
                out(",")
            _encode(item, out)
        out("]")
    else:
        # Floats included on purpose: money must never reach the wire through a float.
        raise TypeError(f"cannot encode {type(value).__name__} as simulator JSON")


def decimal_number(value: Decimal) -> str:
    """A Decimal as JSON number text, without exponent or trailing zeros."""
    if not value.is_finite():
        raise ValueError(f"non-finite number {value!r} cannot go on the wire")
    return fmt(value)


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping non-integer numbers exact (as Decimal)."""
    return json.loads(text, parse_float=Decimal)


def scaled(value: Decimal, scale: int) -> str:
    """A decimal string with exactly `scale` places, truncated (the exchange never rounds up)."""
    quantum = Decimal(1).scaleb(-scale)
    return format(value.quantize(quantum, rounding=ROUND_DOWN), "f")


def plain(value: Decimal) -> str:
    """A decimal string without trailing zeros (`0.0412345`)."""
    return fmt(value)


def decimals_of(value: Decimal) -> int:
    """How many decimal places a value really uses (trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)
