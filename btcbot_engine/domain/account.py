"""Account balances."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance: total = free + locked (locked is held by open orders)."""

    asset: str
    total: Decimal
    free: Decimal
    locked: Decimal
