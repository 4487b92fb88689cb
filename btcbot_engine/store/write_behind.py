"""A write-behind Store for backtests: the same repositories, writes batched per N cycles.

A backtest drives the real cycle, OMS and fill sync against a simulated exchange, thousands of
cycles per second. Committing each order transition and each cycle to SQLite (the right thing
live, where the disk must know about an order before the exchange does) would dominate the run.
`WriteBehindStore` keeps what the engine reads (orders, cursors, runtime flags, seen trade ids)
in memory, queues every row the live store would write, and `flush()` writes the queue into the
database in ONE transaction, with the same tables, columns and value encodings as the live
repositories. So the output database has the live schema and `report`, `export` and the TUI
read it unchanged.

Consistency: the runner flushes only between cycles, so the file on disk always ends at a cycle
boundary; an interrupted backtest that flushes before exiting leaves every completed cycle.
Not for live trading: there is no write-ahead here, and a crash loses the unflushed tail.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from decimal import Decimal
from json.encoder import encode_basestring as _json_string
from pathlib import Path
from typing import Any

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import OrderState
from btcbot_engine.domain.records import (
    CycleRecord,
    Decision,
    LedgerEvent,
    MetricPoint,
    OrderEvent,
    OrderRecord,
)
from btcbot_engine.metrics import COUNT_METRICS, LATENCY_METRICS
from btcbot_engine.store import batch_writer
from btcbot_engine.store.db import (
    BUSY_TIMEOUT_MS,
    IntegrityViolation,
    RecordNotFound,
    StaleState,
    Store,
    StoreError,
    translate_errors,
)
from btcbot_engine.store.repo_orders import KEEP, Keep
from btcbot_engine.store.repositories import (
    ACCOUNT_KEY,
    KILL_SWITCH,
    SAFE_MODE,
    CursorRepository,
    CycleRepository,
    DecisionRepository,
    FillRepository,
    MetricRepository,
    RuntimeStateRepository,
    dumps,
)


def _money(value: Decimal | int | None) -> str | None:
    # The live DecimalTextField encoding: plain decimal text, never an exponent, never a float.
    if type(value) is Decimal and value.is_finite():
        return format(value, "f")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"refusing {type(value).__name__} {value!r}; store money as Decimal")
    decimal = Decimal(value)
    if not decimal.is_finite():
        raise TypeError(f"refusing non-finite {value!r}")
    return format(decimal, "f")


def _bulk_insert(table: str, columns: str, conflict: str = "") -> str:
    """One INSERT of a whole JSON array of rows (`?` binds the array's text).

    Why not executemany: it binds each row with the GIL held and releases the GIL around each
    row's step, so a writer thread handing rows over one by one waits for the engine thread
    at every row and progresses mostly while the engine waits for it. One statement over
    `json_each` runs the whole table's batch inside SQLite with the GIL released. The values
    are the same: JSON strings become TEXT, integers INTEGER, null NULL, as bound parameters
    would (a test compares the rows with those the live repositories write).
    """
    names = [c.strip() for c in columns.split(",")]
    picks = ", ".join(f"value ->> {i}" for i in range(len(names)))
    # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    where = " WHERE true" if conflict else ""
    return (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {picks} FROM json_each(?){where}"
        f"{conflict}"
    )


_SQL_ORDERS = _bulk_insert(
    "orders",
    "client_id, exchange_order_id, symbol, side, method, price, quantity, filled_quantity,"
    " state, idempotency_key, payload_hash, run_id, cycle_id, intent, reason, created_ms,"
    " updated_ms, last_error",
    " ON CONFLICT (client_id) DO UPDATE SET exchange_order_id = excluded.exchange_order_id,"
    " filled_quantity = excluded.filled_quantity, state = excluded.state,"
    " reason = excluded.reason, updated_ms = excluded.updated_ms, last_error = excluded.last_error",
)
_SQL_ORDER_EVENTS = _bulk_insert("order_events", "client_id, from_state, to_state, ts_ms, detail")
_SQL_FILLS = _bulk_insert(
    "fills",
    "trade_id, order_id, client_id, symbol, base, quote, side, price, quantity, fee, tax,"
    " fee_asset, timestamp_ms",
)
_SQL_LEDGER = _bulk_insert(
    "ledger_events", "seq, ts_ms, kind, symbol, asset, quantity, amount_quote, price, ref, detail"
)
_SQL_CYCLES = _bulk_insert(
    "cycles",
    "cycle_id, run_id, started_ms, finished_ms, mode, outcome, summary",
    " ON CONFLICT (cycle_id) DO UPDATE SET finished_ms = excluded.finished_ms,"
    " outcome = excluded.outcome, summary = excluded.summary",
)
_SQL_DECISIONS = _bulk_insert(
    "decisions", "run_id, cycle_id, ts_ms, symbol, stage, action, reason_code, detail"
)
_SQL_METRICS = _bulk_insert("metrics", "ts_ms, name, value, labels")
_SQL_CURSORS = _bulk_insert(
    "cursors",
    "name, value, updated_ms",
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
)
_SQL_RUNTIME = _bulk_insert(
    "runtime_state",
    "key, value, updated_ms",
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms",
)

# A batch: (SQL, the rows as one JSON array text) per table, in foreign-key order.
Batch = list[tuple[str, str]]


# Rows are written as JSON text directly (faster than building tuples for json.dumps): each
# value goes through one of these three, so every string is JSON-escaped by the json module.
def _s(value: str | None) -> str:
    """A text column: a JSON string literal, or null."""
    return "null" if value is None else _json_string(value)


def _m(value: Decimal | int | None) -> str:
    """A money column: its DecimalTextField text (digits, sign, point: nothing to escape)."""
    if type(value) is Decimal and value.is_finite():
        return f'"{value:f}"'  # _money's text, without the second call
    text = _money(value)
    return "null" if text is None else f'"{text}"'


def _i(value: int | None) -> str:
    """An optional integer column (`:d` refuses anything that is not an integer)."""
    return "null" if value is None else f"{value:d}"


class _ThreadWriter:
    """One thread with its own connection that writes batches, one transaction each.

    SQLite does its work with the GIL released, so on a machine with a second core the
    engine keeps stepping while a batch is written. One batch in flight at most; an error is
    raised in the caller at the next `submit` or at `close`.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._jobs: queue.Queue[Batch | None] = queue.Queue(1)
        self._done = threading.Event()
        self._done.set()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="btcbot-backtest-writer", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        conn = batch_writer.connect(str(self._path), BUSY_TIMEOUT_MS)
        try:
            while True:
                batch = self._jobs.get()
                if batch is None:
                    return
                try:
                    batch_writer.write_batch(conn, batch)
                except BaseException as exc:  # reported to the engine thread, not lost
                    self._error = exc
                finally:
                    self._done.set()
        finally:
            conn.close()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise StoreError(f"write-behind writer: {type(error).__name__}: {error}") from error

    def submit(self, take: Callable[[], Batch], forget: Callable[[], list[Any]]) -> None:
        """Build the batch here (`take` empties the queues) and hand it to the thread."""
        self._done.wait()
        self._raise()
        batch = take()
        self._done.clear()
        self._jobs.put(batch)

    def close(self) -> None:
        self._done.wait()
        self._jobs.put(None)
        self._thread.join()
        self._raise()


def fork_writer_usable() -> bool:
    """Forked row builders need fork() and a single-threaded process (a fork copies only the
    calling thread; with others alive, a lock one of them held would stay held in the child).
    Linux only: fork without exec is not safe with macOS system libraries."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


class _ForkWriter:
    """Rows built by a forked child, written by a separate writer process.

    What a flush costs the engine with a thread writer is building the rows (Python, so under
    the GIL: no second core helps). Here the engine forks: the child holds a copy-on-write
    snapshot of the queues, builds the rows, streams them to the writer process
    (store/batch_writer.py, started fresh, so no SQLite state crosses a fork) and exits; the
    engine only empties its queues and goes on. One child at a time, so batches stay in
    order; the writer commits each batch whole. SIGINT is blocked across the fork, ignored in
    the child and never sent to the writer (its own session), so Ctrl-C stops the engine
    without cutting a batch. Errors (a child's or the writer's) are raised in the engine at
    the next flush or at `close()`.
    """

    def __init__(self, path: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p
        )
        # A file, not a pipe: nobody reads the writer's stderr until it has stopped.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        module = "btcbot_engine.store.batch_writer"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", module, str(path), str(BUSY_TIMEOUT_MS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=env,
            start_new_session=True,
        )
        assert self._proc.stdin is not None
        self._pipe = self._proc.stdin
        self._child: tuple[int, int] | None = None  # (pid, read end of its error pipe)
        self._held: list[Any] = []  # the records the running child is writing

    def submit(self, take: Callable[[], Batch], forget: Callable[[], list[Any]]) -> None:
        """Fork a child that builds the batch (`take`) and streams it; empty the queues here."""
        self._wait_child()
        if not fork_writer_usable():  # a thread appeared: build it here instead
            self._send(take())
            return
        self._pipe.flush()
        read_end, write_end = os.pipe()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = os.fork()
        except OSError:  # no memory or process slot for a child: build the batch here
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(read_end)
            os.close(write_end)
            self._send(take())
            return
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.close(read_end)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                _write_all(self._pipe.fileno(), _encode_batch(take()))
                code = 0
            except BaseException as exc:  # reported to the engine through the error pipe
                with suppress(BaseException):
                    _write_all(write_end, f"{type(exc).__name__}: {exc}"[:500].encode())
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(write_end)
        self._child = (pid, read_end)
        # The queued records are freed only once the child is gone: freeing them now would
        # write to pages the child still shares, and each such page is copied (copy-on-write).
        self._held = forget()

    def _send(self, batch: Batch) -> None:
        try:
            self._pipe.write(_encode_batch(batch))
            self._pipe.flush()
        except BrokenPipeError:
            raise StoreError(f"write-behind writer: {self._writer_error()}") from None

    def _wait_child(self) -> None:
        if self._child is None:
            return
        (pid, read_end), self._child = self._child, None
        _, status = os.waitpid(pid, 0)
        self._held = []
        with os.fdopen(read_end, "rb") as errors:
            message = errors.read().decode(errors="replace")
        if status != 0:
            if "BrokenPipeError" in message:
                message = self._writer_error()
            raise StoreError(f"write-behind row builder: {message or f'exit status {status}'}")

    def _writer_error(self) -> str:
        code = self._proc.wait()
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return text.splitlines()[-1] if text else f"writer process exited with {code}"

    def close(self) -> None:
        """Wait for the last child, end the stream and wait for the writer to commit."""
        try:
            self._wait_child()
            try:
                self._pipe.write(b"E\n")
                self._pipe.close()
            except BrokenPipeError:
                pass  # the writer already stopped: its exit code says why
            if self._proc.wait() != 0:
                raise StoreError(f"write-behind writer: {self._writer_error()}")
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            self._stderr.close()


def _encode_batch(batch: Batch) -> bytes:
    """A batch in store/batch_writer.py's protocol."""
    parts = [b"B %d\n" % len(batch)]
    for sql, rows in batch:
        sql_b, rows_b = sql.encode(), rows.encode()
        parts.append(b"%d %d\n" % (len(sql_b), len(rows_b)))
        parts.append(sql_b)
        parts.append(rows_b)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class _Orders:
    """OrderRepository in memory; dirty orders and their events are flushed as rows."""

    def __init__(self, store: WriteBehindStore) -> None:
        self._store = store
        self._by_id: dict[str, OrderRecord] = {}
        self._by_key: dict[str, str] = {}
        self._open: dict[str, OrderRecord] = {}  # non-terminal, by client id
        self._by_symbol: dict[str, list[str]] = {}  # client ids in creation order
        self.dirty: dict[str, OrderRecord] = {}
        self.events: list[OrderEvent] = []

    def insert(self, order: OrderRecord, *, detail: str = "created") -> None:
        if order.client_id in self._by_id:
            raise IntegrityViolation(f"orders: duplicate client id {order.client_id}")
        if order.idempotency_key in self._by_key:
            raise IntegrityViolation(f"orders: duplicate idempotency key {order.idempotency_key}")
        self._put(order)
        self._by_key[order.idempotency_key] = order.client_id
        self._by_symbol.setdefault(order.symbol, []).append(order.client_id)
        self.events.append(OrderEvent(order.client_id, None, order.state, order.created_ms, detail))

    def _put(self, order: OrderRecord) -> None:
        self._by_id[order.client_id] = order
        if order.state.is_terminal:
            self._open.pop(order.client_id, None)
        else:
            self._open[order.client_id] = order
        self.dirty[order.client_id] = order

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
        now = self._store.clock_ms() if ts_ms is None else ts_ms
        row = self._by_id.get(client_id)
        if row is None:
            raise RecordNotFound(f"order {client_id!r} is not in the store")
        if expected_state is not None and row.state is not expected_state:
            raise StaleState(
                f"order {client_id!r} is {row.state.value}, expected {expected_state.value}"
            )
        # Positional, in OrderRecord's field order (keywords cost a third more, three times
        # per trade).
        updated = OrderRecord(
            row.client_id,
            row.symbol,
            row.side,
            row.method,
            row.price,
            row.quantity,
            row.filled_quantity if filled_quantity is KEEP else filled_quantity,
            to_state,
            row.idempotency_key,
            row.payload_hash,
            row.run_id,
            row.cycle_id,
            row.intent,
            row.created_ms,
            now,
            row.exchange_order_id if exchange_order_id is KEEP else exchange_order_id,
            row.reason if reason is KEEP else reason,
            row.last_error if last_error is KEEP else last_error,
        )
        self._put(updated)
        self.events.append(OrderEvent(client_id, row.state, to_state, now, detail))
        return updated

    def get(self, client_id: str) -> OrderRecord | None:
        return self._by_id.get(client_id)

    def by_exchange_id(self, exchange_order_id: int) -> OrderRecord | None:
        found = [o for o in self._by_id.values() if o.exchange_order_id == exchange_order_id]
        return max(found, key=lambda o: (o.created_ms, o.client_id)) if found else None

    def by_idempotency_key(self, key: str) -> OrderRecord | None:
        cid = self._by_key.get(key)
        return None if cid is None else self._by_id[cid]

    def list_open(self, symbol: str | None = None) -> list[OrderRecord]:
        return _listed(self._open.values(), symbol)

    def list_unknown(self, symbol: str | None = None) -> list[OrderRecord]:
        return _listed((o for o in self._open.values() if o.state is OrderState.UNKNOWN), symbol)

    def list_all(self, symbol: str | None = None) -> list[OrderRecord]:
        return _listed(self._by_id.values(), symbol)

    def last_created_by_symbol(self, *, excluding: OrderState | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for symbol, ids in self._by_symbol.items():
            # The simulated clock only moves forward, so the newest match is the maximum;
            # usually the very last order, so this is O(1) per symbol.
            for cid in reversed(ids):
                order = self._by_id[cid]
                if excluding is None or order.state is not excluding:
                    out[symbol] = max(out.get(symbol, order.created_ms), order.created_ms)
                    break
        return out

    def events_of(self, client_id: str) -> list[OrderEvent]:
        return [e for e in self.events if e.client_id == client_id]


def _listed(orders: Iterable[OrderRecord], symbol: str | None) -> list[OrderRecord]:
    chosen = [o for o in orders if symbol is None or o.symbol == symbol]
    if len(chosen) > 1:
        chosen.sort(key=_created_order)
    return chosen


def _created_order(order: OrderRecord) -> tuple[int, str]:
    return (order.created_ms, order.client_id)


class _Fills(FillRepository):
    """Fills deduplicated by trade id in memory; new ones queued."""

    def __init__(self, store: WriteBehindStore, known: set[int]) -> None:
        super().__init__(store)
        self._known = known
        self.pending: list[Fill] = []

    def insert_if_new(self, fill: Fill) -> bool:  # type: ignore[override]
        if fill.trade_id in self._known:
            return False
        self._known.add(fill.trade_id)
        self.pending.append(fill)
        return True

    # Reads go to the file, after writing what is queued.
    def get(self, trade_id: int) -> Fill | None:  # type: ignore[override]
        self._store.sync()
        return super().get(trade_id)

    def list_by_symbol(self, symbol: str, since_ms: int | None = None) -> list[Fill]:  # type: ignore[override]
        self._store.sync()
        return super().list_by_symbol(symbol, since_ms)

    def for_order(self, order_id: int) -> list[Fill]:  # type: ignore[override]
        self._store.sync()
        return super().for_order(order_id)

    def recent(self, limit: int) -> list[Fill]:  # type: ignore[override]
        self._store.sync()
        return super().recent(limit)

    def all(self) -> list[Fill]:  # type: ignore[override]
        self._store.sync()
        return super().all()


class _Ledger:
    """The append-only ledger: seq assigned here (continuing the file's), rows queued."""

    def __init__(self, store: WriteBehindStore, next_seq: int) -> None:
        self._store = store
        self._next = next_seq
        self.pending: list[LedgerEvent] = []

    def append(self, event: LedgerEvent) -> LedgerEvent:
        stored = LedgerEvent(
            event.ts_ms,
            event.kind,
            event.asset,
            event.quantity,
            event.amount_quote,
            event.symbol,
            event.price,
            event.ref,
            event.detail,
            self._next,
        )
        self._next += 1
        self.pending.append(stored)
        return stored

    def append_many(self, events: Iterable[LedgerEvent]) -> list[LedgerEvent]:
        return [self.append(e) for e in events]

    def all(self) -> list[LedgerEvent]:
        self._store.sync()
        return self._store.inner.ledger.all()


class _Decisions(DecisionRepository):
    def __init__(self, store: WriteBehindStore) -> None:
        super().__init__(store)
        self.pending: list[Decision] = []

    def insert_many(self, decisions: Iterable[Decision]) -> int:  # type: ignore[override]
        before = len(self.pending)
        self.pending.extend(decisions)
        return len(self.pending) - before

    def recent(self, limit: int = 100, **kw: Any) -> list[Decision]:  # type: ignore[override]
        self._store.sync()
        return self._store.inner.decisions.recent(limit, **kw)


_EVENT, _COUNT = "event", "count"
_METRIC_KIND = {name: _EVENT for name in LATENCY_METRICS} | {name: _COUNT for name in COUNT_METRICS}


class _Metrics(MetricRepository):
    """Metric samples. With `changes_only`, a sample that adds nothing is not stored: a count
    of zero (absent = none happened), or a gauge equal to the last stored value of its series
    (the series is a step function; the last sample before a time is its value then). Event
    samples (latencies) are always kept. Readers that sum counts or plot gauges see the same
    figures; only the number of rows changes."""

    def __init__(self, store: WriteBehindStore, *, changes_only: bool) -> None:
        super().__init__(store)
        self.pending: list[MetricPoint] = []
        self._labels: dict[tuple[tuple[str, str], ...], str] = {}
        self._changes_only = changes_only
        # Keyed by the name alone for unlabelled series (most of them), else (name, labels).
        self._last: dict[str | tuple[str, tuple[tuple[str, str], ...]], Decimal] = {}
        self.dropped = 0

    def wants(self, name: str, value: Decimal, labels: Mapping[str, str]) -> bool:  # type: ignore[override]
        """Whether `record_many` would store this sample now (a pure check)."""
        if not self._changes_only:
            return True
        kind = _METRIC_KIND.get(name)
        if kind is _EVENT:
            return True
        if kind is _COUNT:
            return bool(value)
        key = (name, tuple(labels.items())) if labels else name
        return self._last.get(key) != value

    def record_many(self, points: Iterable[MetricPoint]) -> int:  # type: ignore[override]
        if not self._changes_only:
            before = len(self.pending)
            self.pending.extend(points)
            return len(self.pending) - before
        kept = dropped = 0
        last, pending, wants = self._last, self.pending, self.wants
        for p in points:
            if not wants(p.name, p.value, p.labels):
                dropped += 1
                continue
            if _METRIC_KIND.get(p.name) is None:  # a gauge: remember its newest stored value
                labels = p.labels
                last[(p.name, tuple(labels.items())) if labels else p.name] = p.value
            pending.append(p)
            kept += 1
        self.dropped += dropped
        return kept

    def record_always(self, points: Iterable[MetricPoint]) -> None:
        """Store these samples even if unchanged (a series' closing value, for instance)."""
        for p in points:
            key = (p.name, tuple(p.labels.items())) if p.labels else p.name
            self._last[key] = p.value
            self.pending.append(p)

    def rows(self) -> list[str]:
        """The queued points as JSON rows (the labels' text encoded once per distinct set)."""
        cache = self._labels
        out = []
        for p in self.pending:
            labels = p.labels
            text = cache.get(tuple(labels.items())) if labels else '"{}"'
            if text is None:
                text = cache[tuple(labels.items())] = _s(dumps(labels))
            out.append(f"[{p.ts_ms:d},{_s(p.name)},{_m(p.value)},{text}]")
        return out

    def recent(self, name: str, limit: int = 100) -> list[MetricPoint]:  # type: ignore[override]
        self._store.sync()
        return self._store.inner.metrics.recent(name, limit)


class _Cycles(CycleRepository):
    def __init__(self, store: WriteBehindStore) -> None:
        super().__init__(store)
        self.pending: dict[str, CycleRecord] = {}

    def start(self, cycle: CycleRecord) -> None:  # type: ignore[override]
        if cycle.cycle_id in self.pending:
            raise IntegrityViolation(f"cycles: duplicate cycle id {cycle.cycle_id}")
        self.pending[cycle.cycle_id] = cycle

    def finish(  # type: ignore[override]
        self,
        cycle_id: str,
        *,
        finished_ms: int,
        outcome: str,
        summary: Mapping[str, Any] | None = None,
    ) -> CycleRecord:
        rec = self.pending.get(cycle_id)
        if rec is None:
            self._store.sync()
            return self._store.inner.cycles.finish(
                cycle_id, finished_ms=finished_ms, outcome=outcome, summary=summary
            )
        done = CycleRecord(
            rec.cycle_id,
            rec.run_id,
            rec.started_ms,
            rec.mode,
            finished_ms,
            outcome,
            rec.summary if summary is None else dict(summary),
        )
        self.pending[cycle_id] = done
        return done

    def recent(self, limit: int = 20) -> list[CycleRecord]:  # type: ignore[override]
        self._store.sync()
        return self._store.inner.cycles.recent(limit)


class _KeyValues:
    """Cursors or runtime flags: a dict mirror of the table, dirty keys upserted at flush."""

    def __init__(self, store: WriteBehindStore, values: dict[str, str]) -> None:
        self._store = store
        self.values = values
        self.dirty: dict[str, int] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{name!r}: value must be str, got {type(value).__name__}")
        self.values[name] = value
        self.dirty[name] = self._store.clock_ms()

    def all(self) -> dict[str, str]:
        return dict(sorted(self.values.items()))

    def rows(self) -> list[str]:
        """The dirty keys as JSON (key, value, updated_ms) rows."""
        return [f"[{_s(name)},{_s(self.values[name])},{ts:d}]" for name, ts in self.dirty.items()]


class _Cursors(_KeyValues, CursorRepository):
    pass


class _Runtime(_KeyValues, RuntimeStateRepository):
    def get_bool(self, key: str, default: bool = False) -> bool:
        text = self.get(key)
        if text is None:
            return default
        if text in ("true", "false"):
            return text == "true"
        raise StoreError(f"runtime_state {key!r} holds {text[:40]!r}, not a boolean")

    def set_bool(self, key: str, value: bool) -> None:
        self.set(key, "true" if value else "false")

    def kill_switch(self) -> bool:
        return self.get_bool(KILL_SWITCH)

    def set_kill_switch(self, engaged: bool) -> None:
        self.set_bool(KILL_SWITCH, engaged)

    def safe_mode(self) -> bool:
        return self.get_bool(SAFE_MODE)

    def set_safe_mode(self, enabled: bool) -> None:
        self.set_bool(SAFE_MODE, enabled)


_NO_TRANSACTION = nullcontext()


class WriteBehindStore(Store):
    """A Store whose writes are queued and flushed together; see the module docstring.

    Wraps an open writer `Store` (the caller holds the instance lock and closes `inner`).
    `metric_changes_only` stores metric samples only when they add something (see _Metrics).
    `background` writes flushes while the engine goes on: with `writer="auto"` through forked
    row builders and a writer process where that is safe (`fork_writer_usable`), else through
    a writer thread; `writer="thread"` or `"fork"` chooses.
    """

    def __init__(
        self,
        inner: Store,
        *,
        metric_changes_only: bool = False,
        background: bool = False,
        writer: str = "auto",
    ) -> None:
        if writer not in ("auto", "thread", "fork"):
            raise ValueError(f"writer must be auto, thread or fork, not {writer!r}")
        super().__init__(inner.db, inner.path, inner.clock_ms)
        self.inner = inner
        self._writer: _ThreadWriter | _ForkWriter | None = None
        conn = inner.db.connection()
        seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM ledger_events").fetchone()[0]
        known = {int(r[0]) for r in conn.execute("SELECT trade_id FROM fills")}
        if conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]:
            raise StoreError(
                f"{inner.path} already holds orders: a backtest writes into a fresh database"
            )
        self._orders = _Orders(self)
        self._fills = _Fills(self, known)
        self._ledger = _Ledger(self, int(seq) + 1)
        self._decisions = _Decisions(self)
        self._metrics = _Metrics(self, changes_only=metric_changes_only)
        self._cycles = _Cycles(self)
        self._cursors = _Cursors(self, dict(conn.execute("SELECT name, value FROM cursors")))
        self._runtime = _Runtime(self, dict(conn.execute("SELECT key, value FROM runtime_state")))
        self.rows_written = 0
        if background:
            fork = writer == "fork" or (writer == "auto" and fork_writer_usable())
            self._writer = _ForkWriter(inner.path) if fork else _ThreadWriter(inner.path)

    # The repositories the engine uses, served from memory.
    @property  # type: ignore[override]
    def orders(self) -> Any:
        return self._orders

    @property  # type: ignore[override]
    def fills(self) -> Any:
        return self._fills

    @property  # type: ignore[override]
    def ledger(self) -> Any:
        return self._ledger

    @property  # type: ignore[override]
    def decisions(self) -> Any:
        return self._decisions

    @property  # type: ignore[override]
    def metrics(self) -> Any:
        return self._metrics

    @property  # type: ignore[override]
    def cycles(self) -> Any:
        return self._cycles

    @property  # type: ignore[override]
    def cursors(self) -> Any:
        return self._cursors

    @property  # type: ignore[override]
    def runtime(self) -> Any:
        return self._runtime

    @property  # type: ignore[override]
    def meta(self) -> Any:
        return self.inner.meta

    def atomic(self) -> AbstractContextManager[None]:  # type: ignore[override]
        """Nothing to begin: writes are queued, and `flush()` commits them as one transaction.
        (One shared no-op context: a generator-based one cost a microsecond per use.)"""
        return _NO_TRANSACTION

    def close(self) -> None:
        """Flush what is queued and wait for it; the wrapped store is closed by its owner."""
        self.drain()

    @property
    def pending_rows(self) -> int:
        """Rows queued and not yet in the file."""
        return (
            len(self._orders.dirty)
            + len(self._orders.events)
            + len(self._fills.pending)
            + len(self._ledger.pending)
            + len(self._decisions.pending)
            + len(self._metrics.pending)
            + len(self._cycles.pending)
            + len(self._cursors.dirty)
            + len(self._runtime.dirty)
        )

    def flush(self) -> int:
        """Write everything queued in one transaction; returns the rows queued until now.

        With a background writer the batch is written while the engine goes on (see
        `_ThreadWriter`, `_ForkWriter`); a flush waits for the previous one first, so at most
        one batch is in flight. `sync()`, `drain()` and `close()` wait for it.
        """
        rows = self.pending_rows
        if not rows:
            return 0
        self.rows_written += rows
        if self._writer is not None:
            self._writer.submit(self._take_batch, self._clear_queues)
            return rows
        batch = self._take_batch()
        conn = self._db.connection()
        with translate_errors("write-behind flush"), self._db.atomic():
            batch_writer.execute_all(conn, batch)
        return rows

    def sync(self) -> None:
        """Flush and wait until everything queued is in the file, for a read of the file."""
        if self._writer is None:
            self.flush()
            return
        # One way to wait for a background writer: stop it, then start a new one of its kind.
        kind = "fork" if isinstance(self._writer, _ForkWriter) else "thread"
        self.drain()
        self._writer = _ForkWriter(self.path) if kind == "fork" else _ThreadWriter(self.path)

    def drain(self) -> None:
        """Flush and wait until everything queued is in the file (the writer stopped)."""
        self.flush()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def _take_batch(self) -> Batch:
        """Every queued row as (SQL, JSON rows) per table, in foreign-key order; queues emptied."""
        o = self._orders
        # Enum columns are StrEnums: a member is the str of its value, so it is encoded as is
        # (reading `.value` goes through enum's Python-level descriptor, ~15 times a cycle).
        tables: list[tuple[str, list[str]]] = [
            (_SQL_ORDERS, [
                f"[{_s(r.client_id)},{_i(r.exchange_order_id)},{_s(r.symbol)},"
                f"{_s(r.side)},{_s(r.method)},{_m(r.price)},{_m(r.quantity)},"
                f"{_m(r.filled_quantity)},{_s(r.state)},{_s(r.idempotency_key)},"
                f"{_s(r.payload_hash)},{_s(r.run_id)},{_s(r.cycle_id)},{_s(r.intent)},"
                f"{_s(r.reason)},{r.created_ms:d},{r.updated_ms:d},{_s(r.last_error)}]"
                for r in o.dirty.values()
            ]),
            (_SQL_ORDER_EVENTS, [
                f"[{_s(e.client_id)},{'null' if e.from_state is None else _s(e.from_state)},"
                f"{_s(e.to_state)},{e.ts_ms:d},{_s(e.detail)}]"
                for e in o.events
            ]),
            (_SQL_FILLS, [
                f"[{f.trade_id:d},{f.order_id:d},{_s(f.client_id)},{_s(f.symbol)},{_s(f.base)},"
                f"{_s(f.quote)},{_s(f.side)},{_m(f.price)},{_m(f.quantity)},{_m(f.fee)},"
                f"{_m(f.tax)},{_s(f.fee_asset)},{f.timestamp_ms:d}]"
                for f in self._fills.pending
            ]),
            (_SQL_LEDGER, [
                f"[{e.seq:d},{e.ts_ms:d},{_s(e.kind)},{_s(e.symbol)},{_s(e.asset)},"
                f"{_m(e.quantity)},{_m(e.amount_quote)},{_m(e.price)},{_s(e.ref)},{_s(e.detail)}]"
                for e in self._ledger.pending
            ]),
            (_SQL_CYCLES, [
                f"[{_s(c.cycle_id)},{_s(c.run_id)},{c.started_ms:d},{_i(c.finished_ms)},"
                f"{_s(c.mode)},{_s(c.outcome)},{_s(dumps(c.summary))}]"
                for c in self._cycles.pending.values()
            ]),
            (_SQL_DECISIONS, [
                f"[{_s(d.run_id)},{_s(d.cycle_id)},{d.ts_ms:d},{_s(d.symbol)},"
                f"{_s(d.stage)},{_s(d.action)},{_s(d.reason_code)},{_s(dumps(d.detail))}]"
                for d in self._decisions.pending
            ]),
            (_SQL_METRICS, self._metrics.rows()),
            (_SQL_CURSORS, self._cursors.rows()),
            (_SQL_RUNTIME, self._runtime.rows()),
        ]  # fmt: skip
        self._clear_queues()
        return [(sql, f"[{','.join(rows)}]") for sql, rows in tables if rows]

    def _clear_queues(self) -> list[Any]:
        """Empty the queues; return what they held (fresh containers replace them)."""
        o = self._orders
        held = [
            o.dirty, o.events, self._fills.pending, self._ledger.pending, self._cycles.pending,
            self._decisions.pending, self._metrics.pending, self._cursors.dirty,
            self._runtime.dirty,
        ]  # fmt: skip
        o.dirty, o.events = {}, []
        self._fills.pending, self._ledger.pending = [], []
        self._cycles.pending, self._decisions.pending, self._metrics.pending = {}, [], []
        self._cursors.dirty, self._runtime.dirty = {}, {}
        return held

    def set_meta(self, key: str, value: Mapping[str, Any]) -> None:
        """Store a JSON document under a meta key (written at once, outside the queue)."""
        if key == ACCOUNT_KEY:
            raise StoreError("the account key is not set through set_meta")
        with self.inner.atomic():
            self.inner.meta.set(key, json.dumps(value, sort_keys=True, default=str))
