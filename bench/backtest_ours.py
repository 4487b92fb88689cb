"""One measured run of btcbot's backtest (the full engine path), printed as one JSON line.

    python bench/backtest_ours.py --dataset DIR [--bars N] [--every-step] [--out DB]
    python bench/backtest_ours.py --decisions --symbols 30 [--steps 300]

The first form times `run_backtest` on the benchmark's SMA cross (the same settings the tests
use: market-like orders, 0.1 % taker fee, no tax, limits that never block a signal) from a
loaded dataset to a flushed results database, and reports bars/s, CPU, peak memory (RSS) and
the fills and final equity to compare with the bare loop. Loading the dataset is timed apart.

The second form measures one full engine cycle's decision time (replay exchange: no network)
on a 30-pair synthetic market, every step a full cycle, and prints p50/p99.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

OPEN_LIMITS = {
    "cooldown_seconds": 0,
    "max_notional_per_order_try": "1000000000",
    "notional_cap_try_per_cycle": "1000000000",
    "max_position_try_per_symbol": "1000000000",
    "max_daily_loss_try": "1000000000",
    "max_drawdown_pct": "100",
    "max_consecutive_losses": 1_000_000,
    "min_order_notional_try": "0",
    "max_orders_per_cycle": 50,
}


def _settings():  # type: ignore[no-untyped-def]
    from btcbot_engine.config import Settings, load_settings

    for name in Settings.model_fields:
        os.environ.pop(name.upper(), None)
    os.chdir(tempfile.gettempdir())  # no stray .env
    return load_settings(None, **OPEN_LIMITS)


def _config(dataset: Path, out: Path, **changes):  # type: ignore[no-untyped-def]
    from btcbot_engine.backtest import BacktestConfig

    base = {
        "dataset": dataset,
        "out": out,
        "strategy": "sma_cross",
        "params": (("taker_bps", "500"),),
        "balances": (("TRY", "10000000"),),
        "fee_taker": Decimal("0.001"),
        "tax_share": Decimal(0),
        "force": True,
    }
    base.update(changes)
    return BacktestConfig(**base)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_cpu() -> float:
    # The backtest's row-building fork children and its writer process (all reaped by the
    # time run_backtest returns): their CPU is part of the cost, on the second core.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: argparse.Namespace) -> dict[str, object]:
    """Time one backtest."""
    from btcbot_engine.backtest import load_for, run_backtest

    dataset = Path(args.dataset)
    out = Path(args.out or Path(tempfile.mkdtemp(prefix="btcbot-bench-")) / "ours.db")
    settings = _settings()
    changes: dict[str, object] = {"every_step": args.every_step}
    started = time.perf_counter()
    probe = load_for(_config(dataset, out))
    if args.bars:
        series = next(iter(probe.series.values()))
        last = series.candles.ts[min(args.bars, len(series.candles)) - 1]
        changes["end_ms"] = last + probe.resolution_ms
    config = _config(dataset, out, **changes)
    data = load_for(config)
    load_s = time.perf_counter() - started
    gc.collect()
    wall0, cpu0, kids0 = time.perf_counter(), time.process_time(), _children_cpu()
    result = run_backtest(config, settings, dataset=data)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    kids = _children_cpu() - kids0
    s = result.summary
    return {
        "name": "btcbot" + (" (every step)" if args.every_step else ""),
        "bars": s.bars,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu + kids, 3),  # engine process + its writer processes
        "cpu_engine_seconds": round(cpu, 3),
        "bars_per_s": round(s.bars / wall, 1),
        "load_seconds": round(load_s, 3),
        "fills": s.trades,
        "final_equity": str(s.final_equity_try),
        "full_cycles": s.full_cycles,
        "fingerprint": result.fingerprint,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        # Max RSS of one child: a fork child's RSS counts the pages it shares with the engine.
        "children_peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "out": str(result.out),
    }


def decisions(args: argparse.Namespace) -> dict[str, object]:
    """p50/p99 of one full cycle on `args.symbols` pairs, every step a full cycle."""
    from btcbot_engine import cycle as cycle_mod
    from btcbot_engine.backtest import run_backtest
    from btcbot_engine.replay.synth import generate

    work = Path(tempfile.mkdtemp(prefix="btcbot-bench-30-"))
    names = [f"S{i:02d}TRY" for i in range(args.symbols - 2)] + ["BTCTRY", "ETHTRY"]
    generate(work / "data", seed=30, symbols=names, bars=args.steps + 40, tickers=True)
    durations: list[float] = []
    original = cycle_mod.TradingCycle.run

    async def timed(self, cycle_id):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        result = await original(self, cycle_id)
        durations.append(time.perf_counter() - t0)
        return result

    cycle_mod.TradingCycle.run = timed  # type: ignore[method-assign]
    settings = _settings()
    config = _config(work / "data", work / "out.db", every_step=True, svg=False)
    result = run_backtest(config, settings)
    warm = durations[40:]  # the first steps fill the SMA windows
    warm.sort()
    ms = [d * 1000 for d in warm]
    return {
        "name": f"cycle decision time, {args.symbols} pairs",
        "cycles": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        "max_ms": round(ms[-1], 3),
        "fills": result.summary.trades,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset")
    parser.add_argument("--bars", type=int, help="only the first N bars")
    parser.add_argument("--every-step", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--decisions", action="store_true")
    parser.add_argument("--symbols", type=int, default=30)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    report = decisions(args) if args.decisions else run_once(args)
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
