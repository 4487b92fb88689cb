"""Builders and strategies shared by the ledger tests."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import Side

D = Decimal
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC = 2023-11-15 01:13:20 in Istanbul

_trade_ids = iter(range(10_000_000, 10**12))


def make_fill(
    side: Side | str,
    quantity: str | Decimal,
    price: str | Decimal,
    *,
    fee: str | Decimal = "0",
    tax: str | Decimal = "0",
    base: str = "BTC",
    quote: str = "TRY",
    trade_id: int | None = None,
    ts_ms: int = T0,
) -> Fill:
    """A fill as the parser would produce it (positive magnitudes, fee in the quote)."""
    return Fill(
        trade_id=next(_trade_ids) if trade_id is None else trade_id,
        order_id=42,
        client_id="c-1",
        symbol=base + quote,
        base=base,
        quote=quote,
        side=Side(side),
        price=D(price),
        quantity=D(quantity),
        fee=D(fee),
        tax=D(tax),
        fee_asset=quote,
        timestamp_ms=ts_ms,
    )


def scaled(max_units: int, places: int, *, min_units: int = 1) -> st.SearchStrategy[Decimal]:
    """Decimals with at most `places` decimals, like exchange amounts (never built from floats)."""
    return st.integers(min_units, max_units).map(lambda n: D(n).scaleb(-places))


QUANTITIES = scaled(10**8, 8)  # up to 1 BTC in satoshis
PRICES = scaled(10**9, 2)  # up to 10,000,000.00
FEES = scaled(10**9, 8, min_units=0)  # up to 10 in the quote
RATES = scaled(10**6, 4)  # USDTTRY up to 100.0000

PAIRS = st.sampled_from([("BTC", "TRY"), ("BTC", "USDT")])


def find_floats(value: Any, path: str = "snapshot") -> list[str]:
    """Paths of every float inside a dataclass / tuple / mapping tree."""
    found: list[str] = []
    if isinstance(value, float):
        found.append(path)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            found += find_floats(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += find_floats(k, f"{path}[key]")
            found += find_floats(v, f"{path}[{k!r}]")
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            found += find_floats(v, f"{path}[{i}]")
    return found
