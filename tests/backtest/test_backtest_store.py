"""Backtest results live in a database with the live schema, readable by the live repositories."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backtest_testkit import bench_config, bench_settings, clean_env, small_dataset

from btcbot_engine.backtest import META_KEY, run_backtest
from btcbot_engine.domain.orders import OrderState
from btcbot_engine.domain.records import CycleRecord
from btcbot_engine.ledger import Ledger
from btcbot_engine.replay.dataset import load_dataset
from btcbot_engine.store.db import (
    IntegrityViolation,
    RecordNotFound,
    StaleState,
    StoreError,
    open_database,
    open_readonly,
)
from btcbot_engine.store.migrations import LATEST_VERSION
from btcbot_engine.store.write_behind import WriteBehindStore

__all__ = ["clean_env", "small_dataset"]


def test_results_read_back_through_the_live_repositories(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bt.db"
    config = bench_config(small_dataset, out, flush_every=25, svg=True)
    result = run_backtest(config, bench_settings())
    summary = result.summary
    store = open_readonly(out)
    try:
        assert store.schema_version() == LATEST_VERSION
        assert store.integrity_check() == ["ok"]
        fills = store.fills.all()
        assert len(fills) == summary.trades
        orders = store.orders.list_all()
        states = Counter(o.state for o in orders)
        # Every order filled, except one the last step may have sent (nothing left to fill it).
        assert states[OrderState.FILLED] >= len(orders) - 1
        assert all(o.run_id == result.run_id for o in orders)
        assert [e.to_state for e in store.orders.events(orders[0].client_id)] == [
            OrderState.NEW, OrderState.SUBMITTING, OrderState.OPEN, OrderState.FILLED,
        ]  # fmt: skip
        # The ledger in the file rebuilds the backtest's books exactly.
        ledger = Ledger.replay(store.ledger.all())
        assert ledger.fees_try + ledger.tax_try == summary.fees_try
        assert ledger.turnover_try == summary.turnover_try
        series = load_dataset(small_dataset).series["BTCTRY"]
        last_close = series.price(series.candles.close[-1])
        assert ledger.cash("TRY") + ledger.cash("BTC") * last_close == summary.final_equity_try
        assert len(store.ledger.by_ref(str(fills[-1].trade_id))) == 3  # FILL, FEE, TAX
        decisions = store.decisions.recent(limit=5000)
        codes = Counter(d.reason_code for d in decisions)
        assert codes["oms:submitted"] == len(orders)
        assert codes["entry:sma_cross_up"] + codes["exit:sma_cross_down"] == len(orders)
        cycles = store.cycles.recent(limit=100_000)
        assert len(cycles) == summary.full_cycles
        assert all(c.finished_ms is not None and c.outcome == "ok" for c in cycles)
        equity = store.metrics.recent("equity_try", limit=100_000)
        assert equity and equity[0].ts_ms == summary.end_ms
        assert equity[0].value == summary.final_equity_try
        meta = json.loads(store.meta.get(META_KEY) or "{}")
        assert meta["run_id"] == result.run_id
        assert meta["summary"]["fingerprint"] == result.fingerprint
        assert meta["dataset_checksum"]
    finally:
        store.close()
    assert result.svg is not None and result.svg.read_text().startswith("<svg")


def test_the_output_database_is_never_reused_silently(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    from btcbot_engine.backtest import BacktestError

    out = tmp_path / "bt.db"
    run_backtest(bench_config(small_dataset, out, end_ms=None), bench_settings())
    with pytest.raises(BacktestError, match="already exists"):
        run_backtest(bench_config(small_dataset, out, force=False), bench_settings())


def test_write_behind_keeps_the_repository_contracts(tmp_path: Path) -> None:
    inner = open_database(tmp_path / "wb.db")
    try:
        store = WriteBehindStore(inner)
        store.cycles.start(CycleRecord("c1", "run", 1, "PAPER"))
        with pytest.raises(IntegrityViolation):
            store.cycles.start(CycleRecord("c1", "run", 2, "PAPER"))
        with pytest.raises(RecordNotFound):
            store.orders.update_state("nope", OrderState.OPEN)
        from btcbot_engine.domain.orders import OrderMethod, Side
        from btcbot_engine.domain.records import OrderRecord

        order = OrderRecord(
            client_id="c", symbol="BTCTRY", side=Side.BUY, method=OrderMethod.LIMIT,
            price=Decimal("1"), quantity=Decimal("1"), filled_quantity=Decimal(0),
            state=OrderState.NEW, idempotency_key="k", payload_hash="h", run_id="r",
            cycle_id="c1", intent="i", created_ms=5, updated_ms=5,
        )  # fmt: skip
        store.orders.insert(order)
        with pytest.raises(IntegrityViolation):
            store.orders.insert(order)
        with pytest.raises(StaleState):
            store.orders.update_state("c", OrderState.OPEN, expected_state=OrderState.OPEN)
        store.orders.update_state("c", OrderState.OPEN, ts_ms=6, exchange_order_id=9)
        assert store.orders.list_open()[0].exchange_order_id == 9
        assert store.pending_rows > 0
        store.cycles.finish("c1", finished_ms=7, outcome="ok", summary={"n": 1})
        written = store.flush()
        assert written > 0 and store.pending_rows == 0
        assert inner.orders.get("c").state is OrderState.OPEN
        assert [e.to_state for e in inner.orders.events("c")] == [OrderState.NEW, OrderState.OPEN]
        assert inner.cycles.get("c1").summary == {"n": 1}
    finally:
        inner.close()


def _write_the_same_records(store: Any) -> None:
    """Every kind of row a cycle writes, with awkward values (None, text that needs JSON
    escaping, non-ASCII, big integers, Decimals that must stay exact)."""
    from btcbot_engine.domain.fills import Fill
    from btcbot_engine.domain.orders import OrderMethod, Side
    from btcbot_engine.domain.records import (
        Decision,
        DecisionStage,
        LedgerEvent,
        LedgerKind,
        MetricPoint,
        OrderRecord,
    )

    store.cycles.start(CycleRecord("c1", "run", 1_700_000_000_000, "PAPER"))
    order = OrderRecord(
        client_id="c", symbol="BTCTRY", side=Side.BUY, method=OrderMethod.LIMIT,
        price=Decimal("3006070.00"), quantity=Decimal("0.00004989"),
        filled_quantity=Decimal(0), state=OrderState.NEW, idempotency_key="k",
        payload_hash="h", run_id="run", cycle_id="c1", intent='{"q": "1\\n\\"x\\""}',
        created_ms=5, updated_ms=5,
    )  # fmt: skip
    store.orders.insert(order)
    store.orders.update_state(
        "c", OrderState.OPEN, ts_ms=6, exchange_order_id=2**62, detail='ağ \u0130 "q"\n'
    )
    store.orders.update_state(
        "c", OrderState.FILLED, ts_ms=7, filled_quantity=Decimal("0.00004989"), reason=None
    )
    fill = Fill(
        trade_id=2**53 + 1, order_id=2**62, client_id="c", symbol="BTCTRY", base="BTC",
        quote="TRY", side=Side.BUY, price=Decimal("3006070"), quantity=Decimal("1E-8"),
        fee=Decimal("0.0885"), tax=Decimal("0.0159300"), fee_asset="TRY", timestamp_ms=7,
    )  # fmt: skip
    store.fills.insert_if_new(fill)
    event = LedgerEvent(
        7, LedgerKind.FILL, "BTC", Decimal("1E-8"), Decimal("-0.0300607"), "BTCTRY",
        Decimal("3006070"), "9007199254740993", "",
    )  # fmt: skip
    store.ledger.append(event)
    store.ledger.append(LedgerEvent(7, LedgerKind.FEE, "TRY", Decimal("-0.0885"), Decimal(0)))
    detail = {"client_id": "c", "detail": 'ç \\ "x"'}
    store.decisions.insert_many(
        [
            Decision(
                "run", "c1", 6, DecisionStage.OMS, "submitted", "oms:submitted", "BTCTRY", detail
            ),
            Decision("run", "c1", 6, DecisionStage.RISK, "mode", "risk:mode:NORMAL"),
        ]
    )
    store.metrics.record_many(
        [
            MetricPoint(7, "equity_try", Decimal("8987327.8300000000")),
            MetricPoint(7, "submit_latency_ms", Decimal("2.641"), {"symbol": "BTCTRY"}),
        ]
    )
    store.cursors.set("fills:BTCTRY", "9007199254740993")
    store.runtime.set_safe_mode(True)
    store.cycles.finish("c1", finished_ms=8, outcome="ok", summary={"errors": ["a\tb"]})


def _table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in (
            "orders", "order_events", "fills", "ledger_events", "cycles", "decisions",
            "metrics", "cursors", "runtime_state",
        ):  # fmt: skip
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            picks = ", ".join(f"typeof({c}), {c}" for c in columns)
            rows = conn.execute(f"SELECT {picks} FROM {table} ORDER BY rowid").fetchall()
            # Timestamps the stores stamp themselves (updated_ms of cursors) are the clock's.
            out[table] = rows
        return out
    finally:
        conn.close()


@pytest.mark.parametrize("writer", ["inline", "thread", "fork"])
def test_write_behind_writes_the_rows_the_live_repositories_write(
    tmp_path: Path, writer: str
) -> None:
    """The bulk JSON insert stores the same values with the same SQLite types as the live
    repositories' writes: the output database is indistinguishable row by row."""
    clock = lambda: 1_700_000_000_123  # noqa: E731
    live = open_database(tmp_path / "live.db", clock_ms=clock)
    try:
        with live.atomic():
            _write_the_same_records(live)
    finally:
        live.close()
    inner = open_database(tmp_path / "wb.db", clock_ms=clock)
    try:
        if writer == "inline":
            store = WriteBehindStore(inner)
        else:
            store = WriteBehindStore(inner, background=True, writer=writer)
        _write_the_same_records(store)
        store.drain()
    finally:
        inner.close()
    expected = _table_rows(tmp_path / "live.db")
    got = _table_rows(tmp_path / "wb.db")
    assert all(expected[t] for t in expected if t != "runtime_state")
    assert got == expected


@pytest.mark.parametrize("writer", ["thread", "fork"])
def test_a_failed_background_write_is_raised_with_its_cause(tmp_path: Path, writer: str) -> None:
    """A batch the database refuses (here a fill whose trade id another writer stored after
    the store started) fails the flush loudly, naming SQLite's reason, and nothing of that
    batch is in the file."""
    inner = open_database(tmp_path / "wb.db")
    try:
        store = WriteBehindStore(inner, background=True, writer=writer)
        _write_the_same_records(store)
        with inner.atomic():  # behind the write-behind store's back
            inner.fills.insert_if_new(_fill_with_trade_id(2**53 + 1))
        with pytest.raises(StoreError, match=r"UNIQUE constraint failed: fills\.trade_id"):
            store.drain()
        counts = inner.db.connection().execute("SELECT COUNT(*) FROM orders").fetchone()
        assert counts == (0,)
    finally:
        inner.close()


def _fill_with_trade_id(trade_id: int) -> Any:
    from btcbot_engine.domain.fills import Fill
    from btcbot_engine.domain.orders import Side

    return Fill(
        trade_id=trade_id, order_id=1, client_id=None, symbol="BTCTRY", base="BTC",
        quote="TRY", side=Side.SELL, price=Decimal(1), quantity=Decimal(1), fee=Decimal(0),
        tax=Decimal(0), fee_asset="TRY", timestamp_ms=1,
    )  # fmt: skip


def test_the_batch_writer_commits_whole_batches_only(tmp_path: Path) -> None:
    """The writer process's loop: a batch cut off mid-stream (the engine killed) writes
    nothing of it; complete batches before it stay."""
    import io

    from btcbot_engine.store import batch_writer
    from btcbot_engine.store.write_behind import _SQL_CURSORS, _encode_batch

    open_database(tmp_path / "b.db").close()
    whole = _encode_batch([(_SQL_CURSORS, '[["a","1",5]]')])
    cut = _encode_batch([(_SQL_CURSORS, '[["b","2",6]]')])[:-3]
    code = batch_writer.run(str(tmp_path / "b.db"), io.BytesIO(whole + cut))
    assert code == batch_writer.EXIT_CUT_OFF
    code = batch_writer.run(str(tmp_path / "b.db"), io.BytesIO(b"B x\n"))
    assert code == batch_writer.EXIT_FAILED
    store = open_readonly(tmp_path / "b.db")
    try:
        assert store.cursors.all() == {"a": "1"}
    finally:
        store.close()


def test_metric_wants_is_exactly_what_record_many_keeps(tmp_path: Path) -> None:
    """The cycle skips building points the store's `wants` refuses, so `wants` must agree with
    `record_many` on every sample: counts, gauges (labelled or not) and latency events."""
    import random

    from btcbot_engine.domain.records import MetricPoint

    inner = open_database(tmp_path / "m.db")
    try:
        store = WriteBehindStore(inner, metric_changes_only=True)
        rng = random.Random(11)
        names = ["orders_submitted", "fills", "equity_try", "risk_mode", "order_submit_latency_ms"]
        for ts in range(3000):
            name = rng.choice(names)
            value = Decimal(rng.choice([0, 0, 1, 2, 3]))
            labels = {"mode": rng.choice(["NORMAL", "REDUCE"])} if name == "risk_mode" else {}
            wanted = store.metrics.wants(name, value, labels)
            kept = store.metrics.record_many([MetricPoint(ts, name, value, labels)])
            assert kept == int(wanted), (ts, name, value, labels)
        assert 0 < store.metrics.dropped < 3000
    finally:
        inner.close()


def test_a_failed_fork_writes_the_batch_from_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No child can be made (out of memory, process limit): the batch is built in the engine
    and still written whole; SIGINT is not left blocked."""
    import os
    import signal

    def no_fork() -> int:
        raise OSError(12, "Cannot allocate memory")

    inner = open_database(tmp_path / "wb.db")
    try:
        store = WriteBehindStore(inner, background=True, writer="fork")
        monkeypatch.setattr(os, "fork", no_fork)
        _write_the_same_records(store)
        store.drain()
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        inner.close()
    live = open_database(tmp_path / "live.db", clock_ms=lambda: 1_700_000_000_123)
    try:
        with live.atomic():
            _write_the_same_records(live)
    finally:
        live.close()
    got, expected = _table_rows(tmp_path / "wb.db"), _table_rows(tmp_path / "live.db")
    assert got["orders"] == expected["orders"] and got["metrics"] == expected["metrics"]
