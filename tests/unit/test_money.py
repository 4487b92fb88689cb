"""Money: Decimals from strings only; floats, NaN and infinities are refused by name."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.domain.money import MoneyError, fmt, to_decimal, to_non_negative


@pytest.mark.parametrize(
    "bad", [0.1, True, float("nan"), "NaN", "Infinity", "-inf", "", "1,5", None]
)
def test_refused(bad: object) -> None:
    with pytest.raises(MoneyError) as info:
        to_decimal(bad, field="price")
    assert "price" in str(info.value)


def test_accepted() -> None:
    assert to_decimal("1234567890.12345678") == Decimal("1234567890.12345678")
    assert to_decimal(1181163798924649598) == Decimal(1181163798924649598)
    assert to_decimal(Decimal("0.1")) == Decimal("0.1")
    with pytest.raises(MoneyError, match="negative"):
        to_non_negative("-0.01", field="fee")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_fmt_round_trips_without_exponent(value: Decimal) -> None:
    text = fmt(value)
    assert "E" not in text.upper()
    assert Decimal(text) == value
