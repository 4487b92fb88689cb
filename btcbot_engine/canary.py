"""The bounded live canary: one symbol, one passive order at a time, a TTL, a cycle cap.

The canary is not a side path: each of its steps is a real `TradingCycle` (market data ->
reconcile -> fill sync -> ledger -> risk -> gates -> OMS with the client id persisted before the
HTTP call) run with settings narrowed for the run (universe = the symbol, one order, notional
capped by the plan, TTL = the plan's) and the `CanaryStrategy`, which proposes one BUY resting
below the best bid.

Life of a canary (owned and driven by the engine thread):
- `start()` refuses (state "refused", a reason code) unless the gates say LIVE, the plan is
  within the caps, the symbol is known and trading with fresh data, the notional meets the
  pair's minimum, the TRY balance covers it, and none of our orders is open.
- `step()` runs one cycle; one canary cycle is one order life: place, watch until filled or the
  OMS cancels it at the TTL, confirm. `loop` plans run up to `max_cycles` of them,
  `cycle_seconds` apart. Stop conditions, each with its reason code: stale market data
  (canary:stale_data), a reject (canary:rejected), a lost submit reply (canary:uncertain),
  submit latency over CANARY_MAX_SUBMIT_LATENCY_MS (canary:latency), the kill switch
  (canary:kill), gates no longer LIVE (canary:not_live), risk refusing the order (canary:risk),
  exchange reads failing (canary:exchange_error), an operator abort (canary:aborted).
- On ANY end: cancel the canary's open orders FIRST (safe mode would block the cancel), then
  turn safe mode on through the engine's SetSafeMode path, then verify against the exchange:
  the canary's orders re-read by order id / client id, the account's trades on the symbol since
  the start, and what is still open. `verified` is True only when every read succeeded.

While a canary runs, `canary_active` in the runtime table names it; a process that dies
mid-canary leaves it set, and the next engine start finishes the job (cancel, safe mode).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from btcbot_engine.config import Settings
from btcbot_engine.cycle import CycleResult, TradingCycle, risk_limits, universe_config
from btcbot_engine.domain.canary import CanaryOrder, CanaryPlan, CanaryView
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.market import normalize_symbol
from btcbot_engine.domain.money import fmt
from btcbot_engine.domain.orders import OrderState
from btcbot_engine.domain.records import DecisionStage, OrderRecord
from btcbot_engine.domain.rules import QuantizedOrder, RuleViolation
from btcbot_engine.exchange.port import ExchangeError, ExchangeUnavailable, OrderNotFound
from btcbot_engine.fill_sync import sync_fills
from btcbot_engine.gates import GateDecision, Mode
from btcbot_engine.risk import RiskMode
from btcbot_engine.strategies.base import FeeRates
from btcbot_engine.strategies.canary import NAME as STRATEGY_NAME
from btcbot_engine.strategies.canary import CanaryStrategy, canary_order

log = logging.getLogger(__name__)
T = TypeVar("T")

# --- limits of a plan ---------------------------------------------------------------------------
MAX_CYCLES = 20
MIN_TTL_SECONDS = 1
MAX_TTL_SECONDS = 3600
MAX_CYCLE_SECONDS = 3600
MAX_OFFSET_BPS = Decimal(9999)
QUOTE = "TRY"  # the canary's notional is in TRY, so it trades TRY pairs only

# --- reason codes ---------------------------------------------------------------------------------
BAD_PLAN = "canary:bad_plan"
CAP = "canary:cap"
BELOW_MIN = "canary:below_min"
RULE = "canary:rule"  # the order cannot meet the pair's rules (price band, scale...)
NOT_LIVE = "canary:not_live"
UNKNOWN_SYMBOL = "canary:unknown_symbol"
NOT_TRADING = "canary:not_trading"
BALANCE = "canary:balance"
ORDERS_OPEN = "canary:orders_open"
BUSY = "canary:busy"
ENGINE_NOT_READY = "canary:engine_not_ready"
STALE_DATA = "canary:stale_data"
REJECTED = "canary:rejected"
UNCERTAIN = "canary:uncertain"
LATENCY = "canary:latency"
KILL = "canary:kill"
ABORTED = "canary:aborted"
RISK = "canary:risk"
NOT_PLACED = "canary:not_placed"
EXCHANGE_ERROR = "canary:exchange_error"
ERROR = "canary:error"
INTERRUPTED = "canary:interrupted"

ACTIVE_KEY = "canary_active"  # runtime table: JSON of the running canary, "" when none
INTENT_PREFIX = f"{STRATEGY_NAME}:"  # OrderRecord.intent of every canary order
FILL_LOOKBACK_MS = 60_000  # read trades a little before the start: clocks differ
CANCEL_RESEND_S = 2.0  # re-send a cancel the exchange has not applied after this long
CANCEL_POLL_S = 0.25
_REJECT_PREFIXES = ("oms:rejected", "oms:not_sent", "oms:rule:", "oms:cancel_rejected")

Refusal = tuple[str, str]  # (reason code, one-line detail)


# --- pure helpers ---------------------------------------------------------------------------------


def normalize_plan(plan: CanaryPlan) -> CanaryPlan:
    """The plan with its symbol in the form used everywhere (`btc_try` -> `BTCTRY`)."""
    return replace(plan, symbol=normalize_symbol(plan.symbol))


def ttl_whole_seconds(plan: CanaryPlan) -> int:
    """The TTL the OMS applies: whole seconds, rounded up (never shorter than asked)."""
    return max(MIN_TTL_SECONDS, math.ceil(plan.ttl_seconds))


def check_plan(plan: CanaryPlan, settings: Settings) -> Refusal | None:
    """Refusals that need neither the exchange nor the database (also used by the CLI)."""
    p = normalize_plan(plan)
    if not p.symbol.isalnum() or not p.symbol:
        return BAD_PLAN, f"{plan.symbol!r} is not a pair symbol (e.g. BTCTRY)"
    if not p.symbol.endswith(QUOTE) or p.symbol == QUOTE:
        return BAD_PLAN, f"{p.symbol}: the canary trades TRY pairs only (its notional is TRY)"
    if p.symbol in {normalize_symbol(s) for s in settings.universe_deny}:
        return BAD_PLAN, f"{p.symbol} is in UNIVERSE_DENY"
    if not isinstance(p.notional_try, Decimal) or not p.notional_try.is_finite():
        return BAD_PLAN, "notional must be a decimal amount of TRY"
    if p.notional_try <= 0:
        return BAD_PLAN, f"notional {p.notional_try} TRY must be more than 0"
    cap = settings.max_notional_per_order_try
    if p.notional_try > cap:
        return CAP, f"notional {fmt(p.notional_try)} TRY is above MAX_NOTIONAL_PER_ORDER_TRY {cap}"
    if p.notional_try < settings.min_order_notional_try:
        return BELOW_MIN, (
            f"notional {fmt(p.notional_try)} TRY is below MIN_ORDER_NOTIONAL_TRY "
            f"{settings.min_order_notional_try}"
        )
    if not MIN_TTL_SECONDS <= p.ttl_seconds <= MAX_TTL_SECONDS:
        return BAD_PLAN, f"TTL must be {MIN_TTL_SECONDS}..{MAX_TTL_SECONDS} seconds"
    if not 1 <= p.max_cycles <= MAX_CYCLES:
        return CAP, f"max cycles must be 1..{MAX_CYCLES}"
    if not 0 < p.cycle_seconds <= MAX_CYCLE_SECONDS:
        return BAD_PLAN, f"cycle seconds must be more than 0 and at most {MAX_CYCLE_SECONDS}"
    if not Decimal(0) <= p.offset_bps <= MAX_OFFSET_BPS:
        return BAD_PLAN, f"offset must be 0..{MAX_OFFSET_BPS} bps below the bid"
    return None


def check_gates(decision: GateDecision) -> Refusal | None:
    """The canary needs the gates to say LIVE (submits and cancels allowed)."""
    if decision.mode is Mode.LIVE and decision.live_submit_allowed:
        return None
    blocked = ", ".join(decision.blocked_by) or "-"
    return NOT_LIVE, f"gates say {decision.mode.value}, not LIVE (blocked by {blocked})"


def refused_view(plan: CanaryPlan, refusal: Refusal, now_ms: int | None = None) -> CanaryView:
    """The view of a canary that never started."""
    code, detail = refusal
    return CanaryView(
        plan=normalize_plan(plan),
        state="refused",
        stop_reason=code,
        detail=detail,
        events=(f"refused: {code}: {detail}",),
        ended_ms=now_ms,
    )


def narrowed_settings(settings: Settings, plan: CanaryPlan) -> Settings:
    """The settings of a canary cycle: one symbol, one order, the plan's notional and TTL.

    Every cap only narrows; the cooldown is 0 because the plan's own spacing governs.
    """
    notional = min(plan.notional_try, settings.max_notional_per_order_try)
    return settings.model_copy(
        update={
            "universe_symbols": (plan.symbol,),
            "max_orders_per_cycle": 1,
            "max_open_orders_per_symbol": 1,
            "max_notional_per_order_try": notional,
            "notional_cap_try_per_cycle": min(notional, settings.notional_cap_try_per_cycle),
            "ttl_seconds": ttl_whole_seconds(plan),
            "cooldown_seconds": 0,
        }
    )


def narrowed_cycle(
    base: TradingCycle, settings: Settings, strategy: CanaryStrategy
) -> TradingCycle:
    """A sibling of the engine's cycle with narrowed settings and the canary strategy.

    A shallow copy shares every part and every piece of state (store, exchange, OMS, guard,
    ledger, forced reasons, reject history, metric wiring), so the canary runs the real path.
    """
    sibling = copy.copy(base)
    sibling.settings = settings
    sibling.limits = risk_limits(settings)
    sibling.universe_cfg = universe_config(settings)
    sibling.strategy = strategy
    return sibling


def view_to_json(view: CanaryView) -> dict[str, Any]:
    """The view as a JSON-ready dict (Decimals as strings)."""
    p = view.plan
    return {
        "plan": {
            "symbol": p.symbol,
            "notional_try": fmt(p.notional_try),
            "ttl_seconds": p.ttl_seconds,
            "max_cycles": p.max_cycles,
            "cycle_seconds": p.cycle_seconds,
            "offset_bps": str(p.offset_bps),
        },
        "state": view.state,
        "stop_reason": view.stop_reason,
        "detail": view.detail,
        "cycle": view.cycle,
        "orders_placed": view.orders_placed,
        "orders_open": view.orders_open,
        "other_open": view.other_open,
        "fills": view.fills,
        "filled_quantity": fmt(view.filled_quantity),
        "filled_notional_try": fmt(view.filled_notional_try),
        "fees_try": fmt(view.fees_try),
        "pnl_try": fmt(view.pnl_try),
        "verified": view.verified,
        "safe_mode_on": view.safe_mode_on,
        "started_ms": view.started_ms,
        "ended_ms": view.ended_ms,
        "orders": [
            {
                "client_id": o.client_id,
                "order_id": o.order_id,
                "side": o.side,
                "price": None if o.price is None else fmt(o.price),
                "quantity": fmt(o.quantity),
                "filled_quantity": fmt(o.filled_quantity),
                "state": o.state,
                "exchange_status": o.exchange_status,
            }
            for o in view.orders
        ],
        "events": list(view.events),
    }


def clean_finish(view: CanaryView) -> bool:
    """Finished its cycles, verified, nothing left open."""
    return view.state == "finished" and view.verified and view.orders_open == 0


# --- the runner ---------------------------------------------------------------------------------


class CanaryRunner:
    """Runs one canary inside the engine thread; see the module docstring."""

    def __init__(
        self,
        plan: CanaryPlan,
        *,
        base: TradingCycle,
        set_safe_mode: Callable[[], None],
        publish: Callable[[], None] = lambda: None,
    ) -> None:
        self.plan = normalize_plan(plan)
        self._base = base
        self._settings = base.settings
        self._clock = base.clock_ms
        self._set_safe_mode = set_safe_mode
        self._publish = publish
        self._strategy = CanaryStrategy(
            symbol=self.plan.symbol,
            notional_try=self.plan.notional_try,
            offset_bps=self.plan.offset_bps,
        )
        self._cycle: TradingCycle | None = None
        self.view = CanaryView(plan=self.plan, state="running")
        self._phase = "place"  # place -> watch -> (wait -> place ...)
        self._current: str | None = None  # client id of this canary cycle's order
        self._seen: dict[str, tuple[str, Decimal]] = {}  # client id -> (state, filled) reported
        self._lifecycle_started_ms = 0
        self._next_due_ms = 0
        self._steps = 0
        self._preview: QuantizedOrder | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True while the canary runs (its order may be on the exchange)."""
        return self.view.active

    def due_in_ms(self) -> int:
        """Milliseconds until the next step is due (0 or less: now)."""
        return self._next_due_ms - self._clock()

    def _event(self, text: str, **changes: Any) -> None:
        log.info("canary: %s", text)
        self.view = replace(self.view, events=(*self.view.events, text), **changes)

    # --- start --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Check everything, then arm the first canary cycle (or end up refused)."""
        base = self._base
        refusal = check_plan(self.plan, self._settings) or check_gates(base.guard.decision())
        if refusal is None and base.forced_reasons:
            reasons = "; ".join(f"{k} ({v})" for k, v in base.forced_reasons.items())
            refusal = ENGINE_NOT_READY, f"the engine is held in OBSERVE_ONLY by {reasons}"[:300]
        if refusal is None:
            ours = base.oms.open_orders()
            if ours:
                refusal = (
                    ORDERS_OPEN,
                    (
                        f"{len(ours)} of our orders are open; cancel them first "
                        "(the canary is the only order while it runs)"
                    ),
                )
        if refusal is None:
            refusal = await self._check_exchange()
        if refusal is not None:
            self.view = refused_view(self.plan, refusal, self._clock())
            log.warning("canary refused: %s: %s", *refusal)
            return
        assert self._preview is not None
        settings = narrowed_settings(self._settings, self.plan)
        self._cycle = narrowed_cycle(base, settings, self._strategy)
        now = self._clock()
        base.store.runtime.set(ACTIVE_KEY, json.dumps(_plan_json(self.plan) | {"started_ms": now}))
        p = self.plan
        self.view = replace(self.view, started_ms=now)
        self._event(
            f"start: {p.symbol} {fmt(p.notional_try)} TRY, TTL {ttl_whole_seconds(p)} s, "
            f"{p.max_cycles} cycle(s) {p.cycle_seconds:g} s apart; gates LIVE; "
            f"order would be BUY {fmt(self._preview.quantity)} @ {fmt(self._preview.price)}"
        )
        self._begin_cycle(now)

    async def _check_exchange(self) -> Refusal | None:
        """Symbol known and trading, fresh quote, quantized notional within the minimums,
        enough free TRY. Reads only."""
        base, p = self._base, self.plan
        try:
            rules = await base.exchange.exchange_info()
        except ExchangeError as exc:
            return EXCHANGE_ERROR, f"exchange info: {exc}"
        rule = rules.get(p.symbol)
        if rule is None:
            return UNKNOWN_SYMBOL, f"{p.symbol} is not listed by the exchange"
        if not rule.trading:
            return NOT_TRADING, f"{p.symbol} is {rule.status}, not TRADING"
        if rule.quote.upper() != QUOTE:
            return BAD_PLAN, f"{p.symbol} is quoted in {rule.quote}; the canary trades TRY pairs"
        quote = (
            await base.market.quotes(
                [p.symbol], now_ms=self._clock(), server_offset_ms=base.server_offset_ms()
            )
        )[p.symbol]
        if not quote.tradable or quote.bid is None:
            return STALE_DATA, f"{p.symbol} quote is {quote.status.value} (age {quote.age_ms} ms)"
        try:
            order = canary_order(rule, quote.bid, p.notional_try, p.offset_bps)
        except RuleViolation as exc:
            code = BELOW_MIN if exc.rule == "min_notional" else RULE
            return code, f"{p.symbol}: {exc}"
        if order.notional < self._settings.min_order_notional_try:
            return BELOW_MIN, (
                f"the order quantizes to {fmt(order.notional)} TRY, below MIN_ORDER_NOTIONAL_TRY "
                f"{self._settings.min_order_notional_try}"
            )
        try:
            balances = {b.asset.upper(): b.free for b in await base.exchange.balances()}
        except ExchangeError as exc:
            return EXCHANGE_ERROR, f"balances: {exc}"
        need = order.notional * (1 + FeeRates().worst)
        free = balances.get(QUOTE, Decimal(0))
        if free < need:
            return BALANCE, f"free TRY {fmt(free)} does not cover {fmt(need)} (order + fee)"
        self._preview = order
        return None

    def _begin_cycle(self, now: int) -> None:
        cycle = self.view.cycle + 1
        self.view = replace(self.view, cycle=cycle)
        self._phase = "place"
        self._current = None
        self._steps = 0
        self._lifecycle_started_ms = now
        self._next_due_ms = now
        self._strategy.purpose = f"c{cycle:02d}"

    # --- steps ------------------------------------------------------------------------------

    async def step(self) -> CycleResult | None:
        """Run one canary cycle step; ends the canary on a stop condition or after its cycles."""
        if not self.active or self._cycle is None:
            return None
        if self._phase == "wait":
            self._begin_cycle(self._clock())
        self._steps += 1
        # Unique per canary, so a second canary in the same engine run gets new client ids.
        tag = f"canary{self.view.started_ms}-c{self.view.cycle:02d}"
        cycle_id = f"{self._base.run_id}-{tag}-{self._steps:04d}"
        self._strategy.armed = self._phase == "place"
        try:
            result = await self._cycle.run(cycle_id)
        except Exception as exc:  # a bug must still end in cancel + safe mode
            log.exception("canary cycle %s failed", cycle_id)
            await self.stop(ERROR, f"cycle failed: {type(exc).__name__}: {exc}"[:300])
            return None
        stop = self._judge(result)
        if stop is not None:
            await self.stop(*stop)
            return result
        if self._cycle_done():
            if self.view.cycle >= self.plan.max_cycles:
                await self._end("finished", "", f"ran {self.view.cycle} cycle(s)")
                return result
            self._phase = "wait"
            self._next_due_ms = max(
                self._lifecycle_started_ms + int(self.plan.cycle_seconds * 1000), self._clock()
            )
        else:
            self._next_due_ms = self._clock() + self._poll_ms()
        self._publish()
        return result

    def _poll_ms(self) -> int:
        ttl_ms = ttl_whole_seconds(self.plan) * 1000
        poll = min(int(self._settings.canary_poll_seconds * 1000), ttl_ms // 4)
        return max(100, poll)

    def _judge(self, res: CycleResult) -> Refusal | None:
        """Record what the cycle did for the canary; a stop condition if one was met."""
        symbol = self.plan.symbol
        stop: Refusal | None = None
        for o in res.outcomes:
            code = o.reason_code
            if code == "oms:submitted" and o.client_id:
                self._current = o.client_id
                stop = stop or self._placed(o.client_id)
            elif code == "oms:unknown":
                self._current = o.client_id
                stop = stop or (UNCERTAIN, f"submit reply lost ({o.detail})"[:300])
            elif code.startswith(_REJECT_PREFIXES):
                self._current = self._current or o.client_id
                stop = stop or (REJECTED, f"{code}: {o.detail}"[:300])
            elif code == "oms:blocked":
                stop = stop or (NOT_LIVE, f"write blocked: {o.detail}"[:300])
            elif code == "oms:cancel_requested":
                self._event(f"cycle {self.view.cycle}: TTL reached, cancel requested")
            elif code == "oms:cancel_error":
                stop = stop or (EXCHANGE_ERROR, f"cancel failed: {o.detail}"[:300])
        gates = self._base.guard.decision()
        if gates.mode is Mode.KILLED:
            return KILL, "kill switch engaged"
        if (refused := check_gates(gates)) is not None:
            return refused
        if stop is not None:
            return stop
        if res.failed:
            more = f" (+{len(res.errors) - 1} more)" if len(res.errors) > 1 else ""
            return EXCHANGE_ERROR, (res.errors[0] if res.errors else "reads failed")[:250] + more
        quote = res.quotes.get(symbol)
        if quote is None or not quote.tradable:
            entry = next((e for e in res.universe if e.symbol == symbol), None)
            why = quote.status.value if quote else (entry.reason if entry else "missing")
            age = f", age {quote.age_ms} ms" if quote and quote.age_ms is not None else ""
            return STALE_DATA, (
                f"{symbol} market data {why}{age} "
                f"(MAX_MARKET_DATA_AGE_MS {self._settings.max_market_data_age_ms})"
            )
        if res.risk.mode is RiskMode.OBSERVE_ONLY:
            return RISK, f"risk mode OBSERVE_ONLY: {', '.join(res.risk.reasons)}"[:300]
        if self._phase == "place":
            if self._current is None:
                return self._why_not_placed(res)
            self._phase = "watch"
        return self._watch()

    def _placed(self, client_id: str) -> Refusal | None:
        store = self._base.store
        record = store.orders.get(client_id)
        latency = _submit_latency_ms(store.orders.events(client_id))
        self.view = replace(self.view, orders_placed=self.view.orders_placed + 1)
        if record is not None:
            self._seen[client_id] = (record.state.value, record.filled_quantity)
            self._event(
                f"cycle {self.view.cycle}: BUY {fmt(record.quantity)} {record.symbol} @ "
                f"{fmt(record.price or Decimal(0))} placed (order {record.exchange_order_id}, "
                f"client {client_id}), submit {latency} ms"
            )
        limit = self._settings.canary_max_submit_latency_ms
        if latency is not None and latency > limit:
            return LATENCY, f"submit took {latency} ms (CANARY_MAX_SUBMIT_LATENCY_MS {limit})"
        return None

    def _why_not_placed(self, res: CycleResult) -> Refusal:
        symbol = self.plan.symbol
        for d in reversed(res.decisions):
            if d.symbol != symbol:
                continue
            if d.stage is DecisionStage.RISK and d.action == "drop":
                return RISK, f"risk dropped the order: {d.reason_code} {d.detail.get('detail', '')}"
            if d.stage is DecisionStage.GATES:
                return NOT_LIVE, f"gates: {d.reason_code}"
            if d.stage is DecisionStage.OMS:
                return NOT_PLACED, f"OMS: {d.reason_code}"
        return NOT_PLACED, "the canary strategy proposed no order (no usable bid or rules)"

    def _watch(self) -> Refusal | None:
        """Report changes of this cycle's order; a stop if its cancel never lands."""
        if self._current is None:
            return None
        record = self._base.store.orders.get(self._current)
        if record is None:
            return None
        seen = self._seen.get(record.client_id)
        now_seen = (record.state.value, record.filled_quantity)
        if seen != now_seen:
            self._seen[record.client_id] = now_seen
            n = self.view.cycle
            if record.state is OrderState.FILLED:
                self._event(f"cycle {n}: filled {fmt(record.filled_quantity)} {record.symbol}")
            elif record.state is OrderState.CANCELED:
                filled = record.filled_quantity
                after = f"after filling {fmt(filled)}" if filled else "nothing filled"
                self._event(f"cycle {n}: cancelled, {after}")
            elif record.filled_quantity and (seen is None or seen[1] != record.filled_quantity):
                self._event(f"cycle {n}: partially filled {fmt(record.filled_quantity)}")
        ttl_ms = ttl_whole_seconds(self.plan) * 1000
        grace_ms = int(self._settings.canary_cancel_wait_seconds * 1000)
        overdue = self._clock() - record.created_ms > ttl_ms + grace_ms
        if overdue and not record.state.is_terminal:
            return EXCHANGE_ERROR, (
                f"order {record.client_id} still {record.state.value} "
                f"{grace_ms // 1000} s after its TTL"
            )
        return None

    def _cycle_done(self) -> bool:
        if self._phase != "watch" or self._current is None:
            return False
        record = self._base.store.orders.get(self._current)
        return record is not None and record.state.is_terminal

    # --- end ----------------------------------------------------------------------------------

    async def stop(self, code: str, detail: str) -> None:
        """End the canary now with a reason code (cancel first, then safe mode, then verify)."""
        await self._end("stopped", code, detail)

    async def _end(self, state: str, code: str, detail: str) -> None:
        if not self.active:
            return
        if code:
            self._event(f"stop: {code}: {detail}", stop_reason=code, detail=detail)
        else:
            self._event(f"done: {detail}", detail=detail)
        self._publish()
        try:
            # Cancel FIRST: once safe mode is on, not even a cancel may be sent.
            left = await self._cancel_open(code or "finished")
        except Exception as exc:  # still turn safe mode on below
            log.exception("canary: cancelling at the end failed")
            self._event(f"cancelling failed: {type(exc).__name__}: {exc}"[:300])
            left = self._open_canary_orders()
        if left:
            states = ", ".join(f"{o.client_id} {o.state.value}" for o in left)
            self._event(f"still open after cancelling: {states}")
        else:
            self._event("no canary order left open")
        self._set_safe_mode()
        self._base.store.runtime.set(ACTIVE_KEY, "")
        self._event("safe mode ON", safe_mode_on=True)
        self._publish()
        try:
            await self._verify()
        except Exception as exc:  # the summary says it is unverified; the run still ends
            log.exception("canary: verification failed")
            self._event(f"verification failed: {type(exc).__name__}: {exc}"[:300])
            self.view = replace(self.view, verified=False)
        self.view = replace(self.view, state=state, ended_ms=self._clock())
        log.info("canary %s %s: %s", state, code, detail)
        self._publish()

    def _open_canary_orders(self) -> list[OrderRecord]:
        return [o for o in self._base.oms.open_orders() if o.intent.startswith(INTENT_PREFIX)]

    async def _cancel_open(self, why: str) -> list[OrderRecord]:
        """Cancel every open canary order and wait (bounded) until the exchange confirms."""
        oms = self._base.oms
        if not self._base.guard.live:
            # The engine is not wired to the live exchange (e.g. restarted with DRY_RUN=true):
            # it cannot cancel live orders; say so and let `btcbot panic` do it.
            return self._open_canary_orders()
        deadline = time.monotonic() + self._settings.canary_cancel_wait_seconds
        sent: dict[str, float] = {}
        while True:
            try:
                await oms.reconcile()  # a read: also resolves UNKNOWN submits by client id
            except Exception:  # keep cancelling what we know of
                log.exception("canary: reconcile before cancel failed")
            open_now = self._open_canary_orders()
            if not open_now:
                return []
            for order in open_now:
                last = sent.get(order.client_id)
                resend = last is not None and time.monotonic() - last >= CANCEL_RESEND_S
                live = order.state in (OrderState.OPEN, OrderState.PARTIAL)
                if (live and last is None) or (resend and order.exchange_order_id is not None):
                    outcome = await oms.cancel(order.client_id, reason=f"canary end: {why}")
                    sent[order.client_id] = time.monotonic()
                    if outcome.reason_code not in ("oms:cancel_requested", "oms:cancel_not_open"):
                        self._event(f"cancel {order.client_id}: {outcome.reason_code}")
                elif order.state is OrderState.CANCELING and last is None:
                    sent[order.client_id] = time.monotonic()  # the TTL cancel is on its way
            if time.monotonic() >= deadline:
                return open_now
            await asyncio.sleep(CANCEL_POLL_S)

    # --- verification -------------------------------------------------------------------------

    def _canary_records(self) -> list[OrderRecord]:
        started = self.view.started_ms or 0
        return [
            o
            for o in self._base.store.orders.list_all(self.plan.symbol)
            if o.intent.startswith(INTENT_PREFIX) and o.created_ms >= started
        ]

    async def _verify(self) -> None:
        """Re-read the canary's orders, the symbol's trades and open orders from the exchange."""
        base, symbol = self._base, self.plan.symbol
        ex = base.exchange
        if not base.guard.live:
            left = len(self._open_canary_orders())
            self._event(f"NOT verified: the engine is not on the live exchange; {left} open here")
            self.view = replace(self.view, orders_open=left, verified=False)
            return
        reads = _Reads(self._event)
        records = self._canary_records()
        ids = {r.exchange_order_id for r in records if r.exchange_order_id is not None}
        cids = {r.client_id for r in records}
        # What is still open comes first: it is what the operator must act on.
        remote_open = await reads.get("open orders", lambda: ex.open_orders(symbol))
        open_ours = len(self._open_canary_orders())
        other_open = 0
        if remote_open is not None:
            open_ours = sum(1 for o in remote_open if o.order_id in ids or o.client_id in cids)
            other_open = len(remote_open) - open_ours
        orders: list[CanaryOrder] = []
        for rec in records:
            status = await reads.get(f"order {rec.client_id}", lambda r=rec: self._status(r))
            orders.append(
                CanaryOrder(
                    client_id=rec.client_id,
                    order_id=rec.exchange_order_id,
                    side=rec.side.value,
                    price=rec.price,
                    quantity=rec.quantity,
                    filled_quantity=rec.filled_quantity,
                    state=rec.state.value,
                    exchange_status=status or "",
                )
            )
        since = (self.view.started_ms or self._clock()) - FILL_LOOKBACK_MS
        trades = await reads.get("trades", lambda: ex.fills(symbol, since_ms=since))
        fills = [
            f
            for f in trades or []
            if f.order_id in ids or (f.client_id is not None and f.client_id in cids)
        ]
        if trades is not None:  # book the last fills locally too, so the ledger matches
            report = await sync_fills(ex, base.store, base.ledger, {symbol}, {QUOTE: Decimal(1)})
            if report.errors:
                self._event(f"fill sync: {'; '.join(report.errors)}"[:300])
        tickers = await reads.get("mark price", lambda: ex.tickers([symbol]), required=False)
        mark = next((t.bid for t in tickers or [] if t.symbol == symbol and t.bid > 0), None)
        qty = sum((f.quantity for f in fills), Decimal(0))
        notional = sum((f.notional for f in fills), Decimal(0))
        fees = sum((_fee_in_quote(f) for f in fills), Decimal(0))
        pnl = (qty * mark - notional - fees) if mark is not None else -fees
        if trades is not None:
            self._check_ledger(fills, ids)
        self.view = replace(
            self.view,
            orders=tuple(orders),
            orders_open=open_ours,
            other_open=other_open,
            fills=len(fills),
            filled_quantity=qty,
            filled_notional_try=notional,
            fees_try=fees,
            pnl_try=pnl,
            verified=reads.ok,
        )
        word = "verified against the exchange" if reads.ok else "NOT verified (reads failed)"
        self._event(
            f"{word}: {len(records)} order(s), {len(fills)} fill(s) {fmt(qty)} {symbol} "
            f"for {fmt(notional)} TRY, fees {fmt(fees)} TRY, {open_ours} open"
            + (f", {other_open} other open order(s) on {symbol}" if other_open else "")
        )

    async def _status(self, rec: OrderRecord) -> str:
        ex = self._base.exchange
        if rec.exchange_order_id is not None:
            try:
                return (await ex.order(rec.exchange_order_id)).status.value
            except OrderNotFound:
                return "absent"
        matches = await ex.orders_by_client_id(rec.symbol, rec.client_id)
        if not matches:
            return "absent"
        return max(matches, key=lambda o: o.updated_ms).status.value

    def _check_ledger(self, fills: list[Fill], order_ids: set[int]) -> None:
        booked: set[int] = set()
        for oid in order_ids:
            booked |= {f.trade_id for f in self._base.store.fills.for_order(oid)}
        missing = {f.trade_id for f in fills} - booked
        if missing:
            self._event(f"ledger is missing {len(missing)} exchange trade(s): {sorted(missing)}")
        elif fills:
            self._event(f"ledger holds all {len(fills)} canary fill(s)")

    # --- a canary cut short by a crash -------------------------------------------------------

    @classmethod
    async def finish_interrupted(
        cls,
        base: TradingCycle,
        *,
        set_safe_mode: Callable[[], None],
        publish: Callable[[], None] = lambda: None,
    ) -> CanaryRunner | None:
        """If the last process died mid-canary: cancel its orders, safe mode on, verify."""
        saved = base.store.runtime.get(ACTIVE_KEY)
        if not saved:
            return None
        try:
            data = json.loads(saved)
            plan = CanaryPlan(
                symbol=str(data["symbol"]),
                notional_try=Decimal(str(data["notional_try"])),
                ttl_seconds=float(data["ttl_seconds"]),
                max_cycles=int(data["max_cycles"]),
                cycle_seconds=float(data["cycle_seconds"]),
                offset_bps=Decimal(str(data.get("offset_bps", "0"))),
            )
            started = int(data["started_ms"])
        except (ValueError, KeyError, TypeError, ArithmeticError):
            plan, started = CanaryPlan(symbol="?", notional_try=Decimal(0), ttl_seconds=1), 0
        runner = cls(plan, base=base, set_safe_mode=set_safe_mode, publish=publish)
        runner.view = replace(runner.view, started_ms=started)
        await runner.stop(INTERRUPTED, "the previous process ended while a canary ran")
        return runner


class _Reads:
    """The verification's exchange reads: records failures; once the exchange is unreachable,
    the remaining reads are skipped (each would only wait out its retries)."""

    def __init__(self, note: Callable[[str], None]) -> None:
        self._note = note
        self.ok = True
        self._unreachable = False

    async def get(
        self, what: str, read: Callable[[], Awaitable[T]], *, required: bool = True
    ) -> T | None:
        if self._unreachable:
            self.ok = self.ok and not required
            return None
        try:
            return await read()
        except ExchangeUnavailable as exc:
            self._unreachable = True
            self._note(
                f"verify {what}: {exc}; exchange unreachable, skipping the other reads"[:300]
            )
        except ExchangeError as exc:
            self._note(f"verify {what}: {exc}"[:300])
        self.ok = self.ok and not required
        return None


def _plan_json(plan: CanaryPlan) -> dict[str, Any]:
    return {
        "symbol": plan.symbol,
        "notional_try": str(plan.notional_try),
        "ttl_seconds": plan.ttl_seconds,
        "max_cycles": plan.max_cycles,
        "cycle_seconds": plan.cycle_seconds,
        "offset_bps": str(plan.offset_bps),
    }


def _submit_latency_ms(events: list[Any]) -> int | None:
    """From the write-ahead (SUBMITTING) to the acknowledgement (OPEN), on the engine clock."""
    sent = next((e.ts_ms for e in events if e.to_state is OrderState.SUBMITTING), None)
    acked = next((e.ts_ms for e in events if e.to_state is OrderState.OPEN), None)
    if sent is None or acked is None:
        return None
    return max(0, acked - sent)


def _fee_in_quote(fill: Fill) -> Decimal:
    """Fee and tax of one fill in its quote currency (a base-asset fee is valued at the price)."""
    cost = fill.fee + fill.tax
    if fill.fee_asset.upper() == fill.quote.upper():
        return cost
    if fill.fee_asset.upper() == fill.base.upper():
        return cost * fill.price
    return cost
