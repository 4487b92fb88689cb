"""Things the engine persists: orders as the OMS tracks them, their events, ledger entries,
decisions, cycles and metrics.

Frozen dataclasses with Decimal money and int ids, no I/O. The store turns them into rows and
back; nothing here knows about SQLite. JSON-ish payloads (`detail`, `summary`, `labels`) are plain
mappings; Decimals inside them come back from the store as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from btcbot_engine.domain.orders import OrderMethod, OrderState, Side


def _empty() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as our OMS tracks it, persisted before any HTTP call is made for it.

    `idempotency_key` identifies the intent (same intent -> same key -> never a second order);
    `payload_hash` fingerprints the exact request sent. `exchange_order_id` is None until the
    exchange acknowledges (or until an UNKNOWN order is resolved by client id).
    """

    client_id: str
    symbol: str
    side: Side
    method: OrderMethod
    price: Decimal | None
    quantity: Decimal
    filled_quantity: Decimal
    state: OrderState
    idempotency_key: str
    payload_hash: str
    run_id: str
    cycle_id: str
    intent: str
    created_ms: int
    updated_ms: int
    exchange_order_id: int | None = None
    reason: str | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One state transition of one order. `from_state` is None for the creation event."""

    client_id: str
    from_state: OrderState | None
    to_state: OrderState
    ts_ms: int
    detail: str = ""
    id: int | None = None


class LedgerKind(StrEnum):
    """What a ledger entry records."""

    FILL = "FILL"
    FEE = "FEE"
    TAX = "TAX"
    FEE_CONVERSION = "FEE_CONVERSION"
    ADJUSTMENT = "ADJUSTMENT"


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One append-only ledger entry. `quantity` is signed (asset delta); `seq` is set by the store.

    `amount_quote` is the entry's value in the pair's quote currency; `ref` links back to its
    source (e.g. the trade id as text).
    """

    ts_ms: int
    kind: LedgerKind
    asset: str
    quantity: Decimal
    amount_quote: Decimal
    symbol: str | None = None
    price: Decimal | None = None
    ref: str | None = None
    detail: str = ""
    seq: int | None = None


class DecisionStage(StrEnum):
    """The cycle stage that made a decision."""

    MARKET_DATA = "market_data"
    UNIVERSE = "universe"
    STRATEGY = "strategy"
    RISK = "risk"
    GATES = "gates"
    OMS = "oms"


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision with its reason code (e.g. stage=market_data, reason_code=market_data:stale)."""

    run_id: str
    cycle_id: str
    ts_ms: int
    stage: DecisionStage
    action: str
    reason_code: str
    symbol: str | None = None
    detail: Mapping[str, Any] = field(default_factory=_empty)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """One engine cycle. `finished_ms` and `outcome` are None while it runs."""

    cycle_id: str
    run_id: str
    started_ms: int
    mode: str
    finished_ms: int | None = None
    outcome: str | None = None
    summary: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One sample of a named metric."""

    ts_ms: int
    name: str
    value: Decimal
    labels: Mapping[str, str] = field(default_factory=_empty)
    id: int | None = None
