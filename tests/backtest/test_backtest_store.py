"""Backtest results live in a database with the live schema, readable by the live repositories."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

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
        from decimal import Decimal

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
