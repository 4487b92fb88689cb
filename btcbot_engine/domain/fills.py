"""Fills (our trades) as the exchange reports them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from btcbot_engine.domain.orders import Side


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders.

    Quantities and fees are positive magnitudes here; BTCTurk's wire signs (negative sell amount,
    negative fee and tax) are removed by the parser and carried by `side`.
    """

    trade_id: int
    order_id: int
    client_id: str | None
    symbol: str
    base: str
    quote: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    tax: Decimal
    fee_asset: str
    timestamp_ms: int

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity
