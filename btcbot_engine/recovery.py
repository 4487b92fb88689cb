"""Startup recovery: before any write, find out what the exchange really holds.

Marks cycles cut short by a crash as abandoned, reconciles every non-terminal order (including
SUBMITTING rows left between "persisted" and "reply"), ingests fills since the cursors and checks
the ledger invariants. Any failure keeps the engine in OBSERVE_ONLY with the reason shown until a
later cycle reconciles cleanly — never silently trading.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.cycle import TradingCycle
from btcbot_engine.fill_sync import sync_fills

log = logging.getLogger(__name__)

RECOVERY_REASON = "recovery:incomplete"


@dataclass(slots=True)
class RecoveryReport:
    """What recovery found; `ok` False means the engine starts in OBSERVE_ONLY."""

    abandoned_cycles: list[str] = field(default_factory=list)
    orders_checked: int = 0
    orders_changed: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    new_fills: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unresolved


async def recover(cycle: TradingCycle) -> RecoveryReport:
    """Run recovery through the cycle's parts; sets or clears the cycle's forced reason."""
    report = RecoveryReport()
    store = cycle.store
    for rec in store.cycles.recent(limit=50):
        if rec.finished_ms is None:
            store.cycles.finish(
                rec.cycle_id, finished_ms=cycle.clock_ms(), outcome="abandoned", summary={}
            )
            report.abandoned_cycles.append(rec.cycle_id)
    if cycle.private_reads:
        rec_report = await cycle.oms.reconcile()
        report.orders_checked = rec_report.checked
        report.orders_changed = rec_report.changed
        report.unresolved = rec_report.unresolved
        report.problems.extend(rec_report.errors)
        symbols = {o.symbol for o in store.orders.list_all()} | {
            p.symbol for p in cycle.ledger.positions()
        }
        fills = await sync_fills(cycle.exchange, store, cycle.ledger, symbols, {"TRY": Decimal(1)})
        report.new_fills = len(fills.new_fills)
        report.problems.extend(e for e in fills.errors if "rate" not in e)
    if report.ok:
        cycle.forced_reasons.pop(RECOVERY_REASON, None)
    else:
        detail = "; ".join(report.problems + [f"unresolved {c}" for c in report.unresolved])
        cycle.forced_reasons[RECOVERY_REASON] = detail[:300]
        log.warning("recovery incomplete, staying in OBSERVE_ONLY: %s", detail[:300])
    return report
