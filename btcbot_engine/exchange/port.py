"""The one exchange protocol that live, paper and replay exchanges implement, and its errors.

Everything crossing this boundary is a domain type: Decimal money, int ids, enums. Callers never
see wire JSON, httpx or websockets objects.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from btcbot_engine.domain.account import Balance
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.market import OrderBook, Ticker
from btcbot_engine.domain.orders import ExchangeOrder, OrderRequest, SubmitAck
from btcbot_engine.domain.rules import SymbolRules


class ExchangeError(Exception):
    """Base of every error an exchange adapter raises. Messages never carry secrets."""


class RateLimited(ExchangeError):
    """HTTP 429 (or our own limiter refused to wait that long); retry after `retry_after` s."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(f"rate limited; retry after {retry_after:.1f} s {detail}".strip())
        self.retry_after = retry_after


class Rejected(ExchangeError):
    """The exchange refused the request for a business reason.

    `reason` is the exchange's message string (e.g. FAILED_MIN_TOTAL_AMOUNT): match on it, not on
    `code`, because BTCTurk's integer codes drifted between 2022 and 2024.
    """

    def __init__(
        self, reason: str, code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(f"rejected: {reason}" + (f" (code {code})" if code is not None else ""))
        self.reason = reason
        self.code = code
        self.http_status = http_status


class OrderNotFound(Rejected):
    """The exchange does not know this order id."""


class AuthFailed(ExchangeError):
    """HTTP 401: bad key, signature, nonce window or IP restriction."""


class ExchangeUnavailable(ExchangeError):
    """Transport failure, timeout, 5xx, maintenance or a non-JSON error page."""


class MalformedResponse(ExchangeError):
    """A reply we cannot read as the documented shape; the message names what is wrong."""


class WriteBlocked(ExchangeError):
    """The pre-write guard refused a submit or cancel (gates not armed, kill switch, safe mode).

    Raised before any byte is sent, so the exchange's state is unchanged.
    """

    def __init__(self, action: str, blocked_by: list[str] | tuple[str, ...]) -> None:
        super().__init__(f"{action} blocked by: {', '.join(blocked_by) or 'guard'}")
        self.action = action
        self.blocked_by = tuple(blocked_by)


class SubmitUncertain(ExchangeError):
    """A submit was sent but its reply was lost: the order may or may not exist.

    Never retried blindly; the OMS resolves it by `client_id` through open and all orders.
    """

    def __init__(self, client_id: str, detail: str = "") -> None:
        super().__init__(f"submit outcome unknown for client id {client_id}: {detail}".strip())
        self.client_id = client_id


@runtime_checkable
class ExchangePort(Protocol):
    """What the engine needs from an exchange. All calls are async; none retries a submit."""

    async def server_time_ms(self) -> int:
        """The exchange's clock, in Unix milliseconds."""
        ...

    async def exchange_info(self) -> dict[str, SymbolRules]:
        """Rules for every pair, keyed by symbol (`BTCTRY`)."""
        ...

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        """Tickers for the given pairs, or every pair when None."""
        ...

    async def order_book(self, symbol: str, limit: int = 100) -> OrderBook:
        """The top of the book for one pair."""
        ...

    async def balances(self) -> list[Balance]:
        """Every asset's balance (needs keys)."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Our open orders, for one pair or all."""
        ...

    async def all_orders(
        self, symbol: str, *, start_ms: int | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        """Our orders of any status for one pair, newest window first as the exchange returns."""
        ...

    async def order(self, order_id: int) -> ExchangeOrder:
        """One order by exchange id; raises OrderNotFound."""
        ...

    async def orders_by_client_id(self, symbol: str, client_id: str) -> list[ExchangeOrder]:
        """Orders carrying our client id, searched through open then all orders."""
        ...

    async def fills(self, symbol: str | None, *, since_ms: int | None = None) -> list[Fill]:
        """Our fills for one pair (None: every pair) at or after `since_ms`, oldest first."""
        ...

    async def submit(self, request: OrderRequest) -> SubmitAck:
        """Send one order. Raises SubmitUncertain if the reply was lost; never retries."""
        ...

    async def cancel(self, order_id: int) -> None:
        """Ask to cancel. On BTCTurk success means accepted; confirm by order status."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
