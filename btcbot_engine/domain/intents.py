"""What strategies propose and what risk decides about it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from btcbot_engine.domain.orders import Side


class IntentKind(StrEnum):
    """OPEN adds exposure (a buy); REDUCE lowers it (a sell of what we hold)."""

    OPEN = "OPEN"
    REDUCE = "REDUCE"


@dataclass(frozen=True, slots=True)
class Intent:
    """A strategy's wish for one limit order, before risk, gates and quantization.

    `key` is stable for the same wish within a cycle (strategy, symbol, side, purpose); the OMS
    derives the client order id and the idempotency key from run, cycle and this key.
    """

    strategy: str
    symbol: str
    side: Side
    kind: IntentKind
    price: Decimal
    quantity: Decimal
    reason: str  # why the strategy wants it, e.g. "take_profit:spread_ok"
    key: str

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class Verdict:
    """Risk's answer for one intent: accepted or dropped, always with a reason code."""

    intent: Intent
    accepted: bool
    reason_code: str  # e.g. "risk:ok", "risk:max_orders_per_cycle", "risk:cooldown"
    detail: str = ""
