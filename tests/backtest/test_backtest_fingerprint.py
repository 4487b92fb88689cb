"""The fingerprint: the same inputs give the same one; any change that matters changes it; the
quiet-step shortcut gives exactly what a full cycle on every step gives."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

from backtest_testkit import (
    MIN,
    T0,
    bench_config,
    bench_settings,
    clean_env,
    multi_dataset,
    small_dataset,
)

from btcbot_engine.backtest import run_backtest

__all__ = ["clean_env", "multi_dataset", "small_dataset"]


def test_same_inputs_same_fingerprint(clean_env: None, small_dataset: Path, tmp_path: Path) -> None:
    settings = bench_settings()
    a = run_backtest(bench_config(small_dataset, tmp_path / "a.db"), settings)
    b = run_backtest(bench_config(small_dataset, tmp_path / "b.db"), settings)
    assert a.summary.trades > 100
    assert a.fingerprint == b.fingerprint
    assert a.run_id == b.run_id
    assert a.summary.final_equity_try == b.summary.final_equity_try


def test_changing_what_matters_changes_the_fingerprint(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    settings = bench_settings()
    base = run_backtest(bench_config(small_dataset, tmp_path / "base.db"), settings)
    faster = bench_config(
        small_dataset, tmp_path / "p.db", params=(("fast", "5"), ("taker_bps", "500"))
    )
    fee = bench_config(small_dataset, tmp_path / "f.db", fee_taker=Decimal("0.002"))
    window = bench_config(small_dataset, tmp_path / "w.db", end_ms=T0 + 3000 * MIN)
    others = [run_backtest(c, settings).fingerprint for c in (faster, fee, window)]
    assert base.fingerprint not in others
    assert len(set(others)) == 3
    # A risk setting is part of the run too: a cooldown drops orders.
    cooled = run_backtest(
        bench_config(small_dataset, tmp_path / "c.db"), bench_settings(cooldown_seconds=600)
    )
    assert cooled.fingerprint != base.fingerprint
    assert cooled.summary.trades < base.summary.trades


def test_seed_matters_only_where_randomness_is_used(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    settings = bench_settings()
    window = {"end_ms": T0 + 2000 * MIN}
    plain = [
        run_backtest(bench_config(small_dataset, tmp_path / f"s{s}.db", seed=s, **window), settings)
        for s in (1, 2)
    ]
    assert plain[0].fingerprint == plain[1].fingerprint  # nothing random without jitter
    jitter = [
        run_backtest(
            bench_config(
                small_dataset, tmp_path / f"j{s}.db", seed=s, latency_jitter_ms=120_000, **window
            ),
            settings,
        )
        for s in (1, 1, 2)
    ]
    assert jitter[0].fingerprint == jitter[1].fingerprint
    assert jitter[0].fingerprint != jitter[2].fingerprint


def test_quiet_steps_decide_exactly_like_full_cycles(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    settings = bench_settings()
    config = bench_config(small_dataset, tmp_path / "quick.db", end_ms=T0 + 2500 * MIN)
    quick = run_backtest(config, settings, keep_stream=True)
    full = run_backtest(
        dataclasses.replace(config, out=tmp_path / "full.db", every_step=True),
        settings,
        keep_stream=True,
    )
    assert full.summary.full_cycles == full.summary.steps
    assert quick.summary.full_cycles < quick.summary.steps / 5
    assert quick.fingerprint == full.fingerprint
    assert quick.summary.final_equity_try == full.summary.final_equity_try
    assert quick.summary.max_drawdown_pct == full.summary.max_drawdown_pct
    assert sorted(quick.stream or []) == sorted(full.stream or [])
    # Every figure drawn from the equity curve and the books too (the curve is built apart in
    # quiet steps), not just the decisions.
    same = ("initial_equity_try", "return_pct", "sharpe", "fees_try", "turnover_try",
            "exposure_pct", "trades", "steps", "bars")  # fmt: skip
    assert {f: getattr(quick.summary, f) for f in same} == {
        f: getattr(full.summary, f) for f in same
    }


def test_quiet_steps_with_two_pairs_and_recorded_tops(
    clean_env: None, multi_dataset: Path, tmp_path: Path
) -> None:
    settings = bench_settings()
    config = bench_config(multi_dataset, tmp_path / "quick.db", end_ms=T0 + 1500 * MIN)
    quick = run_backtest(config, settings)
    full = run_backtest(
        dataclasses.replace(config, out=tmp_path / "f.db", every_step=True), settings
    )
    assert quick.summary.trades > 10
    assert quick.fingerprint == full.fingerprint
    assert quick.summary.final_equity_try == full.summary.final_equity_try
