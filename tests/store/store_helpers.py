"""Helpers shared by the store tests (a uniquely named module, importable from any test file)."""

from __future__ import annotations

from decimal import Decimal

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import OrderMethod, OrderState, Side
from btcbot_engine.domain.records import OrderRecord


class FakeClock:
    """A settable millisecond clock so updated_ms columns are predictable."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int = 1) -> int:
        self.now_ms += ms
        return self.now_ms


def make_order(client_id: str = "c-1", **overrides: object) -> OrderRecord:
    """An order record with sensible defaults."""
    values: dict[str, object] = {
        "client_id": client_id,
        "symbol": "BTCTRY",
        "side": Side.BUY,
        "method": OrderMethod.LIMIT,
        "price": Decimal("2500000.5"),
        "quantity": Decimal("0.00012345"),
        "filled_quantity": Decimal("0"),
        "state": OrderState.NEW,
        "idempotency_key": f"idem-{client_id}",
        "payload_hash": "sha256:abc",
        "run_id": "run-1",
        "cycle_id": "cycle-1",
        "intent": "entry",
        "created_ms": 1_700_000_000_000,
        "updated_ms": 1_700_000_000_000,
    }
    values.update(overrides)
    return OrderRecord(**values)  # type: ignore[arg-type]


def make_fill(trade_id: int = 1181163798924649598, **overrides: object) -> Fill:
    """A fill with sensible defaults (the default trade id is beyond float precision)."""
    values: dict[str, object] = {
        "trade_id": trade_id,
        "order_id": 1181163798924649001,
        "client_id": "c-1",
        "symbol": "BTCTRY",
        "base": "BTC",
        "quote": "TRY",
        "side": Side.BUY,
        "price": Decimal("2500000.5"),
        "quantity": Decimal("0.00012345"),
        "fee": Decimal("0.61728"),
        "tax": Decimal("0.111110"),
        "fee_asset": "TRY",
        "timestamp_ms": 1_700_000_000_500,
    }
    values.update(overrides)
    return Fill(**values)  # type: ignore[arg-type]
