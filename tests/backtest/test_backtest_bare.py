"""The engine's backtest and the bare reference loop agree: same fills, same equity to the cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from backtest_testkit import bare_module, bench_config, bench_settings, clean_env, small_dataset

from btcbot_engine.backtest import run_backtest
from btcbot_engine.replay.dataset import load_dataset

__all__ = ["clean_env", "small_dataset"]


def test_engine_matches_the_bare_loop(clean_env: None, small_dataset: Path, tmp_path: Path) -> None:
    series = load_dataset(small_dataset).series["BTCTRY"]
    bare = bare_module().bare_sma_cross(
        series.candles.open, series.candles.close, price_scale=2, cash=Decimal("10000000")
    )
    result = run_backtest(bench_config(small_dataset, tmp_path / "bt.db"), bench_settings())
    assert bare.fills > 100
    assert result.summary.trades == bare.fills
    assert result.summary.final_equity_try is not None
    cent = Decimal("0.01")
    assert result.summary.final_equity_try.quantize(cent) == bare.final_equity.quantize(cent)
    # Not just to the cent: with prices on a 10 TRY grid nothing even needs rounding.
    assert result.summary.final_equity_try == bare.final_equity
