"""Helpers for the backtest tests: settings without limits in the way, a shared small dataset,
the benchmark's bare loop (loaded from bench/), and a hand-made bar series."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from btcbot_engine.backtest import BacktestConfig
from btcbot_engine.config import Settings, load_settings
from btcbot_engine.replay.synth import generate

ROOT = Path(__file__).resolve().parents[2]

# Limits that would stop a plain SMA cross trading every signal (the benchmark's rules).
OPEN_LIMITS: dict[str, Any] = {
    "cooldown_seconds": 0,
    "max_notional_per_order_try": "1000000000",
    "notional_cap_try_per_cycle": "1000000000",
    "max_position_try_per_symbol": "1000000000",
    "max_daily_loss_try": "1000000000",
    "max_drawdown_pct": "100",
    "max_consecutive_losses": 1_000_000,
    "min_order_notional_try": "0",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No btcbot settings from the environment or a .env file."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    yield


def bench_settings(**extra: Any) -> Settings:
    """Settings with the open limits (the environment must be clean: see `clean_env`)."""
    return load_settings(None, **{**OPEN_LIMITS, **extra})


def bench_config(dataset: Path, out: Path, **changes: Any) -> BacktestConfig:
    """The benchmark's backtest: market-like SMA orders, 0.1 % taker fee, no tax."""
    base: dict[str, Any] = {
        "dataset": dataset,
        "out": out,
        "strategy": "sma_cross",
        "params": (("taker_bps", "500"),),
        "balances": (("TRY", "10000000"),),
        "fee_taker": Decimal("0.001"),
        "tax_share": Decimal(0),
        "force": True,
        "svg": False,
    }
    base.update(changes)
    return BacktestConfig(**base)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 one-minute BTCTRY bars (candles only), seed 11: about 230 SMA trades."""
    directory = tmp_path_factory.mktemp("backtest-data") / "small"
    generate(directory, seed=11, symbols=["BTCTRY"], bars=6000, tickers=False)
    return directory


@pytest.fixture(scope="session")
def multi_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of BTCTRY and ETHTRY with a top-of-book table, seed 5."""
    directory = tmp_path_factory.mktemp("backtest-data") / "multi"
    generate(directory, seed=5, symbols=["BTCTRY", "ETHTRY"], days=2)
    return directory


def bare_module() -> ModuleType:
    """bench/backtest_bare.py (the reference loop the benchmark compares against)."""
    path = ROOT / "bench" / "backtest_bare.py"
    spec = importlib.util.spec_from_file_location("bench_backtest_bare", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def cli_env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment without btcbot settings, plus the open limits as env vars."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["NO_COLOR"] = "1"
    for key, value in OPEN_LIMITS.items():
        env[key.upper()] = str(value)
    return env


T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
MIN = 60_000


def write_bars(directory: Path, bars: list[tuple[str, str, str, str, str]]) -> Path:
    """A one-pair BTCTRY dataset from (open, high, low, close, volume) texts, 1m from T0."""
    from btcbot_engine.domain.rules import SymbolRules
    from btcbot_engine.replay.dataset import FileEntry, Manifest, sha256_file, write_manifest

    rules = SymbolRules(
        symbol="BTCTRY", base="BTC", quote="TRY", status="TRADING", price_scale=2,
        quantity_scale=8, tick_size=Decimal("10"), min_notional=Decimal("99.91"),
        has_fraction=False,
    )  # fmt: skip
    path = directory / "candles" / "BTCTRY.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["ts_ms,open,high,low,close,volume"]
    lines += [f"{T0 + i * MIN},{o},{h},{lo},{c},{v}" for i, (o, h, lo, c, v) in enumerate(bars)]
    path.write_text("\n".join(lines) + "\n")
    manifest = Manifest(
        symbols=("BTCTRY",),
        start_ms=T0,
        end_ms=T0 + len(bars) * MIN,
        resolution="1m",
        source="test",
        seed=None,
        rules={"BTCTRY": rules},
        files={"candles/BTCTRY.csv": FileEntry(sha256_file(path), len(bars))},
    )
    write_manifest(directory, manifest)
    return directory
