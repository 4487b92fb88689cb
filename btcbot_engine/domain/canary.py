"""The bounded live canary: what the operator asked for and how it is going (no I/O here).

`CanaryPlan` is the operator's request (CLI flags or the TUI wizard); `CanaryView` is the
immutable progress and summary that the engine publishes in every snapshot while a canary runs
and after it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CanaryPlan:
    """One bounded live run: one symbol, one passive order at a time, a TTL, a cycle cap."""

    symbol: str
    notional_try: Decimal
    ttl_seconds: float
    max_cycles: int = 1
    cycle_seconds: float = 10.0
    # How far below the best bid to rest: 0 = one price step below (the least passive price
    # that still rests); more keeps the order further from a fill.
    offset_bps: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class CanaryOrder:
    """One canary order as last read back from the exchange (the summary's evidence)."""

    client_id: str
    order_id: int | None
    side: str
    price: Decimal | None
    quantity: Decimal
    filled_quantity: Decimal
    state: str  # our OMS state (OPEN, CANCELED, FILLED, REJECTED, ...)
    exchange_status: str = ""  # Untouched / Partial / Closed / Canceled, "absent", or "" unread


@dataclass(frozen=True, slots=True)
class CanaryView:
    """Progress and (once finished) the summary verified against the exchange.

    state: "running", "finished" (ran its cycles), "stopped" (a stop condition or an abort),
    or "refused" (never started: gates not LIVE, caps exceeded, unknown symbol...).
    """

    plan: CanaryPlan
    state: str
    cycle: int = 0
    stop_reason: str = ""  # reason code, e.g. "canary:stale_data", "canary:kill"
    orders_placed: int = 0
    orders_open: int = 0  # open on the exchange at the last check
    fills: int = 0
    filled_quantity: Decimal = Decimal(0)
    filled_notional_try: Decimal = Decimal(0)
    fees_try: Decimal = Decimal(0)
    pnl_try: Decimal = Decimal(0)
    verified: bool = False  # summary figures re-read from the exchange after the run
    events: tuple[str, ...] = ()  # newest last, short operator-facing lines
    detail: str = ""  # one line explaining stop_reason (or the refusal)
    orders: tuple[CanaryOrder, ...] = ()  # the canary's orders, as verified
    other_open: int = 0  # open orders on the symbol that are not the canary's (at the check)
    safe_mode_on: bool = False  # safe mode was turned on when the canary ended
    started_ms: int | None = None
    ended_ms: int | None = None

    @property
    def active(self) -> bool:
        """True while the canary still runs."""
        return self.state == "running"
