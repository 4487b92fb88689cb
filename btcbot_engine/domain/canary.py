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

    @property
    def active(self) -> bool:
        """True while the canary still runs."""
        return self.state == "running"
