"""`replay-init`: bit-identical for a seed, different for another, realistic, never overwrites."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from replay_testkit import clean_env, tree_bytes

from btcbot_engine.replay.dataset import DatasetError, load_dataset, validate_dataset
from btcbot_engine.replay.synth import generate

__all__ = ["clean_env"]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kwargs = {"symbols": ["BTCTRY", "ETHTRY", "XYZTRY"], "bars": 3000, "compress": True}
    generate(tmp_path / "a", seed=7, **kwargs)
    generate(tmp_path / "b", seed=7, **kwargs)
    generate(tmp_path / "c", seed=8, **kwargs)
    a, b, c = (tree_bytes(tmp_path / n) for n in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert a["candles/BTCTRY.csv.gz"] != c["candles/BTCTRY.csv.gz"]
    assert validate_dataset(tmp_path / "a") == []


def test_the_cli_writes_the_same_bytes_as_the_library(tmp_path: Path, clean_env: None) -> None:
    generate(tmp_path / "lib", seed=3, symbols=["BTCTRY"], days=1)
    subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", "replay-init", "--dataset",
         str(tmp_path / "cli"), "--seed", "3", "--days", "1", "--no-progress"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert tree_bytes(tmp_path / "lib") == tree_bytes(tmp_path / "cli")


def test_markets_look_like_markets(tmp_path: Path) -> None:
    generate(tmp_path, seed=11, symbols=["BTCTRY"], days=5)
    series = load_dataset(tmp_path, cache=False).series["BTCTRY"]
    bars, tops = series.candles, series.tickers
    assert tops is not None and len(tops) == len(bars) == 5 * 1440
    spreads = [
        Decimal(tops.ask[i] - tops.bid[i]) * 10000 / tops.last[i] for i in range(0, len(tops), 7)
    ]
    assert all(Decimal("0.5") < s < Decimal(30) for s in spreads)  # bps, BTCTRY-like
    assert len(set(spreads)) > 20  # it varies with the regime
    assert all(v > 0 for v in bars.volume)
    moves = [abs(bars.close[i] - bars.close[i - 1]) for i in range(1, len(bars))]
    # Regimes: the busiest hour moves far more than the calmest one.
    hours = [sum(moves[h : h + 60]) for h in range(0, len(moves) - 60, 60)]
    assert max(hours) > 3 * min(hours)
    # Mid of the recorded top of book is the close: replay prices sit where bars trade.
    assert all(tops.bid[i] + tops.ask[i] == 2 * bars.close[i] for i in range(0, len(bars), 13))


def test_it_never_overwrites_a_dataset(tmp_path: Path) -> None:
    generate(tmp_path, seed=1, bars=10)
    before = tree_bytes(tmp_path)
    with pytest.raises(DatasetError, match="already holds a dataset"):
        generate(tmp_path, seed=2, bars=10)
    assert tree_bytes(tmp_path) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bars": 0}, "at least one bar"),
        ({"resolution": "7m", "bars": 5}, "resolution"),
        ({"symbols": ["BTC"], "bars": 5}, "not <BASE>TRY"),
        ({"bars": 5, "start_ms": 1_704_067_200_001}, "grid"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, seed=1, **kwargs)
    assert not (tmp_path / "manifest.json").exists()
