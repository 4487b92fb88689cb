"""Decimal construction that refuses floats, NaN and infinities.

Money never passes through a float: a float has already lost digits, so accepting one would
hide the bug instead of naming it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

ZERO = Decimal("0")


class MoneyError(ValueError):
    """A value that cannot be a price, quantity, fee or balance."""


def to_decimal(value: object, *, field: str = "value") -> Decimal:
    """Build a finite Decimal from a str, int or Decimal; refuse floats, bools and non-finite."""
    if isinstance(value, (bool, float)):
        raise MoneyError(
            f"{field}: refusing {type(value).__name__} {value!r}; use a decimal string"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise MoneyError(f"{field}: empty string is not a number")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{field}: {value[:40]!r} is not a decimal number") from None
    else:
        raise MoneyError(f"{field}: expected a decimal string, got {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"{field}: {value!r} is not a finite number")
    return result


def to_non_negative(value: object, *, field: str = "value") -> Decimal:
    """Like to_decimal, and refuse values below zero."""
    result = to_decimal(value, field=field)
    if result < 0:
        raise MoneyError(f"{field}: {result} is negative")
    return result


def fmt(value: Decimal) -> str:
    """Plain decimal text without exponent (what the exchange expects on the wire)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
