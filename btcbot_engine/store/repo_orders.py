"""Orders repository: the OMS's persisted orders and their state history."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from peewee import fn

from btcbot_engine.domain.orders import OrderMethod, OrderState, Side
from btcbot_engine.domain.records import OrderEvent, OrderRecord
from btcbot_engine.store.db import RecordNotFound, StaleState, translated
from btcbot_engine.store.models import OrderEventRow, OrderRow

if TYPE_CHECKING:
    from btcbot_engine.store.db import Store


class Keep(Enum):
    """Marker for "leave this column as it is" (None is a real value for nullable columns)."""

    KEEP = "keep"


KEEP = Keep.KEEP

_TERMINAL = tuple(state.value for state in OrderState if state.is_terminal)


def _to_record(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        client_id=row.client_id,
        symbol=row.symbol,
        side=Side(row.side),
        method=OrderMethod(row.method),
        price=row.price,
        quantity=row.quantity,
        filled_quantity=row.filled_quantity,
        state=OrderState(row.state),
        idempotency_key=row.idempotency_key,
        payload_hash=row.payload_hash,
        run_id=row.run_id,
        cycle_id=row.cycle_id,
        intent=row.intent,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        exchange_order_id=row.exchange_order_id,
        reason=row.reason,
        last_error=row.last_error,
    )


def _to_event(row: OrderEventRow) -> OrderEvent:
    return OrderEvent(
        client_id=row.client_id,
        from_state=OrderState(row.from_state) if row.from_state is not None else None,
        to_state=OrderState(row.to_state),
        ts_ms=row.ts_ms,
        detail=row.detail,
        id=row.id,
    )


class OrderRepository:
    """Orders keyed by client id; every state change also writes an order_events row.

    An order is inserted (state NEW, or SUBMITTING) before any HTTP call is made for it, so a
    crash or a lost reply always leaves a row to reconcile by client id.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def insert(self, order: OrderRecord, *, detail: str = "created") -> None:
        """Insert a new order and its creation event (from_state NULL) in one transaction.

        Raises IntegrityViolation for a duplicate client id or idempotency key.
        """
        with self._store.db.atomic():
            OrderRow.insert(
                client_id=order.client_id,
                exchange_order_id=order.exchange_order_id,
                symbol=order.symbol,
                side=order.side.value,
                method=order.method.value,
                price=order.price,
                quantity=order.quantity,
                filled_quantity=order.filled_quantity,
                state=order.state.value,
                idempotency_key=order.idempotency_key,
                payload_hash=order.payload_hash,
                run_id=order.run_id,
                cycle_id=order.cycle_id,
                intent=order.intent,
                reason=order.reason,
                created_ms=order.created_ms,
                updated_ms=order.updated_ms,
                last_error=order.last_error,
            ).execute()
            OrderEventRow.insert(
                client_id=order.client_id,
                from_state=None,
                to_state=order.state.value,
                ts_ms=order.created_ms,
                detail=detail,
            ).execute()

    @translated
    def update_state(
        self,
        client_id: str,
        to_state: OrderState,
        *,
        ts_ms: int | None = None,
        detail: str = "",
        expected_state: OrderState | None = None,
        exchange_order_id: int | Keep | None = KEEP,
        filled_quantity: Decimal | Keep = KEEP,
        reason: str | Keep | None = KEEP,
        last_error: str | Keep | None = KEEP,
    ) -> OrderRecord:
        """Move an order to `to_state`, update the given columns and add one event row, atomically.

        `expected_state` makes it a compare-and-set: StaleState if the stored state differs.
        Transition legality is the OMS's business; the store records what it is told.
        Raises RecordNotFound for an unknown client id. Returns the updated record.
        """
        now = self._store.clock_ms() if ts_ms is None else ts_ms
        with self._store.db.atomic():
            row = OrderRow.get_or_none(OrderRow.client_id == client_id)
            if row is None:
                raise RecordNotFound(f"order {client_id!r} is not in the store")
            from_state = OrderState(row.state)
            if expected_state is not None and from_state is not expected_state:
                raise StaleState(
                    f"order {client_id!r} is {from_state.value}, expected {expected_state.value}"
                )
            changes: dict[Any, Any] = {OrderRow.state: to_state.value, OrderRow.updated_ms: now}
            if exchange_order_id is not KEEP:
                changes[OrderRow.exchange_order_id] = exchange_order_id
            if filled_quantity is not KEEP:
                changes[OrderRow.filled_quantity] = filled_quantity
            if reason is not KEEP:
                changes[OrderRow.reason] = reason
            if last_error is not KEEP:
                changes[OrderRow.last_error] = last_error
            OrderRow.update(changes).where(OrderRow.client_id == client_id).execute()
            OrderEventRow.insert(
                client_id=client_id,
                from_state=from_state.value,
                to_state=to_state.value,
                ts_ms=now,
                detail=detail,
            ).execute()
            updated = OrderRow.get(OrderRow.client_id == client_id)
        return _to_record(updated)

    @translated
    def get(self, client_id: str) -> OrderRecord | None:
        """The order with this client id, or None."""
        row = OrderRow.get_or_none(OrderRow.client_id == client_id)
        return _to_record(row) if row is not None else None

    @translated
    def by_exchange_id(self, exchange_order_id: int) -> OrderRecord | None:
        """The order the exchange knows by this id, or None.

        Exchange ids are not unique across exchanges (a paper run may reuse them), so the most
        recently created match wins.
        """
        row = (
            OrderRow.select()
            .where(OrderRow.exchange_order_id == exchange_order_id)
            .order_by(OrderRow.created_ms.desc(), OrderRow.client_id.desc())
            .first()
        )
        return _to_record(row) if row is not None else None

    @translated
    def by_idempotency_key(self, key: str) -> OrderRecord | None:
        """The order created for this intent, or None."""
        row = OrderRow.get_or_none(OrderRow.idempotency_key == key)
        return _to_record(row) if row is not None else None

    @translated
    def list_open(self, symbol: str | None = None) -> list[OrderRecord]:
        """Orders not in a terminal state (includes NEW, SUBMITTING, CANCELING and UNKNOWN)."""
        query = OrderRow.select().where(OrderRow.state.not_in(_TERMINAL))
        return self._listed(query, symbol)

    @translated
    def list_unknown(self, symbol: str | None = None) -> list[OrderRecord]:
        """Orders whose submit or cancel outcome we have not seen yet."""
        query = OrderRow.select().where(OrderRow.state == OrderState.UNKNOWN.value)
        return self._listed(query, symbol)

    @translated
    def list_all(self, symbol: str | None = None) -> list[OrderRecord]:
        """Every order, oldest first."""
        return self._listed(OrderRow.select(), symbol)

    @translated
    def last_created_by_symbol(self, *, excluding: OrderState | None = None) -> dict[str, int]:
        """The newest `created_ms` per pair (for cooldowns), in one query however many orders."""
        query = OrderRow.select(OrderRow.symbol, fn.MAX(OrderRow.created_ms).alias("last"))
        if excluding is not None:
            query = query.where(OrderRow.state != excluding.value)
        return {row.symbol: int(row.last) for row in query.group_by(OrderRow.symbol)}

    @translated
    def events(self, client_id: str) -> list[OrderEvent]:
        """The state history of one order, oldest first."""
        rows: Iterable[OrderEventRow] = (
            OrderEventRow.select()
            .where(OrderEventRow.client_id == client_id)
            .order_by(OrderEventRow.id)
        )
        return [_to_event(row) for row in rows]

    @staticmethod
    def _listed(query: Any, symbol: str | None) -> list[OrderRecord]:
        if symbol is not None:
            query = query.where(OrderRow.symbol == symbol)
        return [_to_record(row) for row in query.order_by(OrderRow.created_ms, OrderRow.client_id)]
