"""Orders as we ask for them, as the exchange reports them, and as our OMS tracks them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    """Order side, as BTCTurk spells it on the wire (`orderType`)."""

    BUY = "buy"
    SELL = "sell"


class OrderMethod(StrEnum):
    """Order method, as BTCTurk spells it on the wire (`orderMethod`)."""

    LIMIT = "limit"
    MARKET = "market"
    STOP_LIMIT = "stoplimit"
    STOP_MARKET = "stopmarket"


class ExchangeOrderStatus(StrEnum):
    """BTCTurk's REST order status strings."""

    UNTOUCHED = "Untouched"
    PARTIAL = "Partial"
    CLOSED = "Closed"
    CANCELED = "Canceled"

    @property
    def is_open(self) -> bool:
        return self in (ExchangeOrderStatus.UNTOUCHED, ExchangeOrderStatus.PARTIAL)


class OrderState(StrEnum):
    """Our OMS life cycle. UNKNOWN = a submit or cancel whose outcome we have not seen."""

    NEW = "NEW"
    SUBMITTING = "SUBMITTING"
    OPEN = "OPEN"
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What we send. For a market BUY, `quantity` is the quote amount to spend (BTCTurk's rule)."""

    symbol: str
    side: Side
    method: OrderMethod
    quantity: Decimal
    price: Decimal | None
    client_id: str


@dataclass(frozen=True, slots=True)
class SubmitAck:
    """The exchange accepted a submit and gave it an id."""

    order_id: int
    client_id: str | None
    symbol: str
    side: Side
    method: OrderMethod
    price: Decimal | None
    quantity: Decimal
    created_ms: int


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the exchange reports it (open orders, all orders, order by id)."""

    order_id: int
    client_id: str | None
    symbol: str
    side: Side
    method: OrderMethod
    price: Decimal
    quantity: Decimal
    left_quantity: Decimal
    status: ExchangeOrderStatus
    updated_ms: int

    @property
    def filled_quantity(self) -> Decimal:
        return self.quantity - self.left_quantity
