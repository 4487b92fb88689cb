"""Client-side rate limiter per BTCTurk endpoint group (reference section 5).

BTCTurk blocks an endpoint for up to 60 s once a quota is exceeded, so it is much cheaper to wait
a little on our side than to send into a 429. Every group keeps one sliding-window log per quota;
`acquire()` sleeps until every window of the group has a free slot, then records the request.

Limits are scaled by `share` (0 < share <= 1) so other tools on the same account/IP keep headroom.
The clock and the sleep function are injectable so tests run on a fake clock without waiting.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from btcbot_engine.exchange.port import RateLimited


@dataclass(frozen=True, slots=True)
class Quota:
    """At most `limit` requests in any `period_s` seconds."""

    limit: int
    period_s: float


# Group names used by the REST client. Endpoints the reference lists no limit for (server time,
# exchange info) use no group at all.
ORDER_SUBMIT = "order_submit"  # POST /api/v1/order
ORDER_CANCEL = "order_cancel"  # DELETE /api/v1/order
ORDER_GET = "order_get"  # GET /api/v1/order/{id}
OPEN_ORDERS = "open_orders"  # GET /api/v1/openOrders
ALL_ORDERS = "all_orders"  # GET /api/v1/allOrders
BALANCES = "balances"  # GET /api/v1/users/balances
USER_TRADES = "user_trades"  # GET /api/v1/users/transactions/trade
TICKER = "ticker"  # GET /api/v2/ticker
ORDERBOOK = "orderbook"  # GET /api/v2/orderbook
GRAPH = "graph"  # graph-api ohlcs / klines

DEFAULT_QUOTAS: Mapping[str, tuple[Quota, ...]] = {
    ORDER_SUBMIT: (Quota(10, 1.0), Quota(300, 60.0)),
    ORDER_CANCEL: (Quota(10, 1.0), Quota(300, 60.0)),
    ORDER_GET: (Quota(30, 1.0), Quota(900, 60.0)),
    OPEN_ORDERS: (Quota(300, 60.0),),
    ALL_ORDERS: (Quota(300, 60.0),),
    BALANCES: (Quota(120, 60.0),),
    USER_TRADES: (Quota(120, 60.0),),
    TICKER: (Quota(600, 60.0),),
    ORDERBOOK: (Quota(180, 60.0),),
    # ohlcs 120/60 s, and the whole graph host 600 per 10 min.
    GRAPH: (Quota(120, 60.0), Quota(600, 600.0)),
}


class _Window:
    """Timestamps of the requests inside one quota's sliding window."""

    __slots__ = ("limit", "log", "period_s")

    def __init__(self, limit: int, period_s: float) -> None:
        self.limit = limit
        self.period_s = period_s
        self.log: deque[float] = deque()

    def purge(self, now: float) -> None:
        horizon = now - self.period_s
        while self.log and self.log[0] <= horizon:
            self.log.popleft()

    def wait_needed(self, now: float) -> float:
        self.purge(now)
        if len(self.log) < self.limit:
            return 0.0
        # Full: the slot frees when the request `limit` places back leaves the window.
        return self.log[len(self.log) - self.limit] + self.period_s - now


class RateLimiter:
    """Delays requests so each endpoint group stays within its (scaled) quotas."""

    def __init__(
        self,
        share: float = 0.8,
        *,
        quotas: Mapping[str, tuple[Quota, ...]] = DEFAULT_QUOTAS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not (0 < share <= 1) or math.isnan(share):
            raise ValueError(f"rate_limit_share must be in (0, 1], got {share!r}")
        self.share = share
        self._clock = clock
        self._sleep = sleep
        self._windows: dict[str, tuple[_Window, ...]] = {
            group: tuple(
                # At least one request per period, or a small share would forbid a group entirely.
                _Window(max(1, math.floor(q.limit * share)), q.period_s)
                for q in group_quotas
            )
            for group, group_quotas in quotas.items()
        }
        self._blocked_until: dict[str, float] = {}

    def limits(self, group: str) -> tuple[Quota, ...]:
        """The scaled quotas in force for `group` (empty for an unknown group)."""
        return tuple(Quota(w.limit, w.period_s) for w in self._windows.get(group, ()))

    def wait_needed(self, group: str | None) -> float:
        """Seconds until `group` has a free slot in every window (0 = now)."""
        if group is None:
            return 0.0
        now = self._clock()
        wait = max(0.0, self._blocked_until.get(group, 0.0) - now)
        for window in self._windows.get(group, ()):
            wait = max(wait, window.wait_needed(now))
        return wait

    def _record(self, group: str, now: float) -> None:
        for window in self._windows.get(group, ()):
            window.log.append(now)

    async def acquire(self, group: str | None, *, max_wait_s: float | None = None) -> float:
        """Wait for a slot in `group`, take it, and return the seconds waited.

        Raises RateLimited, without taking a slot, when the wait would exceed `max_wait_s`: a
        caller with a deadline learns that at once instead of sleeping and then failing.
        """
        if group is None or (group not in self._windows and group not in self._blocked_until):
            return 0.0
        start = self._clock()
        while True:
            wait = self.wait_needed(group)
            if wait <= 0:
                self._record(group, self._clock())
                return self._clock() - start
            waited = self._clock() - start
            if max_wait_s is not None and waited + wait > max_wait_s:
                raise RateLimited(
                    waited + wait, f"(client-side limiter for {group}: {wait:.1f} s until a slot)"
                )
            # Re-check after waking: another task may have taken the slot meanwhile.
            await self._sleep(wait)

    def block(self, group: str | None, seconds: float) -> None:
        """Hold `group` for `seconds` (the server answered 429 with Retry-After)."""
        if group is None:
            return
        until = self._clock() + max(0.0, seconds)
        self._blocked_until[group] = max(until, self._blocked_until.get(group, 0.0))

    def budget_used(self) -> dict[str, float]:
        """Per group, the fraction of its tightest window in use (1.0 = full or blocked)."""
        now = self._clock()
        usage: dict[str, float] = {}
        for group, windows in self._windows.items():
            if self._blocked_until.get(group, 0.0) > now:
                usage[group] = 1.0
                continue
            fraction = 0.0
            for window in windows:
                window.purge(now)
                fraction = max(fraction, len(window.log) / window.limit)
            usage[group] = min(1.0, fraction)
        return usage
