"""`btcbot report`: what the last N cycles did, read from the state database only.

Everything here reads; nothing writes. The caller opens the database with
`store.db.open_readonly` (no lock, works beside a running engine). A report covers the window
from the oldest of the last N cycles' start to the newest one's finish:

- cycles: count, ok / error / unfinished, duration p50 / p95 / max;
- decisions by reason code; orders (created in those cycles) by state;
- fills (count, base volume and quote notional per pair), fees and their tax by asset;
- PnL: realized / fees from replaying the ledger, unrealized / equity / drawdown from the
  cycles' metrics; the window's own peak-to-trough drawdown from its equity points;
- rejects, REST retries, HTTP 429s, feed reconnects (sums of the per-cycle metrics);
- submit / cancel latency p50 / p95 / max.

Percentiles are nearest-rank over the exact Decimal samples (no interpolation, no floats).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from btcbot_engine import metrics as m
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.records import (
    CycleRecord,
    Decision,
    LedgerEvent,
    MetricPoint,
    OrderRecord,
)
from btcbot_engine.ledger import Ledger
from btcbot_engine.store.db import Store, StoreError, translated
from btcbot_engine.store.models import (
    DecisionRow,
    FillRow,
    LedgerEventRow,
    MetricRow,
    OrderRow,
)
from btcbot_engine.store.repo_orders import _to_record as _order_from_row
from btcbot_engine.store.repositories import (
    _decision_from_row,
    _fill_from_row,
    _ledger_from_row,
    _metric_from_row,
)

DEFAULT_LAST_CYCLES = 100


def percentile(values: Sequence[Decimal], q: Decimal | str) -> Decimal | None:
    """Nearest-rank percentile (q in 0..100) of exact values; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(Decimal(q) / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def _text(value: Decimal | None) -> str | None:
    """A Decimal as plain text (never an exponent), None kept."""
    return None if value is None else format(value, "f")


# -- range reads -----------------------------------------------------------------------------
# The repositories answer "recent N" and "all"; a window needs ranges. These are plain SELECTs on
# the store's models (read-only; the reader's connection cannot write), converted with the
# repositories' own row converters so the domain objects are identical.

_CHUNK = 500  # ids per IN (...) query, well under SQLite's bound-variable limit


@translated
def _decisions_for_cycles(cycle_ids: Sequence[str]) -> list[Decision]:
    out: list[Decision] = []
    for i in range(0, len(cycle_ids), _CHUNK):
        chunk = cycle_ids[i : i + _CHUNK]
        query = DecisionRow.select().where(DecisionRow.cycle_id.in_(chunk))
        out.extend(_decision_from_row(row) for row in query.order_by(DecisionRow.id))
    out.sort(key=lambda d: (d.ts_ms, d.id or 0))
    return out


@translated
def _orders_for_cycles(cycle_ids: Sequence[str]) -> list[OrderRecord]:
    out: list[OrderRecord] = []
    for i in range(0, len(cycle_ids), _CHUNK):
        chunk = cycle_ids[i : i + _CHUNK]
        query = OrderRow.select().where(OrderRow.cycle_id.in_(chunk))
        out.extend(_order_from_row(row) for row in query)
    out.sort(key=lambda o: (o.created_ms, o.client_id))
    return out


@translated
def _fills_between(start_ms: int, end_ms: int) -> list[Fill]:
    query = FillRow.select().where(FillRow.timestamp_ms.between(start_ms, end_ms))
    return [_fill_from_row(r) for r in query.order_by(FillRow.timestamp_ms, FillRow.trade_id)]


@translated
def _ledger_between(start_ms: int, end_ms: int) -> list[LedgerEvent]:
    query = LedgerEventRow.select().where(LedgerEventRow.ts_ms.between(start_ms, end_ms))
    return [_ledger_from_row(r) for r in query.order_by(LedgerEventRow.seq)]


@translated
def _metrics_between(start_ms: int, end_ms: int) -> list[MetricPoint]:
    query = MetricRow.select().where(MetricRow.ts_ms.between(start_ms, end_ms))
    return [_metric_from_row(r) for r in query.order_by(MetricRow.ts_ms, MetricRow.id)]


# -- the window ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The rows of the last N cycles, oldest first, and every row of their time span."""

    cycles: tuple[CycleRecord, ...]
    start_ms: int | None
    end_ms: int | None
    decisions: tuple[Decision, ...] = ()
    orders: tuple[OrderRecord, ...] = ()
    fills: tuple[Fill, ...] = ()
    ledger: tuple[LedgerEvent, ...] = ()
    metrics: tuple[MetricPoint, ...] = ()

    @property
    def cycle_ids(self) -> frozenset[str]:
        return frozenset(c.cycle_id for c in self.cycles)

    def points(self, name: str) -> list[MetricPoint]:
        """The window's points of one metric, oldest first."""
        return [p for p in self.metrics if p.name == name]

    def values(self, name: str) -> list[Decimal]:
        return [p.value for p in self.points(name)]


def load_window(store: Store, last_cycles: int = DEFAULT_LAST_CYCLES) -> Window:
    """Read the last `last_cycles` cycles and every row of their span (read-only)."""
    if last_cycles < 1:
        raise ValueError("last_cycles must be at least 1")
    cycles = tuple(reversed(store.cycles.recent(last_cycles)))
    if not cycles:
        return Window(cycles=(), start_ms=None, end_ms=None)
    start = min(c.started_ms for c in cycles)
    end = max(c.finished_ms or c.started_ms for c in cycles)
    ids = [c.cycle_id for c in cycles]
    return Window(
        cycles=cycles,
        start_ms=start,
        end_ms=end,
        decisions=tuple(_decisions_for_cycles(ids)),
        orders=tuple(_orders_for_cycles(ids)),
        fills=tuple(_fills_between(start, end)),
        ledger=tuple(_ledger_between(start, end)),
        metrics=tuple(_metrics_between(start, end)),
    )


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Count and nearest-rank p50 / p95 / max of a sample."""

    count: int
    p50: Decimal | None
    p95: Decimal | None
    max: Decimal | None

    @classmethod
    def of(cls, values: Sequence[Decimal]) -> Stats:
        return cls(
            len(values), percentile(values, 50), percentile(values, 95), max(values, default=None)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50": _text(self.p50),
            "p95": _text(self.p95),
            "max": _text(self.max),
        }


@dataclass(frozen=True, slots=True)
class FillFigures:
    """Fills of one pair in the window."""

    symbol: str
    quote: str
    count: int
    volume: Decimal  # base quantity
    notional: Decimal  # in the pair's quote currency


@dataclass(frozen=True, slots=True)
class Report:
    """The figures `btcbot report` prints (see the module docstring)."""

    cycles_requested: int
    cycles: int
    cycles_ok: int
    cycles_error: int
    cycles_unfinished: int
    start_ms: int | None
    end_ms: int | None
    duration_ms: Stats
    modes: Mapping[str, int]
    risk_modes: Mapping[str, int]
    decisions_by_reason: Mapping[str, int]
    orders_by_state: Mapping[str, int]
    fills: tuple[FillFigures, ...]
    fees_by_asset: Mapping[str, Decimal]  # exchange fees of the window's fills, tax apart
    taxes_by_asset: Mapping[str, Decimal]  # tax (KDV) charged on those fees
    realized_pnl_try: Decimal | None
    ledger_fees_try: Decimal | None
    unrealized_pnl_try: Decimal | None
    equity_try: Decimal | None
    equity_start_try: Decimal | None
    max_drawdown_pct: Decimal | None
    window_drawdown_pct: Decimal | None
    rejects: int
    rejects_by_reason: Mapping[str, int]
    retries: int
    rate_limited: int
    ws_reconnects: int
    submit_latency_ms: Stats
    cancel_latency_ms: Stats
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fill_count(self) -> int:
        return sum(f.count for f in self.fills)

    def notional_by_quote(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for f in self.fills:
            totals[f.quote] = totals.get(f.quote, Decimal(0)) + f.notional
        return totals

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready document; Decimals as plain strings."""
        return {
            "window": {
                "cycles_requested": self.cycles_requested,
                "start_ms": self.start_ms,
                "end_ms": self.end_ms,
            },
            "cycles": {
                "count": self.cycles,
                "ok": self.cycles_ok,
                "error": self.cycles_error,
                "unfinished": self.cycles_unfinished,
                "duration_ms": self.duration_ms.as_dict(),
                "modes": dict(self.modes),
                "risk_modes": dict(self.risk_modes),
                "recent_errors": list(self.errors),
            },
            "decisions_by_reason": dict(self.decisions_by_reason),
            "orders_by_state": dict(self.orders_by_state),
            "fills": {
                "count": self.fill_count,
                "notional_by_quote": {k: _text(v) for k, v in self.notional_by_quote().items()},
                "by_symbol": {
                    f.symbol: {
                        "count": f.count,
                        "volume": _text(f.volume),
                        "notional": _text(f.notional),
                        "quote": f.quote,
                    }
                    for f in self.fills
                },
            },
            "fees_by_asset": {k: _text(v) for k, v in self.fees_by_asset.items()},
            "taxes_by_asset": {k: _text(v) for k, v in self.taxes_by_asset.items()},
            "pnl": {
                "realized_try": _text(self.realized_pnl_try),
                "fees_try": _text(self.ledger_fees_try),
                "unrealized_try": _text(self.unrealized_pnl_try),
                "equity_try": _text(self.equity_try),
                "equity_start_try": _text(self.equity_start_try),
                "max_drawdown_pct": _text(self.max_drawdown_pct),
                "window_drawdown_pct": _text(self.window_drawdown_pct),
            },
            "rejects": {"count": self.rejects, "by_reason": dict(self.rejects_by_reason)},
            "retries": self.retries,
            "rate_limited_429": self.rate_limited,
            "ws_reconnects": self.ws_reconnects,
            "latency_ms": {
                "submit": self.submit_latency_ms.as_dict(),
                "cancel": self.cancel_latency_ms.as_dict(),
            },
        }


def _sum_int(values: Iterable[Decimal]) -> int:
    return int(sum(values, Decimal(0)))


def _window_drawdown(equity: Sequence[Decimal]) -> Decimal | None:
    """Largest peak-to-trough fall of the equity series, in percent of the peak."""
    if not equity:
        return None
    peak, worst = equity[0], Decimal(0)
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, (peak - value) / peak * 100)
    return worst.quantize(Decimal("0.0001"))


def _last(values: Sequence[Decimal]) -> Decimal | None:
    return values[-1] if values else None


def _ledger_totals(store: Store) -> tuple[Decimal | None, Decimal | None]:
    """All-time realized PnL and fees (TRY) from replaying the ledger; None if it cannot."""
    try:
        ledger = Ledger.replay(store.ledger.all())
    except (StoreError, ArithmeticError, ValueError):
        return None, None
    return ledger.realized_try, ledger.fees_try


def build_report(store: Store, *, last_cycles: int = DEFAULT_LAST_CYCLES) -> Report:
    """The report over the last `last_cycles` cycles (read-only)."""
    w = load_window(store, last_cycles)
    finished = [c for c in w.cycles if c.finished_ms is not None]
    durations = [Decimal(c.finished_ms - c.started_ms) for c in finished if c.finished_ms]
    errors: list[str] = []
    for c in reversed(w.cycles):
        for e in c.summary.get("errors", []) or []:
            if e not in errors:
                errors.append(str(e))
    by_reason = Counter(d.reason_code for d in w.decisions)
    rejects_by_reason = Counter(
        d.reason_code for d in w.decisions if d.reason_code.startswith("oms:rejected")
    )
    fill_groups: dict[str, list[Fill]] = {}
    fees: dict[str, Decimal] = {}
    taxes: dict[str, Decimal] = {}
    for f in w.fills:
        fill_groups.setdefault(f.symbol, []).append(f)
        fees[f.fee_asset] = fees.get(f.fee_asset, Decimal(0)) + f.fee
        taxes[f.fee_asset] = taxes.get(f.fee_asset, Decimal(0)) + f.tax
    fills = tuple(
        FillFigures(
            symbol=sym,
            quote=group[0].quote,
            count=len(group),
            volume=sum((f.quantity for f in group), Decimal(0)),
            notional=sum((f.quantity * f.price for f in group), Decimal(0)),
        )
        for sym, group in sorted(fill_groups.items())
    )
    rejects_metric = w.values(m.ORDERS_REJECTED)
    equity = w.values(m.EQUITY_TRY)
    drawdowns = w.values(m.DRAWDOWN_PCT)
    realized, ledger_fees = _ledger_totals(store)
    return Report(
        cycles_requested=last_cycles,
        cycles=len(w.cycles),
        cycles_ok=sum(1 for c in finished if c.outcome == "ok"),
        cycles_error=sum(1 for c in finished if c.outcome != "ok"),
        cycles_unfinished=len(w.cycles) - len(finished),
        start_ms=w.start_ms,
        end_ms=w.end_ms,
        duration_ms=Stats.of(durations),
        modes=dict(Counter(c.mode for c in w.cycles).most_common()),
        risk_modes=dict(
            Counter(str(c.summary.get("risk_mode", "?")) for c in finished).most_common()
        ),
        decisions_by_reason=dict(by_reason.most_common()),
        orders_by_state=dict(Counter(o.state.value for o in w.orders).most_common()),
        fills=fills,
        fees_by_asset=dict(sorted(fees.items())),
        taxes_by_asset=dict(sorted(taxes.items())),
        realized_pnl_try=realized,
        ledger_fees_try=ledger_fees,
        unrealized_pnl_try=_last(w.values(m.UNREALIZED_PNL_TRY)),
        equity_try=_last(equity),
        equity_start_try=equity[0] if equity else None,
        max_drawdown_pct=max(drawdowns, default=None),
        window_drawdown_pct=_window_drawdown(equity),
        # The metric when the cycles recorded it; else the decisions say the same thing.
        rejects=_sum_int(rejects_metric) if rejects_metric else sum(rejects_by_reason.values()),
        rejects_by_reason=dict(rejects_by_reason.most_common()),
        retries=_sum_int(w.values(m.REST_RETRY_RATE)),
        rate_limited=_sum_int(w.values(m.REST_429_RATE)),
        ws_reconnects=_sum_int(w.values(m.WS_RECONNECT_RATE)),
        submit_latency_ms=Stats.of(w.values(m.ORDER_SUBMIT_LATENCY_MS)),
        cancel_latency_ms=Stats.of(w.values(m.CANCEL_LATENCY_MS)),
        errors=tuple(errors[:5]),
    )
