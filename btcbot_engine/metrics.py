"""Metric names (the METRICS CONTRACT) and per-cycle collection helpers.

Every trading cycle stores `MetricPoint` rows in the `metrics` table inside its one persist
transaction. The names below are the contract other modules (doctor, reports, alerts, the
prometheus exporter, the TUI) build against; use the constants, never string literals.

"_rate" metrics are counts per cycle (events observed during that cycle, or since the previous
cycle for feed reconnects), not per-second rates.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from btcbot_engine.domain.records import MetricPoint

# -- stored since the cycle issue -------------------------------------------------------------
CYCLE_DURATION_MS = "cycle_duration_ms"
ORDERS_SUBMITTED = "orders_submitted"  # count this cycle
STALE_MARKET_DATA = "stale_market_data"  # count of non-tradable quotes this cycle
EQUITY_TRY = "equity_try"

# -- observability ----------------------------------------------------------------------------
ORDERS_REJECTED = "orders_rejected"  # count this cycle
FILLS = "fills"  # new fills ingested this cycle
ORDER_SUBMIT_LATENCY_MS = "order_submit_latency_ms"  # one point per submit attempt {"symbol"}
CANCEL_LATENCY_MS = "cancel_latency_ms"  # one point per cancel attempt
REST_429_RATE = "rest_429_rate"  # HTTP 429 replies during the cycle
REST_RETRY_RATE = "rest_retry_rate"  # REST retries during the cycle
WS_RECONNECT_RATE = "ws_reconnect_rate"  # feed reconnects since the previous cycle
STALE_MARKET_DATA_RATE = "stale_market_data_rate"  # stale-or-missing quotes / universe, 0..1
RECONCILE_LAG_MS = "reconcile_lag_ms"  # age of the oldest unresolved UNKNOWN order, 0 if none
CIRCUIT_BREAKER_STATE = "circuit_breaker_state"  # 0 closed (trading allowed), 1 open
CLOCK_SKEW_MS = "clock_skew_ms"
REALIZED_PNL_TRY = "realized_pnl_try"
UNREALIZED_PNL_TRY = "unrealized_pnl_try"
FEES_TRY = "fees_try"
DRAWDOWN_PCT = "drawdown_pct"
OPEN_ORDERS = "open_orders"
RISK_MODE = "risk_mode"  # 0 NORMAL, 1 REDUCE_RISK_ONLY, 2 OBSERVE_ONLY; labels {"mode"}

#: Numeric value of each risk mode in the `risk_mode` metric.
RISK_MODE_VALUES: dict[str, int] = {"NORMAL": 0, "REDUCE_RISK_ONLY": 1, "OBSERVE_ONLY": 2}

#: Every metric name of the contract, in a stable order.
ALL_METRICS: tuple[str, ...] = (
    CYCLE_DURATION_MS,
    ORDERS_SUBMITTED,
    STALE_MARKET_DATA,
    EQUITY_TRY,
    ORDERS_REJECTED,
    FILLS,
    ORDER_SUBMIT_LATENCY_MS,
    CANCEL_LATENCY_MS,
    REST_429_RATE,
    REST_RETRY_RATE,
    WS_RECONNECT_RATE,
    STALE_MARKET_DATA_RATE,
    RECONCILE_LAG_MS,
    CIRCUIT_BREAKER_STATE,
    CLOCK_SKEW_MS,
    REALIZED_PNL_TRY,
    UNREALIZED_PNL_TRY,
    FEES_TRY,
    DRAWDOWN_PCT,
    OPEN_ORDERS,
    RISK_MODE,
)

#: Metrics with one point per event (histograms in the exporter), not one per cycle.
LATENCY_METRICS: frozenset[str] = frozenset({ORDER_SUBMIT_LATENCY_MS, CANCEL_LATENCY_MS})

#: Per-cycle counts (counters in the exporter: each point is added to the running total).
COUNT_METRICS: frozenset[str] = frozenset(
    {
        ORDERS_SUBMITTED,
        ORDERS_REJECTED,
        FILLS,
        REST_429_RATE,
        REST_RETRY_RATE,
        WS_RECONNECT_RATE,
    }
)


# -- per-cycle collection -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransportCounters:
    """Monotonically increasing transport counters, summed over every REST client and feed."""

    rest_429: int = 0
    rest_retries: int = 0
    ws_reconnects: int = 0

    def __sub__(self, other: TransportCounters) -> TransportCounters:
        return TransportCounters(
            self.rest_429 - other.rest_429,
            self.rest_retries - other.rest_retries,
            self.ws_reconnects - other.ws_reconnects,
        )


class CounterDeltas:
    """Turns monotonic counters into "since the last call" deltas (one call per cycle).

    The baseline is read when this is made, so the first cycle counts from engine start (its
    recovery traffic included). A counter that went backwards (a client was replaced) counts 0.
    """

    def __init__(self, read: Callable[[], TransportCounters]) -> None:
        self._read = read
        self._last = read()

    def take(self) -> TransportCounters:
        """Counts since the previous call."""
        now = self._read()
        delta = now - self._last
        self._last = now
        return TransportCounters(
            max(0, delta.rest_429), max(0, delta.rest_retries), max(0, delta.ws_reconnects)
        )


def no_counters() -> TransportCounters:
    """The counter source of a cycle that has none wired (all zero)."""
    return TransportCounters()


@dataclass(frozen=True, slots=True)
class CycleFigures:
    """Everything one cycle observed that becomes a metric point (see `cycle_points`)."""

    ts_ms: int
    duration_ms: int
    submitted: int
    rejected: int
    fills: int
    stale_quotes: int  # non-tradable quotes among every quote read (the older metric)
    universe_size: int
    universe_stale: int  # stale-or-missing quotes among the universe
    counters: TransportCounters
    reconcile_lag_ms: int
    breaker_open: bool
    clock_skew_ms: int | None
    open_orders: int
    risk_mode: str
    realized_pnl_try: Decimal | None = None
    unrealized_pnl_try: Decimal | None = None
    fees_try: Decimal | None = None
    drawdown_pct: Decimal | None = None
    equity_try: Decimal | None = None


def stale_rate(universe_stale: int, universe_size: int) -> Decimal:
    """Stale-or-missing quotes over the universe size, 0..1 (0 for an empty universe)."""
    if universe_size <= 0:
        return Decimal(0)
    return (Decimal(universe_stale) / Decimal(universe_size)).quantize(Decimal("0.0001"))


# Decimal values of the small counts most points carry, built once (a cycle stores ~18 points).
_SMALL: tuple[Decimal, ...] = tuple(Decimal(i) for i in range(64))


def _dec(value: Decimal | int) -> Decimal:
    if type(value) is int and 0 <= value < 64:
        return _SMALL[value]
    if type(value) is Decimal:
        return value  # immutable: no copy needed
    return Decimal(value)


def _optional(value: Decimal | int | None) -> Decimal | None:
    return None if value is None else _dec(value)


def _keep_all(name: str, value: Decimal, labels: Mapping[str, str]) -> bool:
    return True


def cycle_points(
    f: CycleFigures, wants: Callable[[str, Decimal, Mapping[str, str]], bool] = _keep_all
) -> list[MetricPoint]:
    """The contract's per-cycle points, all stamped with the cycle's finish time.

    `wants` is the store's `MetricRepository.wants`: a point it would not store is not built
    (a backtest's store keeps only changes, about 8 of the 18 points of a cycle)."""
    ts = f.ts_ms
    counters = f.counters
    points: list[MetricPoint] = []
    append = points.append
    none: dict[str, str] = {}  # the empty labels `wants` sees; each point gets its own dict
    for name, value in (
        (CYCLE_DURATION_MS, _dec(f.duration_ms)),
        (ORDERS_SUBMITTED, _dec(f.submitted)),
        (STALE_MARKET_DATA, _dec(f.stale_quotes)),
        (EQUITY_TRY, _optional(f.equity_try)),
        (ORDERS_REJECTED, _dec(f.rejected)),
        (FILLS, _dec(f.fills)),
        (REST_429_RATE, _dec(counters.rest_429)),
        (REST_RETRY_RATE, _dec(counters.rest_retries)),
        (WS_RECONNECT_RATE, _dec(counters.ws_reconnects)),
        (STALE_MARKET_DATA_RATE, stale_rate(f.universe_stale, f.universe_size)),
        (RECONCILE_LAG_MS, _dec(max(0, f.reconcile_lag_ms))),
        (CIRCUIT_BREAKER_STATE, _SMALL[1 if f.breaker_open else 0]),
        (CLOCK_SKEW_MS, _optional(f.clock_skew_ms)),
        (REALIZED_PNL_TRY, _optional(f.realized_pnl_try)),
        (UNREALIZED_PNL_TRY, _optional(f.unrealized_pnl_try)),
        (FEES_TRY, _optional(f.fees_try)),
        (DRAWDOWN_PCT, _optional(f.drawdown_pct)),
        (OPEN_ORDERS, _dec(f.open_orders)),
    ):
        if value is not None and wants(name, value, none):
            append(MetricPoint(ts, name, value, {}))
    mode = _dec(RISK_MODE_VALUES.get(f.risk_mode, 2))
    labels = {"mode": f.risk_mode}
    if wants(RISK_MODE, mode, labels):
        append(MetricPoint(ts, RISK_MODE, mode, labels))
    return points


MAX_PENDING_LATENCY_POINTS = 1000


class LatencyRecorder:
    """Collects one latency point per exchange write attempt until the cycle persists them."""

    def __init__(self, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        # Bounded: an OMS used outside cycles (canary, panic) never has its points drained.
        self._points: deque[MetricPoint] = deque(maxlen=MAX_PENDING_LATENCY_POINTS)

    def measure(self, name: str, symbol: str) -> _Measured:
        """Time the block (success or failure) as one point of `name` labelled with `symbol`."""
        return _Measured(self, name, symbol)

    def _add(self, name: str, symbol: str, started: float) -> None:
        elapsed_ms = Decimal(f"{(time.perf_counter() - started) * 1000:.3f}")
        self._points.append(MetricPoint(self._clock_ms(), name, elapsed_ms, {"symbol": symbol}))

    def take(self) -> list[MetricPoint]:
        """The points measured since the last call, oldest first."""
        points = list(self._points)
        self._points.clear()
        return points


class _Measured:
    """`LatencyRecorder.measure`'s context manager (a plain class: a generator-based one costs
    a few microseconds more per order, which a backtest pays once per trade)."""

    __slots__ = ("_name", "_recorder", "_started", "_symbol")

    def __init__(self, recorder: LatencyRecorder, name: str, symbol: str) -> None:
        self._recorder, self._name, self._symbol = recorder, name, symbol
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._recorder._add(self._name, self._symbol, self._started)  # never swallows errors


class _HasRestStats(Protocol):
    def stats(self) -> Any: ...


class _HasFeedStatus(Protocol):
    @property
    def status(self) -> Any: ...


def read_transport_counters(
    rest_clients: Iterable[_HasRestStats], feed: _HasFeedStatus | None = None
) -> TransportCounters:
    """Sum the REST clients' `stats()` (429s, retries) and the feed's reconnect count."""
    rate_limited = retries = 0
    for client in rest_clients:
        s = client.stats()
        rate_limited += s.rate_limited
        retries += s.retries
    reconnects = feed.status.reconnects if feed is not None else 0
    return TransportCounters(rate_limited, retries, reconnects)
