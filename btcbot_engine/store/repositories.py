"""Repositories for fills, ledger, decisions, cycles, metrics, runtime state, cursors and meta.

Each takes the Store and speaks domain objects only (orders live in repo_orders.py). JSON columns
are written with sorted keys and Decimals as plain decimal strings, so they read back as strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from peewee import chunked

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.records import (
    CycleRecord,
    Decision,
    DecisionStage,
    LedgerEvent,
    LedgerKind,
    MetricPoint,
)
from btcbot_engine.store.db import RecordNotFound, StoreError, account_mismatch, translated
from btcbot_engine.store.models import (
    CursorRow,
    CycleRow,
    DecisionRow,
    FillRow,
    LedgerEventRow,
    MetaRow,
    MetricRow,
    RuntimeStateRow,
)

if TYPE_CHECKING:
    from btcbot_engine.store.db import Store

# Rows per multi-row INSERT: well under SQLite's bound-variable limit for our widest table.
_CHUNK = 200


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


# One encoder for every call: json.dumps with options builds a new encoder each time, which
# costs more than encoding the small documents these columns hold.
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=False
).encode


def dumps(value: Mapping[str, Any]) -> str:
    """Canonical JSON for detail/summary/labels columns."""
    return _canonical(value)


def loads(text: str) -> dict[str, Any]:
    """Read a JSON column back; refuse anything that is not an object."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise StoreError(f"expected a JSON object, found {type(value).__name__}")
    return value


# -- fills ---------------------------------------------------------------------------------------


def _fill_from_row(row: FillRow) -> Fill:
    return Fill(
        trade_id=row.trade_id,
        order_id=row.order_id,
        client_id=row.client_id,
        symbol=row.symbol,
        base=row.base,
        quote=row.quote,
        side=Side(row.side),
        price=row.price,
        quantity=row.quantity,
        fee=row.fee,
        tax=row.tax,
        fee_asset=row.fee_asset,
        timestamp_ms=row.timestamp_ms,
    )


class FillRepository:
    """Our fills, deduplicated by the exchange's trade id."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def insert_if_new(self, fill: Fill) -> bool:
        """Store a fill; False (and no change) if its trade id is already stored.

        ON CONFLICT (trade_id) DO NOTHING, not INSERT OR IGNORE: the latter would also swallow
        NOT NULL violations and report a broken fill as "already had it".
        """
        inserted = (
            FillRow.insert(
                trade_id=fill.trade_id,
                order_id=fill.order_id,
                client_id=fill.client_id,
                symbol=fill.symbol,
                base=fill.base,
                quote=fill.quote,
                side=fill.side.value,
                price=fill.price,
                quantity=fill.quantity,
                fee=fill.fee,
                tax=fill.tax,
                fee_asset=fill.fee_asset,
                timestamp_ms=fill.timestamp_ms,
            )
            .on_conflict(conflict_target=[FillRow.trade_id], action="NOTHING")
            .as_rowcount()
            .execute()
        )
        return inserted == 1

    @translated
    def get(self, trade_id: int) -> Fill | None:
        """The fill with this trade id, or None."""
        row = FillRow.get_or_none(FillRow.trade_id == trade_id)
        return _fill_from_row(row) if row is not None else None

    @translated
    def list_by_symbol(self, symbol: str, since_ms: int | None = None) -> list[Fill]:
        """Fills of one pair (at or after `since_ms` if given), oldest first."""
        query = FillRow.select().where(FillRow.symbol == symbol)
        if since_ms is not None:
            query = query.where(FillRow.timestamp_ms >= since_ms)
        return [
            _fill_from_row(row) for row in query.order_by(FillRow.timestamp_ms, FillRow.trade_id)
        ]

    @translated
    def for_order(self, order_id: int) -> list[Fill]:
        """Fills of one exchange order, oldest first."""
        query = FillRow.select().where(FillRow.order_id == order_id)
        return [
            _fill_from_row(row) for row in query.order_by(FillRow.timestamp_ms, FillRow.trade_id)
        ]

    @translated
    def recent(self, limit: int) -> list[Fill]:
        """The newest `limit` fills, newest first (what a screen shows; bounded however many)."""
        query = (
            FillRow.select()
            .order_by(FillRow.timestamp_ms.desc(), FillRow.trade_id.desc())
            .limit(limit)
        )
        return [_fill_from_row(row) for row in query]

    @translated
    def all(self) -> list[Fill]:
        """Every fill, oldest first."""
        query = FillRow.select().order_by(FillRow.timestamp_ms, FillRow.trade_id)
        return [_fill_from_row(row) for row in query]


# -- ledger --------------------------------------------------------------------------------------


def _ledger_from_row(row: LedgerEventRow) -> LedgerEvent:
    return LedgerEvent(
        ts_ms=row.ts_ms,
        kind=LedgerKind(row.kind),
        asset=row.asset,
        quantity=row.quantity,
        amount_quote=row.amount_quote,
        symbol=row.symbol,
        price=row.price,
        ref=row.ref,
        detail=row.detail,
        seq=row.seq,
    )


class LedgerRepository:
    """The append-only ledger; `seq` (AUTOINCREMENT, never reused) gives the order."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def append(self, event: LedgerEvent) -> LedgerEvent:
        """Append one entry; returns it with its `seq` set."""
        seq = LedgerEventRow.insert(
            ts_ms=event.ts_ms,
            kind=event.kind.value,
            symbol=event.symbol,
            asset=event.asset,
            quantity=event.quantity,
            amount_quote=event.amount_quote,
            price=event.price,
            ref=event.ref,
            detail=event.detail,
        ).execute()
        return _ledger_from_row(LedgerEventRow.get_by_id(seq))

    @translated
    def append_many(self, events: Iterable[LedgerEvent]) -> list[LedgerEvent]:
        """Append several entries in one transaction, in order."""
        with self._store.db.atomic():
            return [self.append(event) for event in events]

    @translated
    def all(self) -> list[LedgerEvent]:
        """Every entry in seq order."""
        return [
            _ledger_from_row(row) for row in LedgerEventRow.select().order_by(LedgerEventRow.seq)
        ]

    @translated
    def since(self, seq: int) -> list[LedgerEvent]:
        """Entries with seq greater than `seq`, in seq order."""
        query = LedgerEventRow.select().where(LedgerEventRow.seq > seq)
        return [_ledger_from_row(row) for row in query.order_by(LedgerEventRow.seq)]

    @translated
    def by_ref(self, ref: str) -> list[LedgerEvent]:
        """Entries referring to `ref` (e.g. a trade id), in seq order."""
        query = LedgerEventRow.select().where(LedgerEventRow.ref == ref)
        return [_ledger_from_row(row) for row in query.order_by(LedgerEventRow.seq)]


# -- decisions -----------------------------------------------------------------------------------


def _decision_from_row(row: DecisionRow) -> Decision:
    return Decision(
        run_id=row.run_id,
        cycle_id=row.cycle_id,
        ts_ms=row.ts_ms,
        stage=DecisionStage(row.stage),
        action=row.action,
        reason_code=row.reason_code,
        symbol=row.symbol,
        detail=loads(row.detail),
        id=row.id,
    )


class DecisionRepository:
    """Decisions with reason codes, written in bulk once per cycle."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def insert_many(self, decisions: Iterable[Decision]) -> int:
        """Insert decisions in one transaction; returns how many were written."""
        rows = [
            {
                "run_id": d.run_id,
                "cycle_id": d.cycle_id,
                "ts_ms": d.ts_ms,
                "symbol": d.symbol,
                "stage": d.stage.value,
                "action": d.action,
                "reason_code": d.reason_code,
                "detail": dumps(d.detail),
            }
            for d in decisions
        ]
        with self._store.db.atomic():
            for batch in chunked(rows, _CHUNK):
                DecisionRow.insert_many(batch).execute()
        return len(rows)

    @translated
    def recent(
        self, limit: int = 100, *, cycle_id: str | None = None, symbol: str | None = None
    ) -> list[Decision]:
        """The latest decisions (optionally of one cycle or pair), newest first."""
        query = DecisionRow.select()
        if cycle_id is not None:
            query = query.where(DecisionRow.cycle_id == cycle_id)
        if symbol is not None:
            query = query.where(DecisionRow.symbol == symbol)
        return [
            _decision_from_row(row) for row in query.order_by(DecisionRow.id.desc()).limit(limit)
        ]


# -- cycles --------------------------------------------------------------------------------------


def _cycle_from_row(row: CycleRow) -> CycleRecord:
    return CycleRecord(
        cycle_id=row.cycle_id,
        run_id=row.run_id,
        started_ms=row.started_ms,
        mode=row.mode,
        finished_ms=row.finished_ms,
        outcome=row.outcome,
        summary=loads(row.summary),
    )


class CycleRepository:
    """Engine cycles: started, then finished with an outcome and a JSON summary."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def start(self, cycle: CycleRecord) -> None:
        """Record a cycle's start (IntegrityViolation if the cycle id already exists)."""
        CycleRow.insert(
            cycle_id=cycle.cycle_id,
            run_id=cycle.run_id,
            started_ms=cycle.started_ms,
            finished_ms=cycle.finished_ms,
            mode=cycle.mode,
            outcome=cycle.outcome,
            summary=dumps(cycle.summary),
        ).execute()

    @translated
    def finish(
        self,
        cycle_id: str,
        *,
        finished_ms: int,
        outcome: str,
        summary: Mapping[str, Any] | None = None,
    ) -> CycleRecord:
        """Record a cycle's end; returns the updated record (RecordNotFound if never started)."""
        changes: dict[Any, Any] = {CycleRow.finished_ms: finished_ms, CycleRow.outcome: outcome}
        if summary is not None:
            changes[CycleRow.summary] = dumps(summary)
        with self._store.db.atomic():
            count = CycleRow.update(changes).where(CycleRow.cycle_id == cycle_id).execute()
            if count != 1:
                raise RecordNotFound(f"cycle {cycle_id!r} was never started")
            return _cycle_from_row(CycleRow.get(CycleRow.cycle_id == cycle_id))

    @translated
    def get(self, cycle_id: str) -> CycleRecord | None:
        """The cycle with this id, or None."""
        row = CycleRow.get_or_none(CycleRow.cycle_id == cycle_id)
        return _cycle_from_row(row) if row is not None else None

    @translated
    def recent(self, limit: int = 20) -> list[CycleRecord]:
        """The latest cycles, newest first."""
        query = CycleRow.select().order_by(CycleRow.started_ms.desc(), CycleRow.cycle_id.desc())
        return [_cycle_from_row(row) for row in query.limit(limit)]


# -- metrics -------------------------------------------------------------------------------------


def _metric_from_row(row: MetricRow) -> MetricPoint:
    return MetricPoint(
        ts_ms=row.ts_ms, name=row.name, value=row.value, labels=loads(row.labels), id=row.id
    )


class MetricRepository:
    """Named metric samples with Decimal values and JSON labels."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def wants(self, name: str, value: Decimal, labels: Mapping[str, str]) -> bool:
        """Whether `record_many` would store this sample: always, here (a sample builder may
        skip building what a store would drop)."""
        return True

    @translated
    def record(self, point: MetricPoint) -> None:
        """Store one sample."""
        self.record_many([point])

    @translated
    def record_many(self, points: Iterable[MetricPoint]) -> int:
        """Store several samples in one transaction; returns how many were written."""
        rows = [
            {"ts_ms": p.ts_ms, "name": p.name, "value": p.value, "labels": dumps(p.labels)}
            for p in points
        ]
        with self._store.db.atomic():
            for batch in chunked(rows, _CHUNK):
                MetricRow.insert_many(batch).execute()
        return len(rows)

    @translated
    def recent(self, name: str, limit: int = 100) -> list[MetricPoint]:
        """The latest samples of one metric, newest first."""
        query = (
            MetricRow.select()
            .where(MetricRow.name == name)
            .order_by(MetricRow.ts_ms.desc(), MetricRow.id.desc())
            .limit(limit)
        )
        return [_metric_from_row(row) for row in query]


# -- runtime state -------------------------------------------------------------------------------

KILL_SWITCH = "kill_switch"
SAFE_MODE = "safe_mode"
_TRUE, _FALSE = "true", "false"


class RuntimeStateRepository:
    """Flags that must survive a restart. Booleans are stored as "true"/"false"."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def get(self, key: str) -> str | None:
        """The stored text for `key`, or None if never set."""
        row = RuntimeStateRow.get_or_none(RuntimeStateRow.key == key)
        return row.value if row is not None else None

    @translated
    def set(self, key: str, value: str) -> None:
        """Store `value` under `key` (upsert), stamping updated_ms from the store clock."""
        if not isinstance(value, str):
            raise TypeError(f"runtime_state {key!r}: value must be str, got {type(value).__name__}")
        now = self._store.clock_ms()
        RuntimeStateRow.insert(key=key, value=value, updated_ms=now).on_conflict(
            conflict_target=[RuntimeStateRow.key],
            update={RuntimeStateRow.value: value, RuntimeStateRow.updated_ms: now},
        ).execute()

    @translated
    def get_bool(self, key: str, default: bool = False) -> bool:
        """A stored boolean; `default` if never set. Unreadable text raises StoreError.

        Raising (rather than guessing) matters: these keys hold the kill switch.
        """
        text = self.get(key)
        if text is None:
            return default
        if text == _TRUE:
            return True
        if text == _FALSE:
            return False
        raise StoreError(f"runtime_state {key!r} holds {text[:40]!r}, not a boolean")

    @translated
    def set_bool(self, key: str, value: bool) -> None:
        """Store a boolean."""
        if not isinstance(value, bool):
            raise TypeError(f"runtime_state {key!r}: expected bool, got {type(value).__name__}")
        self.set(key, _TRUE if value else _FALSE)

    def kill_switch(self) -> bool:
        """True if the kill switch was engaged and not cleared."""
        return self.get_bool(KILL_SWITCH)

    def set_kill_switch(self, engaged: bool) -> None:
        """Persist the kill switch."""
        self.set_bool(KILL_SWITCH, engaged)

    def safe_mode(self) -> bool:
        """True if safe mode (observe only) is persisted on."""
        return self.get_bool(SAFE_MODE)

    def set_safe_mode(self, enabled: bool) -> None:
        """Persist safe mode."""
        self.set_bool(SAFE_MODE, enabled)

    @translated
    def all(self) -> dict[str, str]:
        """Every key and value (for status screens and doctor)."""
        return {
            row.key: row.value for row in RuntimeStateRow.select().order_by(RuntimeStateRow.key)
        }


# -- cursors -------------------------------------------------------------------------------------


class CursorRepository:
    """Named resume points, e.g. `fills:BTCTRY` -> last seen trade id or timestamp."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def get(self, name: str) -> str | None:
        """The cursor's value, or None if never set."""
        row = CursorRow.get_or_none(CursorRow.name == name)
        return row.value if row is not None else None

    @translated
    def set(self, name: str, value: str) -> None:
        """Store the cursor (upsert), stamping updated_ms from the store clock."""
        if not isinstance(value, str):
            raise TypeError(f"cursor {name!r}: value must be str, got {type(value).__name__}")
        now = self._store.clock_ms()
        CursorRow.insert(name=name, value=value, updated_ms=now).on_conflict(
            conflict_target=[CursorRow.name],
            update={CursorRow.value: value, CursorRow.updated_ms: now},
        ).execute()

    @translated
    def all(self) -> dict[str, str]:
        """Every cursor by name."""
        return {row.name: row.value for row in CursorRow.select().order_by(CursorRow.name)}


# -- meta ----------------------------------------------------------------------------------------

ACCOUNT_KEY = "account_key"
_RESERVED = frozenset({"schema_version"})


class MetaRepository:
    """Database-level facts: schema_version (read-only here), account_key, created_ms."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @translated
    def get(self, key: str) -> str | None:
        """The value for `key`, or None."""
        row = MetaRow.get_or_none(MetaRow.key == key)
        return row.value if row is not None else None

    @translated
    def set(self, key: str, value: str) -> None:
        """Upsert `key`; schema_version is owned by the migrations and refused here."""
        if key in _RESERVED:
            raise StoreError(f"meta {key!r} is managed by the migrations")
        if not isinstance(value, str):
            raise TypeError(f"meta {key!r}: value must be str, got {type(value).__name__}")
        MetaRow.insert(key=key, value=value).on_conflict(
            conflict_target=[MetaRow.key], update={MetaRow.value: value}
        ).execute()

    def account_key(self) -> str | None:
        """The account key this database is bound to, or None if not yet bound."""
        return self.get(ACCOUNT_KEY)

    @translated
    def bind_account(self, account_key: str) -> None:
        """Bind the database to `account_key` on first use; AccountMismatch if bound elsewhere.

        One database per account: mixing two accounts' orders and fills would corrupt the
        ledger and make reconciliation cancel the wrong orders.
        """
        if not account_key:
            raise ValueError("account_key must be a non-empty string")
        with self._store.db.atomic():
            bound = self.get(ACCOUNT_KEY)
            if bound is None:
                self.set(ACCOUNT_KEY, account_key)
            elif bound != account_key:
                raise account_mismatch(self._store.path, bound, account_key)

    @translated
    def all(self) -> dict[str, str]:
        """Every meta key and value."""
        return {row.key: row.value for row in MetaRow.select().order_by(MetaRow.key)}
