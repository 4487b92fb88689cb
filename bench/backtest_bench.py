"""The backtest benchmark: btcbot against backtrader, NautilusTrader and a bare loop.

    /work/.venv/bin/python bench/backtest_bench.py [--bars 1000000] [--peer-python PATH]

On a seeded synthetic random walk of `--bars` one-minute BTCTRY bars (replay-init, seed 42,
candles only) every contender runs the same SMA cross (fast 10 / slow 30 of the close; buy a
fixed 0.01 BTC when flat and fast crosses above slow, sell it when fast crosses below; market
orders filled at the next bar's open; 0.1 % taker fee), each in its own process, one after
another on the same machine. It prints bars/s, the ratios, fills and final equity (which must
agree with the bare loop), peak memory, then how btcbot's time grows from 100k bars to the
full length, and the decision time of one full engine cycle over 30 pairs.

The peers run under `--peer-python` (default /work/bench-venv/bin/python, a separate venv with
`pip install backtrader nautilus_trader`); a peer that is not installed there is skipped.
Results are also written as JSON (`--json-out`). This is a report, not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_PEER_PYTHON = "/work/bench-venv/bin/python"


def _run(cmd: list[str], timeout: float = 3600) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"name": " ".join(cmd[1:3]), "skipped": (proc.stderr or "no output").strip()[-300:]}
    return json.loads(lines[-1])


def _dataset(path: Path, bars: int) -> Path:
    from btcbot_engine.replay.dataset import load_dataset
    from btcbot_engine.replay.synth import generate

    if not (path / "manifest.json").exists():
        print(f"generating {bars:,} bars into {path} (once) ...", flush=True)
        generate(path, seed=42, symbols=["BTCTRY"], bars=bars, tickers=False)
    load_dataset(path)  # checks it and warms the parse cache
    return path


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, help="dataset directory (default: a temp cache)")
    parser.add_argument(
        "--peer-python", default=os.environ.get("BTCBOT_BENCH_PYTHON", DEFAULT_PEER_PYTHON)
    )
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--no-decisions", action="store_true")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    data = args.data or Path("/tmp/btcbot-bench") / f"sma-{args.bars}-seed42"
    dataset = _dataset(data, args.bars)
    candles = dataset / "candles" / "BTCTRY.csv"
    py = sys.executable
    results: dict[str, Any] = {"bars": args.bars, "dataset": str(dataset), "when": time.ctime()}
    print(f"dataset {dataset}  ({args.bars:,} bars, 1m, BTCTRY, seed 42)\n", flush=True)

    runs = [
        _run([py, str(HERE / "backtest_bare.py"), "--dataset", str(dataset)]),
        _run([py, str(HERE / "backtest_ours.py"), "--dataset", str(dataset)]),
    ]
    peer_python = Path(args.peer_python)
    for peer in ("backtrader", "nautilus"):
        if args.skip_peers:
            continue
        if not peer_python.exists():
            runs.append({"name": peer, "skipped": f"{peer_python} not found"})
            continue
        runs.append(
            _run(
                [str(peer_python), str(HERE / "backtest_peers.py"), peer, "--candles", str(candles)]
            )
        )
    results["runs"] = runs
    ours = next(r for r in runs if r.get("name") == "btcbot")
    bare = runs[0]
    print(f"{'contender':34s} {'bars/s':>12} {'ours ÷ it':>10} {'seconds':>9} {'CPU s':>8} "
          f"{'CPU ÷':>7} {'fills':>7} {'final equity TRY':>20} {'peak MB':>8}")  # fmt: skip
    for r in runs:
        if "skipped" in r:
            print(f"{r['name']:34s} skipped: {r['skipped']}")
            continue
        ratio = ours["bars_per_s"] / r["bars_per_s"]
        cpu_ratio = r["cpu_seconds"] / ours["cpu_seconds"]
        print(
            f"{r['name']:34s} {_fmt(r['bars_per_s']):>12} {ratio:>9.2f}x {r['seconds']:>9.2f} "
            f"{r['cpu_seconds']:>8.2f} {cpu_ratio:>6.2f}x {r['fills']:>7} "
            f"{Decimal(str(r['final_equity'])):>20.2f} {r['peak_rss_mb']:>8.0f}"
        )
    print(
        "(bars/s and 'ours ÷ it' from wall time; 'CPU ÷' = its CPU seconds ÷ btcbot's, "
        "less sensitive to other jobs on the machine)"
    )
    same_fills = ours["fills"] == bare["fills"]
    cent = Decimal("0.01")
    same_equity = Decimal(ours["final_equity"]).quantize(cent) == Decimal(
        bare["final_equity"]
    ).quantize(cent)
    print(
        f"\nbtcbot vs bare loop: fills {'equal' if same_fills else 'DIFFER'}, final equity "
        f"{'equal to the cent' if same_equity else 'DIFFERS'}; btcbot CPU {ours['cpu_seconds']} s,"
        f" {ours['full_cycles']:,} full engine cycles, dataset load {ours['load_seconds']} s"
        " (parse cache warm)"
    )
    results["agreement"] = {"fills": same_fills, "equity_to_the_cent": same_equity}

    if not args.no_scaling:
        print("\nscaling (btcbot, same data, first N bars):")
        scaling = []
        for n in (100_000, 250_000, 500_000, 1_000_000):
            if n > args.bars:
                break
            r = _run(
                [py, str(HERE / "backtest_ours.py"), "--dataset", str(dataset), "--bars", str(n)]
            )
            scaling.append(r)
            per = r["seconds"] / r["bars"] * 1e6
            print(
                f"  {_fmt(r['bars']):>10} bars  {r['seconds']:>7.2f} s  "
                f"{_fmt(r['bars_per_s']):>9} bars/s  {per:5.1f} us/bar  "
                f"cpu {r['cpu_seconds']:.2f} s  peak {r['peak_rss_mb']:.0f} MB"
            )
        if len(scaling) >= 2:
            a, b = scaling[0], scaling[-1]
            growth = (b["cpu_seconds"] / a["cpu_seconds"]) / (b["bars"] / a["bars"])
            print(
                f"  CPU time per bar at {_fmt(b['bars'])} vs {_fmt(a['bars'])} bars: "
                f"x{growth:.2f} (1.00 = linear)"
            )
        results["scaling"] = scaling

    if not args.no_decisions:
        r = _run([py, str(HERE / "backtest_ours.py"), "--decisions", "--symbols", "30"])
        print(f"\n{r['name']}: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms over {r['cycles']} "
              "full cycles (replay exchange, no network)")  # fmt: skip
        results["decisions"] = r

    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
