"""Money as exact decimal TEXT and ids as exact int64, through a real SQLite file."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import make_fill

from btcbot_engine.domain.records import MetricPoint
from btcbot_engine.store.db import Store
from btcbot_engine.store.fields import DecimalTextField, StrictIntegerField
from btcbot_engine.store.models import FillRow, MetricRow

BIG_TRADE_ID = 1181163798924649598  # a real-sized BTCTurk trade id; float(BIG) != BIG


def _raw(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1234567890.12345678"),
        Decimal("1e-18"),
        Decimal("0.000000000000000001"),
        Decimal("-0.000000000000000001"),
        Decimal("123456789012345678901234567890.123456789012345678"),
        Decimal("1.500"),  # trailing zeros (the exchange's scale) survive
        Decimal("0"),
        Decimal("-0"),
    ],
)
def test_decimal_round_trip_is_exact(store: Store, db_path: Path, value: Decimal) -> None:
    store.metrics.record(MetricPoint(ts_ms=1, name="m", value=value))
    [point] = store.metrics.recent("m")
    assert point.value == value
    assert point.value.as_tuple() == value.as_tuple()
    [(stored, kind)] = _raw(db_path, "SELECT value, typeof(value) FROM metrics")
    assert kind == "text"
    assert stored == format(value, "f")
    assert "e" not in stored.lower()


def test_1234567890_12345678_is_stored_as_that_text(store: Store, db_path: Path) -> None:
    store.fills.insert_if_new(make_fill(price=Decimal("1234567890.12345678")))
    assert _raw(db_path, "SELECT price FROM fills") == [("1234567890.12345678",)]
    [fill] = store.fills.all()
    assert fill.price == Decimal("1234567890.12345678")


def test_positive_exponent_is_written_without_exponent(store: Store, db_path: Path) -> None:
    store.metrics.record(MetricPoint(ts_ms=1, name="m", value=Decimal("1E+3")))
    assert _raw(db_path, "SELECT value FROM metrics") == [("1000",)]
    assert store.metrics.recent("m")[0].value == Decimal("1000")


@pytest.mark.parametrize("bad", [1.5, 0.1, True, "1.5", Decimal("NaN"), Decimal("Infinity")])
def test_decimal_field_refuses_non_decimals_naming_the_field(store: Store, bad: object) -> None:
    with pytest.raises(TypeError, match=r"MetricRow\.value"):
        MetricRow.insert(ts_ms=1, name="m", value=bad, labels="{}").execute()
    assert MetricRow.select().count() == 0


def test_float_money_through_a_repository_is_refused(store: Store) -> None:
    with pytest.raises(TypeError, match=r"FillRow\.price"):
        store.fills.insert_if_new(make_fill(price=2500000.5))  # type: ignore[arg-type]
    assert store.fills.all() == []


def test_int_is_accepted_as_money(store: Store) -> None:
    store.metrics.record(MetricPoint(ts_ms=1, name="m", value=42))  # type: ignore[arg-type]
    assert store.metrics.recent("m")[0].value == Decimal(42)


def test_decimal_field_refuses_a_stored_real() -> None:
    field = DecimalTextField()
    with pytest.raises(TypeError, match="not decimal text"):
        field.python_value(1.5)
    with pytest.raises(TypeError, match="not a decimal"):
        field.python_value("abc")


def test_int64_trade_id_is_exact(store: Store, db_path: Path) -> None:
    assert float(BIG_TRADE_ID) != BIG_TRADE_ID  # the reason ids never pass through a float
    assert store.fills.insert_if_new(make_fill(trade_id=BIG_TRADE_ID))
    assert _raw(db_path, "SELECT trade_id, typeof(trade_id), order_id FROM fills") == [
        (BIG_TRADE_ID, "integer", 1181163798924649001)
    ]
    fill = store.fills.get(BIG_TRADE_ID)
    assert fill is not None
    assert fill.trade_id == BIG_TRADE_ID
    assert store.fills.get(BIG_TRADE_ID + 1) is None


@pytest.mark.parametrize("bad", [1.1811637989246496e18, True, "1181163798924649598", 2**63])
def test_id_field_refuses_floats_bools_strings_and_overflow(store: Store, bad: object) -> None:
    with pytest.raises(TypeError, match=r"FillRow\.trade_id"):
        store.fills.insert_if_new(make_fill(trade_id=bad))  # type: ignore[arg-type]
    assert store.fills.all() == []


def test_strict_integer_reads() -> None:
    field = StrictIntegerField()
    assert field.python_value(None) is None
    with pytest.raises(TypeError):
        field.python_value(1.0)


_decimals = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-30, max_value=0),
) | st.decimals(allow_nan=False, allow_infinity=False, places=18)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_decimals)
def test_decimal_round_trip_property(store: Store, value: Decimal) -> None:
    # The store is shared across examples: each example writes its own row and reads it back.
    store.metrics.record(MetricPoint(ts_ms=1, name="prop", value=value))
    [point] = store.metrics.recent("prop", limit=1)
    assert point.value == value
    if value.as_tuple().exponent <= 0:  # type: ignore[operator]
        # Same digits and scale, not just the same value (quantities keep the exchange's scale).
        assert point.value.as_tuple() == value.as_tuple()
    else:
        # 1E+28 is written as plain digits (no exponents in the file) and reads back as such.
        assert point.value.as_tuple().exponent == 0


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trade_id=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_round_trip_property(store: Store, trade_id: int) -> None:
    store.fills.insert_if_new(make_fill(trade_id=trade_id))
    row = FillRow.get_by_id(trade_id)
    assert row.trade_id == trade_id
    assert type(row.trade_id) is int
