"""Sweeps: a grid of backtests, run through an executor, ranked; the same in another process."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from backtest_testkit import MIN, T0, bench_config, bench_settings, clean_env, small_dataset

from btcbot_engine.backtest import BacktestError
from btcbot_engine.sweep import (
    InlineExecutor,
    ProcessExecutor,
    SweepRow,
    build_jobs,
    parse_grid,
    rank,
    run_sweep,
)

__all__ = ["clean_env", "small_dataset"]


def test_grid_parsing_and_jobs(clean_env: None, small_dataset: Path, tmp_path: Path) -> None:
    grid = parse_grid(["fast=5,10", "slippage_bps=0,5"])
    jobs = build_jobs(
        bench_config(small_dataset, tmp_path / "b.db"), bench_settings(), grid, tmp_path
    )
    assert len(jobs) == 4
    assert jobs[3].point == (("fast", "10"), ("slippage_bps", "5"))
    assert dict(jobs[3].config.params) == {"fast": "10", "taker_bps": "500"}
    assert jobs[3].config.slippage_bps == Decimal(5)
    assert len({j.config.out for j in jobs}) == 4
    for bad in (["fast"], ["fast="], ["fast=1", "fast=2"]):
        with pytest.raises(BacktestError):
            parse_grid(bad)


def test_rank_orders_best_first_and_errors_last() -> None:
    rows = [
        SweepRow(0, (("a", "1"),), "x", "f0", {"sharpe": -1.0, "max_drawdown_pct": "3"}),
        SweepRow(1, (("a", "2"),), "x", None, {}, "boom"),
        SweepRow(2, (("a", "3"),), "x", "f2", {"sharpe": 2.5, "max_drawdown_pct": "9"}),
    ]
    assert [r.index for r in rank(rows, "sharpe")] == [2, 0, 1]
    assert [r.index for r in rank(rows, "drawdown")] == [0, 2, 1]
    with pytest.raises(BacktestError):
        rank(rows, "luck")


def test_a_sweep_runs_and_ranks_the_same_in_processes(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    base = bench_config(small_dataset, tmp_path / "b.db", end_ms=T0 + 1500 * MIN)
    grid = parse_grid(["fast=5,10"])
    inline = run_sweep(
        build_jobs(base, bench_settings(), grid, tmp_path / "inline"), executor=InlineExecutor()
    )
    assert [r.error for r in inline] == [None, None]
    assert inline[0].fingerprint != inline[1].fingerprint
    ranked = rank(inline, "return")
    returns = [Decimal(str(r.summary["return_pct"])) for r in ranked]
    assert returns == sorted(returns, reverse=True)
    pooled = run_sweep(
        build_jobs(base, bench_settings(), grid, tmp_path / "pool"),
        executor=ProcessExecutor(workers=2),
    )
    # Other processes, same results: nothing machine- or process-specific in a backtest.
    assert [r.fingerprint for r in pooled] == [r.fingerprint for r in inline]
    assert all(Path(r.out).exists() for r in pooled)
