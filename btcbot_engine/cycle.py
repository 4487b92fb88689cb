"""One trading cycle: market data -> reconcile -> ledger -> universe -> strategy -> risk -> gates
-> OMS -> persist. Every decision carries a reason code and is stored with the cycle id.

Transactions: the order write-ahead and each order transition commit on their own (they must
be on disk before and after the HTTP call); fills commit with their ledger events; the cycle's
decisions, metrics and summary commit together at the end. A cycle cut short by a crash keeps
its `cycles` row without `finished_ms`, which recovery marks as abandoned.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from btcbot_engine.config import Settings
from btcbot_engine.domain.market import Ticker
from btcbot_engine.domain.orders import OrderState, Side
from btcbot_engine.domain.records import CycleRecord, Decision, DecisionStage, MetricPoint
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.exchange.paper import PaperExchange
from btcbot_engine.exchange.port import ExchangeError, ExchangePort
from btcbot_engine.fill_sync import sync_fills
from btcbot_engine.gates import Mode
from btcbot_engine.guard import PreWriteGuard
from btcbot_engine.ledger import Ledger, PnlSnapshot, istanbul_day_start_ms
from btcbot_engine.ledger_events import opening_balance_events
from btcbot_engine.ledger_invariants import check_invariants
from btcbot_engine.market import MarketData, Quote
from btcbot_engine.metrics import CounterDeltas, CycleFigures, TransportCounters, cycle_points
from btcbot_engine.oms import OrderManager, OrderOutcome
from btcbot_engine.risk import (
    RiskAssessment,
    RiskContext,
    RiskInputs,
    RiskLimits,
    RiskMode,
    apply_risk,
    assess_risk_mode,
)
from btcbot_engine.store.db import Store
from btcbot_engine.strategies.base import (
    FeeRates,
    OpenOrdersView,
    PositionView,
    Strategy,
    StrategyContext,
)
from btcbot_engine.universe import UniverseConfig, UniverseEntry, included_symbols, select_universe

log = logging.getLogger(__name__)

HISTORY_LENGTH = 240
# Ledger vs exchange balances: fees are 8-dp strings on the wire, so allow rounding dust.
BALANCE_TOLERANCE: Mapping[str, Decimal] = {
    "TRY": Decimal("0.05"),
    "USDT": Decimal("0.05"),
    "*": Decimal("0.00000100"),
}
# Prefixes of CycleResult.errors: what failing to read each part of the exchange looks like.
_RECONCILE_ERRORS = ("reconcile", "fills")
_READ_ERRORS = ("balances", "tickers", "exchange info", "no tickers")
# Risk reason when this cycle could not read our orders or fills (fail closed for new orders).
UNRECONCILED_REASON = "exchange:unreconciled"
PAPER_STATE_KEY = "paper_state"
PEAK_EQUITY_KEY = "peak_equity_try"
LOSS_STREAK_KEY = "consecutive_losses"


def risk_limits(settings: Settings) -> RiskLimits:
    """Settings -> the risk module's limits."""
    return RiskLimits(
        max_orders_per_cycle=settings.max_orders_per_cycle,
        max_open_orders_per_symbol=settings.max_open_orders_per_symbol,
        cooldown_seconds=settings.cooldown_seconds,
        notional_cap_per_cycle=settings.notional_cap_try_per_cycle,
        max_notional_per_order=settings.max_notional_per_order_try,
        min_order_notional=settings.min_order_notional_try,
        max_position_per_symbol=settings.max_position_try_per_symbol,
        max_daily_loss=settings.max_daily_loss_try,
        max_drawdown_pct=settings.max_drawdown_pct,
        max_consecutive_losses=settings.max_consecutive_losses,
        max_data_age_ms=settings.max_market_data_age_ms,
        unknown_order_max_age_s=settings.unknown_order_max_age_seconds,
    )


def universe_config(settings: Settings) -> UniverseConfig:
    """Settings -> the universe selector's config."""
    return UniverseConfig(
        symbols=settings.universe_symbols,
        quotes=settings.universe_quotes,
        min_quote_volume=settings.universe_min_quote_volume,
        max_spread_bps=settings.universe_max_spread_bps,
        allow=settings.universe_allow,
        deny=settings.universe_deny,
        max_size=settings.universe_max_size,
    )


@dataclass(slots=True)
class CycleResult:
    """What one cycle saw and did; the engine turns it into a snapshot."""

    cycle_id: str
    started_ms: int
    finished_ms: int = 0
    universe: list[UniverseEntry] = field(default_factory=list)
    quotes: dict[str, Quote] = field(default_factory=dict)
    risk: RiskAssessment = field(default_factory=lambda: RiskAssessment(RiskMode.OBSERVE_ONLY))
    pnl: PnlSnapshot | None = None
    loss_today: Decimal = Decimal(0)
    decisions: list[Decision] = field(default_factory=list)
    outcomes: list[OrderOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mode: Mode = Mode.OBSERVE_ONLY
    new_fills: int = 0
    metrics: list[MetricPoint] = field(default_factory=list)  # what _persist stored

    @property
    def duration_ms(self) -> int:
        return self.finished_ms - self.started_ms

    @property
    def submitted(self) -> int:
        """Orders the exchange acknowledged this cycle."""
        return sum(1 for o in self.outcomes if o.reason_code == "oms:submitted")

    @property
    def reconciled(self) -> bool:
        """Orders and fills were read from the exchange without error."""
        return not any(e.startswith(_RECONCILE_ERRORS) for e in self.errors)

    @property
    def failed(self) -> bool:
        """The exchange could not be read well enough (the engine backs off)."""
        return any(e.startswith(_RECONCILE_ERRORS + _READ_ERRORS) for e in self.errors)


class TradingCycle:
    """Runs cycles against one exchange port. Owned and called by the engine thread only."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        exchange: ExchangePort,
        market: MarketData,
        oms: OrderManager,
        guard: PreWriteGuard,
        ledger: Ledger,
        strategy: Strategy,
        run_id: str,
        clock_ms: Callable[[], int],
        paper: PaperExchange | None = None,
        private_reads: bool = True,
        server_offset_ms: Callable[[], int] = lambda: 0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.exchange = exchange
        self.market = market
        self.oms = oms
        self.guard = guard
        self.ledger = ledger
        self.strategy = strategy
        self.run_id = run_id
        self.clock_ms = clock_ms
        self.paper = paper
        self.private_reads = private_reads
        self.server_offset_ms = server_offset_ms
        self.limits = risk_limits(settings)
        self.universe_cfg = universe_config(settings)
        self.rules: dict[str, SymbolRules] = {}
        self.history: dict[str, deque[Decimal]] = {}
        self.reject_times: deque[int] = deque(maxlen=100)
        self.forced_reasons: dict[str, str] = {}  # e.g. recovery failures: code -> detail
        self.last_balances: dict[str, Decimal] = {}
        self.last_free: dict[str, Decimal] = {}
        # Wired by the engine: transport counters (429s, retries, reconnects) and clock skew.
        self.counter_deltas: CounterDeltas | None = None
        self.clock_skew_ms: Callable[[], int | None] = lambda: None
        self.unreported_fills = 0  # fills ingested outside a cycle (recovery): next cycle's metric

    # --- the cycle ------------------------------------------------------------------------

    async def run(self, cycle_id: str) -> CycleResult:
        """One full cycle; never raises for exchange trouble (it becomes decisions)."""
        now = self.clock_ms()
        res = CycleResult(cycle_id=cycle_id, started_ms=now)
        gates = self.guard.decision()
        res.mode = gates.mode
        self.store.cycles.start(
            CycleRecord(cycle_id=cycle_id, run_id=self.run_id, started_ms=now, mode=gates.mode)
        )

        def decide(
            stage: DecisionStage, action: str, reason: str, symbol: str | None = None, **kw: Any
        ) -> None:
            res.decisions.append(
                Decision(
                    run_id=self.run_id,
                    cycle_id=cycle_id,
                    ts_ms=self.clock_ms(),
                    stage=stage,
                    action=action,
                    reason_code=reason,
                    symbol=symbol,
                    detail={k: str(v) for k, v in kw.items()},
                )
            )

        # 1. Rules and market data.
        try:
            self.rules = await self.exchange.exchange_info()
        except ExchangeError as exc:
            res.errors.append(f"exchange info: {exc}")
            decide(DecisionStage.MARKET_DATA, "no_rules", "market_data:no_rules", error=exc)
        if self.paper is not None:
            try:
                await self.paper.advance()
            except ExchangeError as exc:
                res.errors.append(f"paper advance: {exc}")
        all_tickers = await self.market.all_tickers()
        if not all_tickers:
            res.errors.append(self.market.last_error or "no tickers")
        res.universe = select_universe(self.universe_cfg, self.rules, all_tickers)
        included = included_symbols(res.universe)
        for entry in res.universe:
            if not entry.included:
                decide(DecisionStage.UNIVERSE, "exclude", entry.reason, entry.symbol)
        held = {p.symbol for p in self.ledger.positions() if p.quantity > 0}
        order_symbols = {o.symbol for o in self.oms.open_orders()}
        watch = sorted(set(included) | held | order_symbols)
        res.quotes = await self.market.quotes(
            watch,
            now_ms=self.clock_ms(),
            server_offset_ms=self.server_offset_ms(),
            prefetched=all_tickers,
        )
        for symbol in included:
            q = res.quotes[symbol]
            if not q.tradable:
                decide(
                    DecisionStage.MARKET_DATA,
                    "no_new_orders",
                    q.status.reason_code,
                    symbol,
                    age_ms=q.age_ms,
                )
        quote_to_try = self._quote_rates(all_tickers)

        # 2. Reconcile our orders, ingest fills, read balances.
        if self.private_reads:
            rec = await self.oms.reconcile()
            for err in rec.errors:
                res.errors.append(f"reconcile: {err}")
            for cid in rec.unresolved:
                decide(DecisionStage.OMS, "unresolved", "oms:unknown_unresolved", client_id=cid)
            fsync = await sync_fills(
                self.exchange,
                self.store,
                self.ledger,
                set(watch) | {p.symbol for p in self.ledger.positions()},
                quote_to_try,
            )
            res.errors.extend(f"fills: {e}" for e in fsync.errors)
            res.new_fills = len(fsync.new_fills)
            self._count_losses(fsync.sell_results)
            await self._read_balances(res)

        # 3. Ledger: opening balances on first sight, invariants, PnL.
        self._ensure_opening_balances()
        violations = check_invariants(self.ledger, self.last_balances or None, BALANCE_TOLERANCE)
        for v in violations:
            decide(DecisionStage.RISK, "invariant_failed", v.code, detail=v.detail)
        marks = {s: t.last if t.last > 0 else t.mid for s, t in all_tickers.items()}
        res.pnl = self.ledger.mark(marks, quote_to_try, now)
        res.loss_today = self.ledger.loss_today_try(istanbul_day_start_ms(now))

        # 4. Risk budget.
        res.risk = self._assess(res, violations)
        if res.risk.mode is not RiskMode.NORMAL:
            decide(
                DecisionStage.RISK, "mode", f"risk:mode:{res.risk.mode}", reasons=res.risk.reasons
            )

        # 5. Time-to-live cancels (risk reducing, allowed whenever cancels are).
        for outcome in await self.oms.cancel_expired(self.settings.ttl_seconds):
            res.outcomes.append(outcome)
            decide(DecisionStage.OMS, outcome.action, outcome.reason_code, outcome.symbol)

        # 6. Strategy intents on fresh, resolved symbols only.
        blocked = self.oms.blocked_symbols()
        for symbol in sorted(blocked & set(included)):
            decide(DecisionStage.OMS, "no_new_orders", "oms:symbol_unresolved", symbol)
        tradable = tuple(
            s for s in included if res.quotes[s].tradable and s not in blocked and s in self.rules
        )
        tickers: dict[str, Ticker] = {
            s: res.quotes[s].ticker for s in tradable if res.quotes[s].ticker is not None
        }
        for s, t in tickers.items():
            self.history.setdefault(s, deque(maxlen=HISTORY_LENGTH)).append(t.mid)
        open_records = self.oms.open_orders()
        ctx = StrategyContext(
            now_ms=now,
            symbols=tradable,
            tickers=tickers,
            rules=self.rules,
            positions={
                p.symbol: PositionView(p.symbol, p.quantity, p.avg_cost)
                for p in self.ledger.positions()
                if p.quantity > 0
            },
            open_orders=self._open_views(open_records),
            quote_balances={a: v for a, v in self.last_free.items() if a in ("TRY", "USDT")},
            fees=FeeRates(),
            budget_per_order_try=self.settings.max_notional_per_order_try,
            quote_to_try=quote_to_try,
            history={s: tuple(h) for s, h in self.history.items()},
        )
        intents = self.strategy.propose(ctx)
        for i in intents:
            decide(
                DecisionStage.STRATEGY,
                f"intent_{i.side}",
                i.reason,
                i.symbol,
                price=i.price,
                quantity=i.quantity,
                kind=i.kind,
            )

        # 7. Risk policy.
        verdicts = apply_risk(
            intents,
            self._risk_context(now, open_records, quote_to_try),
            self.limits,
            res.risk.mode,
        )
        for v in verdicts:
            decide(
                DecisionStage.RISK,
                "accept" if v.accepted else "drop",
                v.reason_code,
                v.intent.symbol,
                detail=v.detail,
            )

        # 8. Gates, then the OMS.
        gates = self.guard.decision()
        res.mode = gates.mode
        for v in (v for v in verdicts if v.accepted):
            sym = v.intent.symbol
            if gates.mode is Mode.OBSERVE_ONLY:
                decide(
                    DecisionStage.GATES,
                    "would_submit",
                    "gates:observe_only",
                    sym,
                    side=v.intent.side,
                    price=v.intent.price,
                    quantity=v.intent.quantity,
                )
                continue
            if gates.mode is Mode.KILLED:
                decide(DecisionStage.GATES, "blocked", "gates:killed", sym)
                continue
            outcome = await self.oms.place(v.intent, self.rules[sym], cycle_id=cycle_id)
            res.outcomes.append(outcome)
            if outcome.reason_code.startswith("oms:rejected"):
                self.reject_times.append(self.clock_ms())
            decide(
                DecisionStage.OMS,
                outcome.action,
                outcome.reason_code,
                sym,
                client_id=outcome.client_id,
                detail=outcome.detail,
            )

        # 9. Persist the cycle's decisions, metrics and summary together.
        res.finished_ms = self.clock_ms()
        self._persist(res)
        return res

    # --- helpers --------------------------------------------------------------------------

    def _count_losses(self, results: list[Decimal]) -> None:
        """Consecutive losing sells (net of fees), persisted so a restart keeps the streak."""
        if not results:
            return
        streak = int(self.store.cursors.get(LOSS_STREAK_KEY) or 0)
        for net in results:
            streak = streak + 1 if net < 0 else 0
        self.store.cursors.set(LOSS_STREAK_KEY, str(streak))

    def _quote_rates(self, tickers: Mapping[str, Ticker]) -> dict[str, Decimal]:
        rates: dict[str, Decimal] = {"TRY": Decimal(1)}
        usdt = tickers.get("USDTTRY")
        if usdt is not None and usdt.bid > 0 and usdt.ask > 0:
            rates["USDT"] = usdt.mid
        return rates

    async def _read_balances(self, res: CycleResult) -> None:
        try:
            balances = await self.exchange.balances()
        except ExchangeError as exc:
            res.errors.append(f"balances: {exc}")
            return
        self.last_balances = {b.asset.upper(): b.total for b in balances}
        self.last_free = {b.asset.upper(): b.free for b in balances}

    def _ensure_opening_balances(self) -> None:
        if self.ledger.events_applied or not self.last_balances:
            return
        events = opening_balance_events(
            {a: v for a, v in self.last_balances.items() if v > 0}, self.clock_ms()
        )
        with self.store.atomic():
            stored = self.store.ledger.append_many(events)
        self.ledger.apply_all(stored)

    def _assess(self, res: CycleResult, violations: list[Any]) -> RiskAssessment:
        now = self.clock_ms()
        ages = [q.age_ms for s, q in res.quotes.items() if q.age_ms is not None]
        unknown = self.store.orders.list_unknown()
        oldest_unknown = max((now - o.updated_ms for o in unknown), default=None)
        window_start = now - self.limits.reject_window_s * 1000
        pnl = res.pnl
        inputs = RiskInputs(
            oldest_data_age_ms=max(ages) if ages else None,
            drawdown_pct=pnl.drawdown_pct if pnl is not None else Decimal(0),
            loss_today_try=res.loss_today,
            consecutive_losses=int(self.store.cursors.get(LOSS_STREAK_KEY) or 0),
            rejects_in_window=sum(1 for t in self.reject_times if t >= window_start),
            invariant_violations=tuple(v.code for v in violations),
            unknown_orders=len(unknown),
            oldest_unknown_age_ms=oldest_unknown,
        )
        assessment = assess_risk_mode(inputs, self.limits)
        if self.forced_reasons:
            assessment = RiskAssessment(
                RiskMode.OBSERVE_ONLY,
                assessment.reasons + tuple(self.forced_reasons),
                assessment.details + tuple(self.forced_reasons.values()),
            )
        if not res.reconciled:
            # Our orders or fills could not be read this cycle, so what we hold is not known:
            # no new order until a cycle reconciles cleanly (TTL cancels still go).
            first = next(e for e in res.errors if e.startswith(_RECONCILE_ERRORS))
            assessment = RiskAssessment(
                RiskMode.OBSERVE_ONLY,
                (*assessment.reasons, UNRECONCILED_REASON),
                (*assessment.details, first[:200]),
            )
        return assessment

    def _open_views(self, records: list[Any]) -> dict[str, OpenOrdersView]:
        views: dict[str, OpenOrdersView] = {}
        for o in records:
            v = views.get(o.symbol, OpenOrdersView())
            if o.side is Side.BUY:
                views[o.symbol] = OpenOrdersView(buys=v.buys + 1, sells=v.sells)
            else:
                views[o.symbol] = OpenOrdersView(buys=v.buys, sells=v.sells + 1)
        return views

    def _risk_context(
        self, now: int, records: list[Any], quote_to_try: Mapping[str, Decimal]
    ) -> RiskContext:
        open_count: dict[str, int] = {}
        pending_buy: dict[str, Decimal] = {}
        for o in records:
            open_count[o.symbol] = open_count.get(o.symbol, 0) + 1
            if o.side is Side.BUY and o.price is not None:
                rules = self.rules.get(o.symbol)
                rate = quote_to_try.get(rules.quote, Decimal(0)) if rules else Decimal(0)
                left = o.quantity - o.filled_quantity
                pending_buy[o.symbol] = (
                    pending_buy.get(o.symbol, Decimal(0)) + left * o.price * rate
                )
        last_order = self.store.orders.last_created_by_symbol(excluding=OrderState.REJECTED)
        position_qty = {p.symbol: p.quantity for p in self.ledger.positions() if p.quantity > 0}
        position_value: dict[str, Decimal] = {}
        for sym, qty in position_qty.items():
            hist = self.history.get(sym)
            rules = self.rules.get(sym)
            if hist and rules and rules.quote in quote_to_try:
                position_value[sym] = qty * hist[-1] * quote_to_try[rules.quote]
        return RiskContext(
            now_ms=now,
            rules=self.rules,
            open_orders=open_count,
            last_order_ms=last_order,
            position_qty=position_qty,
            position_value_try=position_value,
            pending_buy_try=pending_buy,
            free_balances=self.last_free,
            quote_to_try=quote_to_try,
        )

    def _metric_points(self, res: CycleResult) -> list[MetricPoint]:
        """The METRICS CONTRACT points of this cycle (btcbot_engine/metrics.py)."""
        pnl = res.pnl
        universe = [e.symbol for e in res.universe if e.included] or list(
            self.settings.universe_symbols
        )
        universe_stale = sum(
            1 for s in universe if s not in res.quotes or not res.quotes[s].tradable
        )
        unknown = self.store.orders.list_unknown()
        lag = max((res.finished_ms - o.updated_ms for o in unknown), default=0)
        figures = CycleFigures(
            ts_ms=res.finished_ms,
            duration_ms=res.duration_ms,
            submitted=res.submitted,
            rejected=sum(1 for o in res.outcomes if o.reason_code.startswith("oms:rejected")),
            fills=res.new_fills + self.unreported_fills,
            stale_quotes=sum(1 for q in res.quotes.values() if not q.tradable),
            universe_size=len(universe),
            universe_stale=universe_stale,
            counters=self.counter_deltas.take() if self.counter_deltas else TransportCounters(),
            reconcile_lag_ms=lag,
            # Open: this cycle was forced to observe (risk trip, forced reason) or failed.
            breaker_open=res.risk.mode is RiskMode.OBSERVE_ONLY or res.failed,
            clock_skew_ms=self.clock_skew_ms(),
            open_orders=len(self.oms.open_orders()),
            risk_mode=res.risk.mode.value,
            realized_pnl_try=pnl.realized_try if pnl else None,
            unrealized_pnl_try=pnl.unrealized_try if pnl else None,
            fees_try=pnl.fees_try if pnl else None,
            drawdown_pct=pnl.drawdown_pct if pnl else None,
            equity_try=pnl.equity_try if pnl else None,
        )
        self.unreported_fills = 0
        return cycle_points(figures, self.store.metrics.wants) + self.oms.latency.take()

    def _persist(self, res: CycleResult) -> None:
        metrics = self._metric_points(res)
        res.metrics = metrics
        summary = {
            "mode": res.mode.value,
            "risk_mode": res.risk.mode.value,
            "decisions": len(res.decisions),
            "submitted": res.submitted,
            "errors": res.errors[:5],
        }
        with self.store.atomic():
            self.store.decisions.insert_many(res.decisions)
            self.store.metrics.record_many(metrics)
            if self.paper is not None:
                self.store.runtime.set(PAPER_STATE_KEY, json.dumps(self.paper.to_state()))
            peak = self.ledger.peak_equity_try
            if peak is not None:
                self.store.cursors.set(PEAK_EQUITY_KEY, str(peak))
            self.store.cycles.finish(
                res.cycle_id,
                finished_ms=res.finished_ms,
                outcome="error" if res.errors else "ok",
                summary=summary,
            )
