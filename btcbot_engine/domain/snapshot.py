"""EngineSnapshot: the one immutable picture of the engine that every client renders.

The snapshot carries its own timestamp, so ages and staleness are computed from data, never from
the viewer's clock (that keeps the TUI honest and its snapshot tests stable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.domain.canary import CanaryView
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.records import Decision, OrderRecord
from btcbot_engine.gates import GateDecision


@dataclass(frozen=True, slots=True)
class UniverseRow:
    """One symbol considered for trading, with its quote and why it is in or out."""

    symbol: str
    included: bool
    reason: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    spread_bps: Decimal | None = None
    age_ms: int | None = None
    quote_status: str = "missing"  # fresh / stale / crossed / missing


@dataclass(frozen=True, slots=True)
class PnlView:
    """Ledger figures in TRY, plus recent equity for a sparkline."""

    realized: Decimal = Decimal(0)
    unrealized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    peak_equity: Decimal = Decimal(0)
    drawdown_pct: Decimal = Decimal(0)
    loss_today: Decimal = Decimal(0)
    daily_loss_budget: Decimal = Decimal(0)
    equity_history: tuple[Decimal, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskView:
    """The risk budget mode and the reason codes that set it."""

    mode: str = "OBSERVE_ONLY"
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DoctorCheckView:
    """One doctor check as the operator sees it."""

    name: str
    status: str  # PASS / WARN / FAIL
    detail: str
    remedy: str = ""


@dataclass(frozen=True, slots=True)
class StatusView:
    """Engine vitals for the status bar."""

    cycle_count: int = 0
    last_cycle_ms: int | None = None
    last_cycle_duration_ms: int | None = None
    next_cycle_ms: int | None = None
    rate_budget_used: Decimal = Decimal(0)  # worst endpoint group, 0..1
    ws_state: str = "off"
    clock_skew_ms: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Everything a client shows, as of `ts_ms`."""

    ts_ms: int
    run_id: str
    gates: GateDecision
    exchange_host: str
    key_hint: str
    demo: bool = False
    risk: RiskView = field(default_factory=RiskView)
    universe: tuple[UniverseRow, ...] = ()
    open_orders: tuple[OrderRecord, ...] = ()
    recent_fills: tuple[Fill, ...] = ()  # newest first
    pnl: PnlView = field(default_factory=PnlView)
    decisions: tuple[Decision, ...] = ()  # newest first
    doctor: tuple[DoctorCheckView, ...] = ()
    status: StatusView = field(default_factory=StatusView)
    max_data_age_ms: int = 5000
    engine_error: str | None = None
    messages: tuple[str, ...] = ()  # operator-facing notes from the last command
    canary: CanaryView | None = None  # the running or last canary, if any

    @property
    def mode(self) -> str:
        """The effective mode: the gates' mode, narrowed by the risk budget."""
        if self.gates.mode.value in ("LIVE", "PAPER") and self.risk.mode == "OBSERVE_ONLY":
            return "OBSERVE_ONLY"
        return self.gates.mode.value
