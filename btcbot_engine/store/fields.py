"""Custom peewee fields that keep money exact and ids integral.

peewee's `DecimalField` is stored as REAL on SQLite, so 1234567890.12345678 comes back changed.
Money is therefore stored as plain decimal TEXT (`format(d, "f")`, never an exponent), and ids as
INTEGER that never pass through a float (trade ids reach ~1.2e18, past float precision).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from peewee import Field, IntegerField


def _field_label(field: Field) -> str:
    model = getattr(field, "model", None)
    name = getattr(field, "name", None) or "?"
    return f"{model.__name__}.{name}" if model is not None else name


class DecimalTextField(Field):
    """A Decimal stored as exact plain-decimal TEXT.

    Writes accept Decimal and int only: a float has already lost digits and a str would skip
    validation, so both raise TypeError naming the field. Reads return Decimal. Note that SQL
    comparisons and ORDER BY on these columns are textual, not numeric: compare in Python.
    """

    field_type = "TEXT"

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(
                f"{_field_label(self)}: refusing {type(value).__name__} {value!r}; "
                "store money as Decimal"
            )
        decimal = Decimal(value)
        if not decimal.is_finite():
            raise TypeError(f"{_field_label(self)}: refusing non-finite {value!r}")
        return format(decimal, "f")

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        if not isinstance(value, str):
            # The schema's CHECK(typeof(...) = 'text') makes this unreachable for our own files;
            # a REAL here would mean someone wrote the file behind our back.
            raise TypeError(
                f"{_field_label(self)}: stored value {value!r} is {type(value).__name__}, "
                "not decimal text"
            )
        try:
            return Decimal(value)
        except InvalidOperation:
            raise TypeError(
                f"{_field_label(self)}: stored text {value[:40]!r} is not a decimal"
            ) from None


class StrictIntegerField(IntegerField):
    """An INTEGER column that refuses floats, bools and strings on write.

    peewee's IntegerField calls `int(value)`, which would silently accept 1.1811637989246496e18
    (already rounded) for a trade id. Python ints map to SQLite's int64 exactly.
    """

    def db_value(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{_field_label(self)}: refusing {type(value).__name__} {value!r}; ids are int"
            )
        if not -(2**63) <= value < 2**63:
            raise TypeError(
                f"{_field_label(self)}: {value} does not fit in a signed 64-bit integer"
            )
        return value

    def python_value(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"{_field_label(self)}: stored value {value!r} is {type(value).__name__}, not int"
            )
        return value
