"""Soak: the engine LIVE against the bundled simulator, 20 symbols, as fast as the rate limits
allow, for N minutes. Reports RSS, open file descriptors and threads at start and end (sampled
every minute), queue sizes, and the cycle-time distribution. A report, not a test.

    .venv/bin/python bench/soak.py --minutes 30            # the issue's run
    .venv/bin/python bench/soak.py --minutes 2 --out /tmp/soak.json

The simulator runs in a child process (`btcbot sim-exchange`), so the figures are the engine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from btcbot_engine.config import load_settings
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.auth import TEST_API_KEY, TEST_API_SECRET
from btcbot_engine.exchange.simulator.pairs import PAIRS
from btcbot_engine.observability import configure_logging


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    """Run the soak and print/write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=28481)
    parser.add_argument("--cycle-seconds", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    sim = subprocess.Popen(
        [
            sys.executable, "-m", "btcbot_engine.cli", "sim-exchange",
            "--port", str(args.port), "--ws-port", str(args.port + 1), "--seed", "21",
            "--balances", "TRY=1000000,USDT=50000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert sim.stdout is not None
    sim.stdout.readline()  # the banner: the server is up once it printed
    symbols = [p.name for p in PAIRS][:20]
    state = Path(tempfile.mkdtemp(prefix="btcbot-soak-"))
    settings = load_settings(
        None,
        _env_file=None,
        btcturk_base_url=f"http://127.0.0.1:{args.port}",
        btcturk_graph_url=f"http://127.0.0.1:{args.port}",
        btcturk_ws_url=f"ws://127.0.0.1:{args.port + 1}",
        btcturk_api_key=TEST_API_KEY,
        btcturk_api_secret=TEST_API_SECRET,
        btcturk_api_scopes="read,trade",
        state_db_path=str(state / "soak.db"),
        safe_mode=False,
        kill_switch=False,
        dry_run=False,
        live_trading=True,
        live_trading_ack="I_UNDERSTAND",
        universe_symbols=",".join(symbols),
        universe_max_size=20,
        max_orders_per_cycle=4,
        notional_cap_try_per_cycle=2000,
        max_position_try_per_symbol=5000,
        max_daily_loss_try=100000,
        max_drawdown_pct=50,
        cooldown_seconds=0,
        ttl_seconds=20,
        min_profit_bps=5,
        log_level="WARNING",
    )
    configure_logging("ERROR", secrets=settings.secret_values)
    durations: list[float] = []
    errors: list[str] = []
    samples: list[dict[str, float]] = []

    def on_snapshot(snap: EngineSnapshot) -> None:
        st = snap.status
        if st.last_cycle_ms is not None and snap.ts_ms >= st.last_cycle_ms:
            if st.last_cycle_duration_ms is not None and len(durations) < st.cycle_count:
                durations.append(float(st.last_cycle_duration_ms))
            if st.last_error:
                errors.append(st.last_error)

    engine = Engine(settings, on_snapshot=on_snapshot, command_name="bench soak")
    stop = threading.Event()

    def sampler() -> None:
        t0 = time.monotonic()
        while True:
            samples.append(
                {
                    "t_s": round(time.monotonic() - t0, 1),
                    "rss_mb": round(_rss_mb(), 1),
                    "fds": _fds(),
                    "threads": threading.active_count(),
                    "cycles": len(durations),
                    "pending_commands": len(engine._pending),
                }
            )
            if stop.wait(60):
                break
            if time.monotonic() - t0 >= args.minutes * 60:
                engine.stop()

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        engine.run(RunOptions(loop=True, cycle_seconds=args.cycle_seconds))
    finally:
        stop.set()
        thread.join(5)
        sim.terminate()
        sim.wait(10)
    samples.append(
        {
            "t_s": round(time.monotonic() - started, 1),
            "rss_mb": round(_rss_mb(), 1),
            "fds": _fds(),
            "threads": threading.active_count(),
            "cycles": len(durations),
            "pending_commands": len(engine._pending),
        }
    )
    tail = durations[len(durations) // 10 :]  # the first tenth warms caches
    report = {
        "minutes": round((time.monotonic() - started) / 60, 2),
        "symbols": len(symbols),
        "cycles": len(durations),
        "cycles_per_minute": round(len(durations) / max((time.monotonic() - started) / 60, 1e-9)),
        "cycle_ms_p50": _pct(tail, 0.5),
        "cycle_ms_p99": _pct(tail, 0.99),
        "cycle_ms_mean": round(statistics.fmean(tail), 1) if tail else None,
        "rss_mb_first_minute": samples[1]["rss_mb"] if len(samples) > 1 else samples[0]["rss_mb"],
        "rss_mb_end": samples[-1]["rss_mb"],
        "fds_start": samples[0]["fds"],
        "fds_end": samples[-1]["fds"],
        "threads_start": samples[0]["threads"],
        "threads_end": samples[-1]["threads"],
        "cycle_errors": len(errors),
        "first_errors": sorted(set(errors))[:5],
        "samples": samples,
    }
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
