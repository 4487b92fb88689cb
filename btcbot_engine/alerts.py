"""`btcbot alerts`: trouble signs in the last N cycles, from the state database only (read-only).

Each alert has a code, a severity (WARN or CRITICAL), how many times it was seen, and when it
was first and last seen. The thresholds are the constants below; a figure under the WARN
threshold raises nothing. Codes (the ALERTS CONTRACT):

code                source (per cycle)                      WARN at         CRITICAL at
reject_spike        orders_rejected, summed                 3 rejects       10 rejects
retry_storm         rest_retry_rate, summed                 10 retries      50 retries
rest_429            rest_429_rate, summed (~60 s block)     1 reply         5 replies
stale_data          cycles with stale_market_data_rate > 0  2 cycles        10 cycles
ws_reconnect_storm  ws_reconnect_rate, summed               3 reconnects    10 reconnects
clock_skew          cycles with |clock_skew_ms| > 1000      1 cycle         any above 4000 ms
unknown_orders      orders seen UNKNOWN (decisions, orders) 1 order         UNKNOWN for 60 s+
invariant_failure   ledger invariant decisions (ledger:*)   -               1 violation
risk_mode_change    risk mode differs from previous cycle   1 change        -

Counts cover the window (the last N cycles); `unknown_orders` also counts orders still UNKNOWN
now, whatever their age, because an unresolved order blocks its pair until reconciled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from btcbot_engine import metrics as m
from btcbot_engine.exchange.btcturk.rest import SKEW_FAIL_MS, SKEW_WARN_MS
from btcbot_engine.reports import DEFAULT_LAST_CYCLES, Window, load_window
from btcbot_engine.store.db import Store

WARN = "WARN"
CRITICAL = "CRITICAL"

REJECT_SPIKE_WARN = 3
REJECT_SPIKE_CRITICAL = 10
RETRY_STORM_WARN = 10
RETRY_STORM_CRITICAL = 50
REST_429_WARN = 1
REST_429_CRITICAL = 5
STALE_CYCLES_WARN = 2
STALE_CYCLES_CRITICAL = 10
WS_RECONNECT_WARN = 3
WS_RECONNECT_CRITICAL = 10
CLOCK_SKEW_WARN_MS = SKEW_WARN_MS
CLOCK_SKEW_CRITICAL_MS = SKEW_FAIL_MS
UNKNOWN_ORDER_CRITICAL_MS = 60_000  # the default UNKNOWN_ORDER_MAX_AGE_SECONDS

#: Alert codes in the order they are reported.
CODES: tuple[str, ...] = (
    "invariant_failure",
    "unknown_orders",
    "rest_429",
    "retry_storm",
    "reject_spike",
    "stale_data",
    "ws_reconnect_storm",
    "clock_skew",
    "risk_mode_change",
)
_UNKNOWN_REASONS = ("oms:unknown", "oms:unknown_unresolved")
_INVARIANT_ACTION = "invariant_failed"


@dataclass(frozen=True)
class Alert:
    """One alert over the window: what, how bad, how often, first and last seen (unix ms)."""

    code: str
    severity: str  # "WARN" | "CRITICAL"
    count: int
    first_seen_ms: int
    last_seen_ms: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _severity(value: int, warn: int, critical: int) -> str | None:
    if value >= critical:
        return CRITICAL
    if value >= warn:
        return WARN
    return None


def _summed(w: Window, name: str, code: str, warn: int, critical: int, what: str) -> Alert | None:
    """An alert on the sum of a per-cycle count metric."""
    hits = [p for p in w.points(name) if p.value > 0]
    total = int(sum((p.value for p in hits), Decimal(0)))
    severity = _severity(total, warn, critical)
    if severity is None:
        return None
    worst = max(hits, key=lambda p: p.value)
    return Alert(
        code,
        severity,
        total,
        hits[0].ts_ms,
        hits[-1].ts_ms,
        f"{total} {what} in {len(hits)} of {len(w.cycles)} cycles (worst cycle {int(worst.value)})",
    )


def _stale(w: Window) -> Alert | None:
    hits = [p for p in w.points(m.STALE_MARKET_DATA_RATE) if p.value > 0]
    severity = _severity(len(hits), STALE_CYCLES_WARN, STALE_CYCLES_CRITICAL)
    if severity is None:
        return None
    full = sum(1 for p in hits if p.value >= 1)
    return Alert(
        "stale_data",
        severity,
        len(hits),
        hits[0].ts_ms,
        hits[-1].ts_ms,
        f"{len(hits)} of {len(w.cycles)} cycles had stale or missing quotes "
        f"({full} with the whole universe stale)",
    )


def _clock_skew(w: Window) -> Alert | None:
    hits = [p for p in w.points(m.CLOCK_SKEW_MS) if abs(p.value) > CLOCK_SKEW_WARN_MS]
    if not hits:
        return None
    worst = max(hits, key=lambda p: abs(p.value))
    severity = CRITICAL if abs(worst.value) > CLOCK_SKEW_CRITICAL_MS else WARN
    return Alert(
        "clock_skew",
        severity,
        len(hits),
        hits[0].ts_ms,
        hits[-1].ts_ms,
        f"server clock off by up to {int(worst.value)} ms in {len(hits)} cycles "
        f"(WARN above {CLOCK_SKEW_WARN_MS} ms, CRITICAL above {CLOCK_SKEW_CRITICAL_MS} ms)",
    )


def _unknown_orders(w: Window, store: Store, now_ms: int) -> Alert | None:
    seen: dict[str, list[int]] = {}
    for d in w.decisions:
        if d.reason_code in _UNKNOWN_REASONS:
            cid = str(d.detail.get("client_id", "")) or f"decision-{d.id}"
            seen.setdefault(cid, []).append(d.ts_ms)
    open_unknown = store.orders.list_unknown()
    for o in open_unknown:
        seen.setdefault(o.client_id, []).append(o.updated_ms)
    if not seen:
        return None
    stamps = [t for ts in seen.values() for t in ts]
    oldest_age = max((now_ms - o.updated_ms for o in open_unknown), default=0)
    lag = max((p.value for p in w.points(m.RECONCILE_LAG_MS)), default=Decimal(0))
    critical = oldest_age >= UNKNOWN_ORDER_CRITICAL_MS and bool(open_unknown)
    critical = critical or lag >= UNKNOWN_ORDER_CRITICAL_MS
    detail = f"{len(seen)} order(s) of unknown outcome; {len(open_unknown)} still UNKNOWN"
    if open_unknown:
        detail += f", oldest {oldest_age // 1000} s"
    return Alert(
        "unknown_orders",
        CRITICAL if critical else WARN,
        len(seen),
        min(stamps),
        max(stamps),
        detail,
    )


def _invariants(w: Window) -> Alert | None:
    hits = [d for d in w.decisions if d.action == _INVARIANT_ACTION]
    if not hits:
        return None
    codes = Counter(d.reason_code for d in hits)
    listed = ", ".join(f"{code} x{n}" for code, n in codes.most_common())
    return Alert(
        "invariant_failure",
        CRITICAL,
        len(hits),
        hits[0].ts_ms,
        hits[-1].ts_ms,
        f"ledger invariants failed: {listed}",
    )


def _risk_mode_changes(w: Window) -> Alert | None:
    changes: list[tuple[int, str, str]] = []
    previous: str | None = None
    for c in w.cycles:
        mode = c.summary.get("risk_mode")
        if c.finished_ms is None or not mode:
            continue
        if previous is not None and mode != previous:
            changes.append((c.finished_ms, previous, str(mode)))
        previous = str(mode)
    if not changes:
        return None
    steps = "; ".join(f"{a}->{b}" for _, a, b in changes[-3:])
    return Alert(
        "risk_mode_change",
        WARN,
        len(changes),
        changes[0][0],
        changes[-1][0],
        f"{len(changes)} risk mode change(s), last: {steps}; now {previous}",
    )


def compute_alerts(store: Store, *, last_cycles: int | None = None) -> list[Alert]:
    """The alerts over the last `last_cycles` cycles (default 100), most severe first.

    Read-only: pass a store from `open_readonly` to run beside the engine.
    """
    w = load_window(store, last_cycles or DEFAULT_LAST_CYCLES)
    now_ms = store.clock_ms()
    found = [
        _invariants(w),
        _unknown_orders(w, store, now_ms),
        _summed(w, m.REST_429_RATE, "rest_429", REST_429_WARN, REST_429_CRITICAL, "HTTP 429"),
        _summed(
            w, m.REST_RETRY_RATE, "retry_storm", RETRY_STORM_WARN, RETRY_STORM_CRITICAL, "retries"
        ),
        _summed(
            w,
            m.ORDERS_REJECTED,
            "reject_spike",
            REJECT_SPIKE_WARN,
            REJECT_SPIKE_CRITICAL,
            "rejected orders",
        ),
        _stale(w),
        _summed(
            w,
            m.WS_RECONNECT_RATE,
            "ws_reconnect_storm",
            WS_RECONNECT_WARN,
            WS_RECONNECT_CRITICAL,
            "feed reconnects",
        ),
        _clock_skew(w),
        _risk_mode_changes(w),
    ]
    alerts = [a for a in found if a is not None]
    rank = {code: i for i, code in enumerate(CODES)}
    alerts.sort(key=lambda a: (a.severity != CRITICAL, rank[a.code]))
    return alerts


def worst_severity(alerts: Sequence[Alert]) -> str | None:
    """CRITICAL, WARN, or None when there are no alerts."""
    if any(a.severity == CRITICAL for a in alerts):
        return CRITICAL
    return WARN if alerts else None
