"""Order management: idempotent client ids, write-ahead persistence, reconciliation.

Life cycle: NEW -> SUBMITTING -> OPEN -> PARTIAL -> FILLED; CANCELING -> CANCELED; REJECTED; and
UNKNOWN for a submit or cancel whose outcome we did not see. Every transition is an order event.

The rules that keep money safe:
- The order row (with its client id) is committed BEFORE the HTTP call, so a crash between
  "sent" and "reply" leaves a SUBMITTING row that recovery resolves by client id.
- A lost reply makes the order UNKNOWN; while a symbol has an UNKNOWN or SUBMITTING order, no new
  order is sent for it. UNKNOWN is resolved through open and all orders, never by resending.
- The pre-write guard re-evaluates the gates right before every submit and cancel, whatever the
  caller checked before (the live adapter checks a third time before bytes leave).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.domain.intents import Intent
from btcbot_engine.domain.money import fmt
from btcbot_engine.domain.orders import (
    ExchangeOrder,
    ExchangeOrderStatus,
    OrderMethod,
    OrderRequest,
    OrderState,
)
from btcbot_engine.domain.records import OrderRecord
from btcbot_engine.domain.rules import QuantizedOrder, RuleViolation, SymbolRules, quantize_limit
from btcbot_engine.exchange.port import (
    ExchangeError,
    ExchangePort,
    OrderNotFound,
    Rejected,
    SubmitUncertain,
    WriteBlocked,
)
from btcbot_engine.guard import PreWriteGuard
from btcbot_engine.metrics import CANCEL_LATENCY_MS, ORDER_SUBMIT_LATENCY_MS, LatencyRecorder
from btcbot_engine.store.db import Store

log = logging.getLogger(__name__)

# States in which the exchange may hold (or be about to hold) the order: no new order for the
# symbol is sent while one of these is unresolved.
UNRESOLVED = (OrderState.NEW, OrderState.SUBMITTING, OrderState.UNKNOWN)
LIVE_ON_EXCHANGE = (OrderState.OPEN, OrderState.PARTIAL, OrderState.CANCELING)
# An UNKNOWN order absent from open and all orders this long is taken as never booked.
UNKNOWN_ABSENT_GRACE_MS = 60_000
# BTCTurk accepts a cancel and applies it later. While an accepted cancel is this fresh it is
# awaited, not sent again; older, it is re-sent (a crash between persisting CANCELING and the
# DELETE, or an exchange that never applied it), at most once per this interval.
CANCEL_RETRY_MS = 10_000


def client_order_id(run_id: str, cycle_id: str, intent_key: str) -> str:
    """Deterministic client id: the same run, cycle and intent always give the same id."""
    digest = hashlib.sha256(f"{run_id}|{cycle_id}|{intent_key}".encode()).hexdigest()
    return f"bb{digest[:30]}"


def payload_hash(request: OrderRequest) -> str:
    """Fingerprint of exactly what would be sent (symbol, side, method, price, quantity)."""
    price = fmt(request.price) if request.price is not None else "-"
    text = f"{request.symbol}|{request.side}|{request.method}|{price}|{fmt(request.quantity)}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class IdempotencyConflict(Exception):
    """The same intent key was used before with a different payload: refuse, never send."""


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What happened to one OMS action, with the reason code the cycle records."""

    action: str  # submit, cancel, skip
    reason_code: str  # oms:submitted, oms:rejected:<reason>, oms:unknown, oms:blocked:<...>
    symbol: str
    client_id: str | None = None
    detail: str = ""


@dataclass(slots=True)
class ReconcileReport:
    """Result of one reconciliation pass."""

    checked: int = 0
    changed: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_STATUS_TO_STATE = {
    ExchangeOrderStatus.UNTOUCHED: OrderState.OPEN,
    ExchangeOrderStatus.PARTIAL: OrderState.PARTIAL,
    ExchangeOrderStatus.CLOSED: OrderState.FILLED,
    ExchangeOrderStatus.CANCELED: OrderState.CANCELED,
}


class OrderManager:
    """Places, cancels and reconciles our orders against one exchange port."""

    def __init__(
        self,
        store: Store,
        exchange: ExchangePort,
        guard: PreWriteGuard,
        *,
        run_id: str,
        clock_ms: Callable[[], int],
    ) -> None:
        self._store = store
        self._exchange = exchange
        self._guard = guard
        self._run_id = run_id
        self._clock_ms = clock_ms
        self.unknown_grace_ms = UNKNOWN_ABSENT_GRACE_MS
        self.cancel_retry_ms = CANCEL_RETRY_MS
        # One latency point per submit/cancel sent; the cycle drains them into its metrics.
        self.latency = LatencyRecorder(clock_ms)

    # --- queries --------------------------------------------------------------------------

    def open_orders(self, symbol: str | None = None) -> list[OrderRecord]:
        """Our non-terminal orders (NEW, SUBMITTING, OPEN, PARTIAL, CANCELING, UNKNOWN)."""
        return self._store.orders.list_open(symbol)

    def blocked_symbols(self) -> set[str]:
        """Symbols with an order whose existence on the exchange is not yet known."""
        return {o.symbol for o in self.open_orders() if o.state in UNRESOLVED}

    def _symbol_blocked(self, symbol: str) -> bool:
        """`symbol in blocked_symbols()`, reading only that symbol's open orders."""
        return any(o.state in UNRESOLVED for o in self._store.orders.list_open(symbol))

    # --- submit ---------------------------------------------------------------------------

    async def place(self, intent: Intent, rules: SymbolRules, *, cycle_id: str) -> OrderOutcome:
        """Quantize, persist, guard, send. Never sends twice for the same intent and cycle."""
        try:
            q: QuantizedOrder = quantize_limit(rules, intent.side, intent.price, intent.quantity)
        except RuleViolation as exc:
            return OrderOutcome("skip", f"oms:rule:{exc.rule}", intent.symbol, detail=str(exc))

        client_id = client_order_id(self._run_id, cycle_id, intent.key)
        request = OrderRequest(
            symbol=intent.symbol,
            side=intent.side,
            method=OrderMethod.LIMIT,
            quantity=q.quantity,
            price=q.price,
            client_id=client_id,
        )
        idem_key = f"{self._run_id}:{cycle_id}:{intent.key}"
        p_hash = payload_hash(request)
        existing = self._store.orders.by_idempotency_key(idem_key)
        if existing is not None:
            if existing.payload_hash != p_hash:
                raise IdempotencyConflict(
                    f"intent {intent.key} in cycle {cycle_id} was already sent with another payload"
                )
            return OrderOutcome(
                "skip", "oms:duplicate_intent", intent.symbol, existing.client_id, "already placed"
            )
        if self._symbol_blocked(intent.symbol):
            return OrderOutcome("skip", "oms:symbol_unresolved", intent.symbol, detail="UNKNOWN")

        # Guard before persisting so a blocked write leaves no order row behind.
        try:
            self._guard.check("submit")
        except WriteBlocked as exc:
            return OrderOutcome("skip", "oms:blocked", intent.symbol, detail=str(exc))

        now = self._clock_ms()
        record = OrderRecord(
            client_id=client_id,
            symbol=intent.symbol,
            side=intent.side,
            method=OrderMethod.LIMIT,
            price=q.price,
            quantity=q.quantity,
            filled_quantity=Decimal(0),
            state=OrderState.NEW,
            idempotency_key=idem_key,
            payload_hash=p_hash,
            run_id=self._run_id,
            cycle_id=cycle_id,
            intent=intent.key,
            created_ms=now,
            updated_ms=now,
            reason=intent.reason,
        )
        # Write-ahead: committed to disk before any byte goes to the exchange.
        with self._store.atomic():
            self._store.orders.insert(record)
            self._store.orders.update_state(
                client_id, OrderState.SUBMITTING, ts_ms=now, detail="write-ahead"
            )
        return await self._send(request)

    async def _send(self, request: OrderRequest) -> OrderOutcome:
        cid, symbol = request.client_id, request.symbol
        try:
            self._guard.check("submit")  # again, at the last moment: the kill may be newer
            with self.latency.measure(ORDER_SUBMIT_LATENCY_MS, symbol):
                ack = await self._exchange.submit(request)
        except WriteBlocked as exc:
            self._transition(cid, OrderState.REJECTED, f"not sent: {exc}", last_error=str(exc))
            return OrderOutcome("skip", "oms:blocked", symbol, cid, str(exc))
        except SubmitUncertain as exc:
            self._transition(cid, OrderState.UNKNOWN, "reply lost", last_error=str(exc))
            log.warning("submit outcome unknown for %s on %s", cid, symbol)
            return OrderOutcome("submit", "oms:unknown", symbol, cid, str(exc))
        except Rejected as exc:
            self._transition(cid, OrderState.REJECTED, exc.reason, last_error=str(exc))
            return OrderOutcome("submit", f"oms:rejected:{exc.reason}", symbol, cid, str(exc))
        except ExchangeError as exc:
            # The adapter raises plain errors only when the request provably was not sent.
            self._transition(cid, OrderState.REJECTED, f"not sent: {exc}", last_error=str(exc))
            return OrderOutcome("submit", "oms:not_sent", symbol, cid, str(exc))
        self._transition(cid, OrderState.OPEN, "acknowledged", exchange_order_id=ack.order_id)
        return OrderOutcome("submit", "oms:submitted", symbol, cid, f"order {ack.order_id}")

    # --- cancel ---------------------------------------------------------------------------

    async def cancel(self, client_id: str, *, reason: str) -> OrderOutcome:
        """Ask the exchange to cancel one of ours; confirmed later by status (async on BTCTurk)."""
        order = self._store.orders.get(client_id)
        if order is None:
            return OrderOutcome("skip", "oms:cancel_unknown_client_id", "-", client_id)
        if order.state.is_terminal:
            return OrderOutcome("skip", "oms:cancel_not_open", order.symbol, client_id)
        if order.exchange_order_id is None:
            # Nothing to cancel by id yet; reconciliation must resolve it first.
            return OrderOutcome("skip", "oms:cancel_unresolved", order.symbol, client_id)
        if order.state is OrderState.CANCELING and not self._cancel_due(order):
            # Accepted, not applied yet: a second DELETE would only add to the load.
            return OrderOutcome("skip", "oms:cancel_pending", order.symbol, client_id)
        try:
            self._guard.check("cancel")
        except WriteBlocked as exc:
            return OrderOutcome("skip", "oms:blocked", order.symbol, client_id, str(exc))
        previous = order.state
        # (Re)entering CANCELING stamps the attempt, which restarts the retry interval.
        detail = f"re-sent: {reason}" if previous is OrderState.CANCELING else reason
        self._transition(client_id, OrderState.CANCELING, detail)
        try:
            self._guard.check("cancel")
            with self.latency.measure(CANCEL_LATENCY_MS, order.symbol):
                await self._exchange.cancel(order.exchange_order_id)
        except WriteBlocked as exc:
            self._transition(client_id, previous, f"cancel not sent: {exc}")
            return OrderOutcome("skip", "oms:blocked", order.symbol, client_id, str(exc))
        except OrderNotFound as exc:
            # Gone already (filled or cancelled): the next reconcile reads its final state.
            return OrderOutcome("cancel", "oms:cancel_not_found", order.symbol, client_id, str(exc))
        except Rejected as exc:
            return OrderOutcome(
                "cancel", f"oms:cancel_rejected:{exc.reason}", order.symbol, client_id, str(exc)
            )
        except ExchangeError as exc:
            # Not known to be accepted: back to the previous state, so the TTL (or the next
            # cancel-all) sends it again instead of awaiting a cancel that may never come.
            self._transition(client_id, previous, f"cancel not confirmed: {exc}")
            return OrderOutcome("cancel", "oms:cancel_error", order.symbol, client_id, str(exc))
        return OrderOutcome("cancel", "oms:cancel_requested", order.symbol, client_id, reason)

    def _cancel_due(self, order: OrderRecord) -> bool:
        """A CANCELING order's last cancel is old enough to be sent again."""
        return self._clock_ms() - order.updated_ms >= self.cancel_retry_ms

    async def cancel_all(self, *, reason: str) -> list[OrderOutcome]:
        """Cancel every order of ours the exchange may hold."""
        outcomes = []
        for order in self.open_orders():
            if order.state in LIVE_ON_EXCHANGE:
                outcomes.append(await self.cancel(order.client_id, reason=reason))
        return outcomes

    async def cancel_expired(self, ttl_s: int) -> list[OrderOutcome]:
        """Cancel orders older than the TTL (CANCELING ones are re-sent only once overdue)."""
        now = self._clock_ms()
        outcomes = []
        for order in self.open_orders():
            expired = now - order.created_ms >= ttl_s * 1000
            live = order.state in (OrderState.OPEN, OrderState.PARTIAL)
            overdue = order.state is OrderState.CANCELING and self._cancel_due(order)
            if expired and (live or overdue):
                outcomes.append(await self.cancel(order.client_id, reason="ttl"))
        return outcomes

    # --- reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> ReconcileReport:
        """Bring every non-terminal order in line with the exchange."""
        report = ReconcileReport()
        for order in self.open_orders():
            report.checked += 1
            try:
                if order.exchange_order_id is None:
                    await self._resolve_by_client_id(order, report)
                else:
                    remote = await self._exchange.order(order.exchange_order_id)
                    self._apply_remote(order, remote, report)
            except OrderNotFound:
                if order.state is OrderState.CANCELING:
                    # BTCTurk forgets some cancelled orders; treat as cancelled, fills still
                    # arrive through the fills feed.
                    self._transition(order.client_id, OrderState.CANCELED, "not found after cancel")
                    report.changed.append(order.client_id)
                else:
                    report.unresolved.append(order.client_id)
                    report.errors.append(f"{order.client_id}: exchange does not know its id")
            except ExchangeError as exc:
                report.errors.append(f"{order.client_id}: {exc}")
        return report

    async def _resolve_by_client_id(self, order: OrderRecord, report: ReconcileReport) -> None:
        matches = await self._exchange.orders_by_client_id(order.symbol, order.client_id)
        if matches:
            remote = max(matches, key=lambda o: o.updated_ms)
            self._apply_remote(order, remote, report, resolved=True)
            return
        age = self._clock_ms() - order.updated_ms
        if order.state is OrderState.NEW or age >= self.unknown_grace_ms:
            # Absent from open and all orders long enough: it was never booked.
            self._transition(
                order.client_id, OrderState.REJECTED, "not on exchange after uncertain submit"
            )
            report.changed.append(order.client_id)
            return
        if order.state is OrderState.SUBMITTING:
            self._transition(order.client_id, OrderState.UNKNOWN, "found SUBMITTING on recovery")
        report.unresolved.append(order.client_id)

    def _apply_remote(
        self,
        order: OrderRecord,
        remote: ExchangeOrder,
        report: ReconcileReport,
        *,
        resolved: bool = False,
    ) -> None:
        target = _STATUS_TO_STATE[remote.status]
        if order.state is OrderState.CANCELING and target in (OrderState.OPEN, OrderState.PARTIAL):
            target = OrderState.CANCELING  # cancel accepted, not yet applied: keep waiting
        filled = remote.filled_quantity
        if (
            target is order.state
            and filled == order.filled_quantity
            and order.exchange_order_id == remote.order_id
        ):
            return
        self._transition(
            order.client_id,
            target,
            "resolved by client id" if resolved else f"exchange says {remote.status}",
            exchange_order_id=remote.order_id,
            filled_quantity=filled,
        )
        report.changed.append(order.client_id)

    # --- helpers --------------------------------------------------------------------------

    def _transition(
        self,
        client_id: str,
        state: OrderState,
        detail: str,
        *,
        exchange_order_id: int | None = None,
        filled_quantity: Decimal | None = None,
        last_error: str | None = None,
    ) -> None:
        kwargs: dict[str, object] = {}
        if exchange_order_id is not None:
            kwargs["exchange_order_id"] = exchange_order_id
        if filled_quantity is not None:
            kwargs["filled_quantity"] = filled_quantity
        if last_error is not None:
            kwargs["last_error"] = last_error[:500]
        with self._store.atomic():
            self._store.orders.update_state(
                client_id, state, ts_ms=self._clock_ms(), detail=detail[:500], **kwargs
            )
