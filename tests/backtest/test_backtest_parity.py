"""Parity: twice the same; against a recorded run, the first divergence is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from backtest_testkit import MIN, T0, bench_config, bench_settings, clean_env, small_dataset

from btcbot_engine.backtest import BacktestError, run_backtest
from btcbot_engine.parity import parity_against, parity_twice

__all__ = ["clean_env", "small_dataset"]

WINDOW = {"start_ms": T0 + 100 * MIN, "end_ms": T0 + 2000 * MIN}


def test_parity_twice_is_identical(clean_env: None, small_dataset: Path, tmp_path: Path) -> None:
    report = parity_twice(
        bench_config(small_dataset, tmp_path / "x.db", **WINDOW), bench_settings()
    )
    assert report.identical
    assert report.fingerprints[0] == report.fingerprints[1]
    assert report.divergences == []
    assert report.compared["lines"] > 50


def test_against_a_recorded_run(clean_env: None, small_dataset: Path, tmp_path: Path) -> None:
    settings = bench_settings()
    # The "recorded" run: the same engine, but a different strategy setting.
    recorded = tmp_path / "recorded.db"
    run_backtest(
        bench_config(
            small_dataset, recorded, params=(("slow", "20"), ("taker_bps", "500")), **WINDOW
        ),
        settings,
    )
    same = parity_against(
        bench_config(
            small_dataset,
            tmp_path / "same.db",
            params=(("slow", "20"), ("taker_bps", "500")),
            **WINDOW,
        ),
        settings,
        recorded,
    )
    assert same.identical, same.to_json()
    assert same.compared["our_decisions"] == same.compared["their_decisions"] > 50

    differ = parity_against(
        bench_config(small_dataset, tmp_path / "d.db", **WINDOW), settings, recorded
    )
    assert not differ.identical
    first = differ.divergences[0]
    assert first.kind == "decision"
    assert first.ours is not None and first.theirs is not None
    assert first.ours.key != first.theirs.key or first.ours.ts_ms != first.theirs.ts_ms
    assert first.index >= 0 and "entry:sma_cross_up" in first.ours.text + first.theirs.text


def test_against_needs_a_window_and_a_readable_database(
    clean_env: None, small_dataset: Path, tmp_path: Path
) -> None:
    settings = bench_settings()
    with pytest.raises(BacktestError, match="does not exist"):
        parity_against(
            bench_config(small_dataset, tmp_path / "a.db", **WINDOW), settings, tmp_path / "no.db"
        )
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BacktestError, match="--against"):
        parity_against(bench_config(small_dataset, tmp_path / "b.db", **WINDOW), settings, junk)
    with pytest.raises(BacktestError, match="--start and --end"):
        parity_against(bench_config(small_dataset, tmp_path / "c.db"), settings, junk)
