"""`btcbot replay-init | replay-validate | replay-capture | replay-fetch | backtest | parity |
sweep`: datasets and backtests, thin handlers over btcbot_engine.replay, .backtest, .parity and
.sweep. rich (progress bars) is imported only here, lazily, and only on a terminal."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from btcbot_engine.cli.common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    CliError,
    add_json_flag,
    painter,
    print_json,
    settings_for,
)

EXIT_INTERRUPTED = 130

# --- shared helpers -------------------------------------------------------------------------


def parse_time(text: str, what: str) -> int:
    """ISO 8601 (naive = UTC) or Unix milliseconds -> Unix ms; CliError naming the option."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{what} {text!r} is not a time (use 2024-01-31, 2024-01-31T12:00Z or Unix ms)",
            EXIT_USAGE,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _symbols(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    from btcbot_engine.replay.synth import symbols_arg

    return symbols_arg(values)


@contextlib.contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[float, float], None] | None]:
    """A rich progress bar on stderr (a terminal only); yields the update callback or None."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=1.0)

        def update(done: float, total: float) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        yield update


@contextlib.contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """Ctrl-C sets the event (the run finishes its step and stops cleanly); a second Ctrl-C
    interrupts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("btcbot: stopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _problem_lines(problems: list[Any], paint: Callable[[str, str], str]) -> list[str]:
    lines = []
    for p in problems:
        tag = paint("error", "red") if p.severity == "error" else paint("warning", "yellow")
        lines.append(f"{p}  [{tag}]")
    return lines


# --- replay-init ------------------------------------------------------------------------------


def cmd_replay_init(args: argparse.Namespace) -> int:
    """Write a seeded synthetic dataset."""
    from btcbot_engine.replay.dataset import DatasetError
    from btcbot_engine.replay.synth import DEFAULT_START_MS, generate

    start = parse_time(args.start, "--start") if args.start else DEFAULT_START_MS
    symbols = _symbols(args.symbols) or ["BTCTRY"]
    if args.bars is None and args.days is None:
        args.days = 7.0
    try:
        with _progress(not args.json and not args.no_progress, "replay-init") as update:
            manifest = generate(
                Path(args.dataset),
                seed=args.seed,
                symbols=symbols,
                days=args.days,
                bars=args.bars,
                resolution=args.resolution,
                start_ms=start,
                tickers=not args.no_tickers,
                compress=args.gzip,
                progress=update,
            )
    except (ValueError, DatasetError) as exc:
        raise CliError(f"replay-init: {exc}", EXIT_USAGE) from None
    if args.json:
        print_json({"dataset": args.dataset, "manifest": manifest.to_json()})
        return EXIT_OK
    rows = sum(e.rows for n, e in manifest.files.items() if n.startswith("candles/"))
    print(
        f"wrote {args.dataset}: {', '.join(manifest.symbols)} {manifest.resolution} "
        f"{rows} bars, seed {manifest.seed}"
    )
    for name, entry in sorted(manifest.files.items()):
        print(f"  {name:28s} {entry.rows:>9} rows  sha256 {entry.sha256[:16]}…")
    return EXIT_OK


# --- replay-validate --------------------------------------------------------------------------


def cmd_replay_validate(args: argparse.Namespace) -> int:
    """Check a dataset; list every problem with its file and line."""
    from btcbot_engine.replay.dataset import ERROR, validate_dataset

    problems = validate_dataset(Path(args.dataset))
    errors = [p for p in problems if p.severity == ERROR]
    if args.json:
        print_json(
            {
                "dataset": args.dataset,
                "ok": not errors,
                "errors": len(errors),
                "warnings": len(problems) - len(errors),
                "problems": [
                    {"file": p.file, "line": p.line, "message": p.message, "severity": p.severity}
                    for p in problems
                ],
            }
        )
        return EXIT_PROBLEM if errors else EXIT_OK
    paint = painter()
    for line in _problem_lines(problems, paint):
        print(line)
    verdict = paint("INVALID", "red") if errors else paint("OK", "green")
    warnings = len(problems) - len(errors)
    print(f"{args.dataset}: {verdict} ({len(errors)} error(s), {warnings} warning(s))")
    return EXIT_PROBLEM if errors else EXIT_OK


# --- replay-capture / replay-fetch ------------------------------------------------------------


def cmd_replay_capture(args: argparse.Namespace) -> int:
    """Record the public feed (live or the simulator's) into a dataset, resumably."""
    import asyncio

    from btcbot_engine.replay.capture import CaptureError, capture
    from btcbot_engine.replay.dataset import DatasetError

    settings = settings_for(args)
    symbols = _symbols(args.symbols)
    if not symbols:
        raise CliError("replay-capture: give --symbols", EXIT_USAGE)
    try:
        with (
            _interruptible() as stop,
            _progress(not args.json and not args.no_progress, "capture") as update,
        ):
            report = asyncio.run(
                capture(
                    Path(args.dataset),
                    symbols=symbols,
                    minutes=args.minutes,
                    base_url=settings.btcturk_base_url,
                    graph_url=settings.btcturk_graph_url,
                    interval_s=args.interval_seconds,
                    resolution=args.resolution,
                    depth=args.depth,
                    timeout_s=settings.http_timeout_seconds,
                    should_stop=stop.is_set,
                    progress=update,
                )
            )
    except (CaptureError, DatasetError) as exc:
        raise CliError(f"replay-capture: {exc}") from None
    if args.json:
        print_json(
            {
                "dataset": args.dataset,
                "resumed": report.resumed,
                "polls": report.polls,
                "added": report.added,
                "skipped_tickers": report.skipped_tickers,
                "errors": report.errors,
                "manifest": report.manifest.to_json(),
            }
        )
        return EXIT_OK
    print(
        f"{'resumed' if report.resumed else 'wrote'} {args.dataset}: {report.polls} polls, "
        f"{report.skipped_tickers} unusable tickers skipped, {len(report.errors)} read errors"
    )
    for name, added in sorted(report.added.items()):
        print(f"  {name:28s} +{added} rows")
    return EXIT_OK


def cmd_replay_fetch(args: argparse.Namespace) -> int:
    """Seed a dataset from the graph API's klines."""
    import asyncio

    from btcbot_engine.replay.dataset import DatasetError
    from btcbot_engine.replay.fetch import FetchError, fetch

    settings = settings_for(args)
    symbols = _symbols(args.symbols)
    if not symbols:
        raise CliError("replay-fetch: give --symbols", EXIT_USAGE)
    from_ms = parse_time(args.from_, "--from")
    to_ms = parse_time(args.to, "--to")
    try:
        with _progress(not args.json and not args.no_progress, "fetch") as update:
            report = asyncio.run(
                fetch(
                    Path(args.dataset),
                    symbols=symbols,
                    from_ms=from_ms,
                    to_ms=to_ms,
                    resolution=args.resolution,
                    base_url=settings.btcturk_base_url,
                    graph_url=settings.btcturk_graph_url,
                    timeout_s=settings.http_timeout_seconds,
                    progress=update,
                )
            )
    except (FetchError, DatasetError) as exc:
        raise CliError(f"replay-fetch: {exc}") from None
    if args.json:
        print_json(
            {
                "dataset": args.dataset,
                "bars": report.bars,
                "rounded": report.rounded,
                "manifest": report.manifest.to_json(),
            }
        )
        return EXIT_OK
    print(f"wrote {args.dataset} from {report.manifest.source}:")
    for symbol, count in report.bars.items():
        print(f"  {symbol:10s} {count} {report.manifest.resolution} bars")
    return EXIT_OK


# --- backtest / parity / sweep ----------------------------------------------------------------


def _backtest_config(args: argparse.Namespace, settings: Any, out: Path) -> Any:
    from btcbot_engine.backtest import BacktestConfig, BacktestError, check_decimal, parse_params

    try:
        balances = args.balance or list(settings.paper_balances)
        pairs = []
        for item in balances:
            asset, sep, amount = item.partition("=")
            if not sep:
                raise BacktestError(f"--balance {item!r} is not ASSET=AMOUNT")
            pairs.append((asset.strip().upper(), amount.strip()))
        return BacktestConfig(
            dataset=Path(args.dataset),
            out=out,
            start_ms=parse_time(args.start, "--start") if args.start else None,
            end_ms=parse_time(args.end, "--end") if args.end else None,
            step_seconds=args.step_seconds,
            seed=args.seed,
            strategy=args.strategy,
            params=parse_params(args.param or []),
            symbols=tuple(_symbols(args.symbols) or ()) or None,
            balances=tuple(pairs),
            fee_maker=check_decimal(args.fee_maker, "--fee-maker"),
            fee_taker=check_decimal(args.fee_taker, "--fee-taker"),
            tax_share=check_decimal(args.tax_share, "--tax-share"),
            slippage_bps=check_decimal(args.slippage_bps, "--slippage-bps"),
            latency_ms=args.latency_ms,
            latency_jitter_ms=args.latency_jitter_ms,
            participation=check_decimal(args.participation, "--participation"),
            every_step=args.every_step,
            force=getattr(args, "force", False),
        )
    except BacktestError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _settings(args: argparse.Namespace) -> Any:
    overrides: dict[str, str] = {}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--set {item!r} is not NAME=VALUE", EXIT_USAGE)
        overrides[name.strip().lower()] = value.strip()
    return settings_for(args, **overrides)


def _default_out(dataset: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path("backtests") / f"{Path(dataset).resolve().name}-{stamp}"
    out, n = base.with_suffix(".db"), 1
    while out.exists():
        n += 1
        out = Path(f"{base}-{n}.db")
    return out


def _summary_lines(result: Any, paint: Callable[[str, str], str]) -> list[str]:
    s = result.summary
    ret = "-" if s.return_pct is None else f"{s.return_pct}%"
    sharpe = "-" if s.sharpe is None else f"{s.sharpe:.3f}"
    return [
        f"  window     {_iso(s.start_ms)} .. {_iso(s.end_ms)}  ({s.steps} steps, {s.bars} bars)",
        f"  equity     {s.initial_equity_try} -> {s.final_equity_try} TRY  return {ret}",
        f"  drawdown   {s.max_drawdown_pct}% max   sharpe {sharpe}   exposure {s.exposure_pct}%",
        f"  trades     {s.trades} fills   fees+tax {s.fees_try} TRY   "
        f"turnover {s.turnover_try} TRY",
        f"  engine     {s.full_cycles} full cycles, {s.bars_per_s:,.0f} bars/s, "
        f"{s.elapsed_s:.2f} s",
        f"  fingerprint {paint(result.fingerprint, 'bold')}",
    ]


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run one backtest on the live code path; print the summary and the fingerprint."""
    from btcbot_engine.backtest import BacktestError, run_backtest
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked

    settings = _settings(args)
    out = Path(args.out) if args.out else _default_out(args.dataset)
    config = _backtest_config(args, settings, out)
    try:
        with (
            _interruptible() as stop,
            _progress(not args.json and not args.no_progress, "backtest") as update,
        ):
            result = run_backtest(config, settings, progress=update, should_stop=stop.is_set)
    except BacktestError as exc:
        raise CliError(f"backtest: {exc}") from None
    except (StoreError, InstanceLocked) as exc:
        raise CliError(f"backtest: {exc}") from None
    code = EXIT_INTERRUPTED if result.interrupted else EXIT_OK
    if args.json:
        print_json(
            {
                "run_id": result.run_id,
                "fingerprint": result.fingerprint,
                "out": str(result.out),
                "svg": str(result.svg) if result.svg else None,
                "interrupted": result.interrupted,
                "summary": result.summary.to_json(),
                "warnings": [str(w) for w in result.warnings],
            }
        )
        return code
    paint = painter()
    print(f"backtest {result.run_id} {config.strategy} on {args.dataset}")
    for line in _summary_lines(result, paint):
        print(line)
    print(f"  results    {result.out}" + (f"   equity plot {result.svg}" if result.svg else ""))
    if result.warnings:
        print(f"  dataset    {len(result.warnings)} warning(s), e.g. {result.warnings[0]}")
    if result.interrupted:
        s = result.summary
        print(
            paint("interrupted", "yellow")
            + f" at step {s.steps} of {s.steps_planned}: the results database is consistent "
            "(every completed cycle is saved) and covers the window up to there"
        )
    return code


def cmd_parity(args: argparse.Namespace) -> int:
    """Run a backtest twice and compare, or compare it with a recorded run (--against)."""
    from btcbot_engine.backtest import BacktestError
    from btcbot_engine.parity import parity_against, parity_twice

    settings = _settings(args)
    if not args.start or not args.end:
        raise CliError("parity: give --start and --end", EXIT_USAGE)
    out = Path(args.out) if args.out else _default_out(args.dataset)
    config = _backtest_config(args, settings, out)
    try:
        with _progress(not args.json and not args.no_progress, "parity") as update:
            if args.against:
                tolerance = None
                if args.tolerance_seconds is not None:
                    tolerance = int(args.tolerance_seconds * 1000)
                report = parity_against(
                    config, settings, Path(args.against), tolerance_ms=tolerance, progress=update
                )
            else:
                report = parity_twice(config, settings, progress=update)
    except BacktestError as exc:
        raise CliError(f"parity: {exc}") from None
    if args.json:
        print_json(report.to_json())
        return EXIT_OK if report.identical else EXIT_PROBLEM
    paint = painter()
    if report.mode == "twice":
        print(f"run 1 fingerprint {report.fingerprints[0]}")
        print(f"run 2 fingerprint {report.fingerprints[1]}")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in report.compared.items())
        print(f"backtest fingerprint {report.fingerprints[0]}  ({counts})")
    if report.identical:
        print(paint("IDENTICAL", "green"))
        return EXIT_OK
    print(paint("DIVERGED", "red"))
    for d in report.divergences:
        print(f"  first {d.kind} divergence at #{d.index}:")
        print(f"    ours:   {d.ours.text if d.ours else '(ended)'}")
        print(f"    theirs: {d.theirs.text if d.theirs else '(ended)'}")
    return EXIT_PROBLEM


def cmd_sweep(args: argparse.Namespace) -> int:
    """Backtest every point of a parameter grid in parallel processes and rank them."""
    from btcbot_engine.backtest import BacktestError
    from btcbot_engine.sweep import (
        InlineExecutor,
        ProcessExecutor,
        build_jobs,
        parse_grid,
        rank,
        run_sweep,
    )

    settings = _settings(args)
    out_dir = Path(args.out_dir) if args.out_dir else _default_out(args.dataset).with_suffix("")
    config = _backtest_config(args, settings, out_dir / "base.db")
    try:
        grid = parse_grid(args.grid or [])
        jobs = build_jobs(config, settings, grid, out_dir)
        executor = InlineExecutor() if args.workers == 1 else ProcessExecutor(args.workers)
        with _progress(not args.json and not args.no_progress, "sweep") as update:
            done = [0]

            def on_result(_row: Any) -> None:
                done[0] += 1
                if update is not None:
                    update(done[0], len(jobs))

            rows = run_sweep(jobs, executor=executor, on_result=on_result)
        ranked = rank(rows, args.rank_by)
    except BacktestError as exc:
        raise CliError(f"sweep: {exc}") from None
    if args.json:
        print_json(
            {
                "rank_by": args.rank_by,
                "out_dir": str(out_dir),
                "results": [r.to_json() for r in ranked],
            }
        )
        return EXIT_OK if all(r.error is None for r in rows) else EXIT_PROBLEM
    print(f"sweep of {len(rows)} point(s) ranked by {args.rank_by} (results in {out_dir})")
    print(f"  {'#':>3} {'point':30s} {'return%':>9} {'maxdd%':>8} {'sharpe':>8} {'trades':>7}")
    for place, row in enumerate(ranked, 1):
        point = ",".join(f"{k}={v}" for k, v in row.point)
        if row.error:
            print(f"  {place:>3} {point:30s} error: {row.error}")
            continue
        s = row.summary
        sharpe = "-" if s.get("sharpe") is None else s["sharpe"]
        print(
            f"  {place:>3} {point:30s} {s.get('return_pct') or '-':>9} "
            f"{s.get('max_drawdown_pct'):>8} {sharpe:>8} {s.get('trades'):>7}"
        )
    return EXIT_OK if all(r.error is None for r in rows) else EXIT_PROBLEM


# --- registration ---------------------------------------------------------------------------


def _add_backtest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, metavar="DIR", help="the dataset directory")
    parser.add_argument("--start", metavar="T", help="first step (ISO 8601 or Unix ms)")
    parser.add_argument("--end", metavar="T", help="last step (ISO 8601 or Unix ms)")
    parser.add_argument(
        "--step-seconds", type=int, metavar="S", help="clock step (default: the bar length)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the latency jitter model")
    parser.add_argument("--strategy", default="sma_cross", help="registered strategy name")
    parser.add_argument(
        "--param", action="append", metavar="K=V", help="strategy parameter (repeatable)"
    )
    parser.add_argument(
        "--symbols", action="append", metavar="PAIRS", help="only these pairs (comma-separated)"
    )
    parser.add_argument(
        "--balance",
        action="append",
        metavar="ASSET=AMOUNT",
        help="starting balance (repeatable; default PAPER_BALANCES)",
    )
    parser.add_argument("--fee-maker", default="0.0005", metavar="RATE")
    parser.add_argument("--fee-taker", default="0.0009", metavar="RATE")
    parser.add_argument(
        "--tax-share", default="0.18", metavar="SHARE", help="tax as a share of the fee"
    )
    parser.add_argument(
        "--slippage-bps", default="0", metavar="BPS", help="taker fills move this far"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="order activation delay")
    parser.add_argument(
        "--latency-jitter-ms", type=int, default=0, help="seeded extra delay, up to"
    )
    parser.add_argument(
        "--participation", default="1", metavar="SHARE", help="share of a bar's volume we may take"
    )
    parser.add_argument(
        "--every-step", action="store_true", help="run the full cycle on every step (slower)"
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="override a setting for this run, e.g. COOLDOWN_SECONDS=0 (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_flag(parser)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the dataset and backtest commands."""
    p = sub.add_parser("replay-init", parents=[common], help="write a seeded synthetic dataset")
    p.add_argument("--dataset", required=True, metavar="DIR")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--symbols", action="append", metavar="PAIRS", help="default BTCTRY")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--days", type=float, help="length in days (default 7)")
    size.add_argument("--bars", type=int, help="length in bars per symbol")
    p.add_argument("--resolution", default="1m", help="bar length: 1s,5s,15s,30s,1m,5m,...,1d")
    p.add_argument("--start", metavar="T", help="first bar (default 2024-01-01T00:00Z)")
    p.add_argument("--gzip", action="store_true", help="write .csv.gz tables")
    p.add_argument("--no-tickers", action="store_true", help="candles only (no top-of-book table)")
    p.add_argument("--no-progress", action="store_true")
    add_json_flag(p)
    p.set_defaults(handler=cmd_replay_init)

    p = sub.add_parser(
        "replay-validate", parents=[common], help="check a dataset; every problem with file:line"
    )
    p.add_argument("--dataset", required=True, metavar="DIR")
    add_json_flag(p)
    p.set_defaults(handler=cmd_replay_validate)

    p = sub.add_parser(
        "replay-capture", parents=[common], help="record the public feed into a dataset (resumable)"
    )
    p.add_argument("--dataset", required=True, metavar="DIR")
    p.add_argument("--symbols", action="append", required=True, metavar="PAIRS")
    p.add_argument("--minutes", type=float, required=True, help="how long to record this session")
    p.add_argument("--interval-seconds", type=float, default=5.0, help="poll period (default 5)")
    p.add_argument("--resolution", default="1m", help="bar length of the candles (default 1m)")
    p.add_argument("--depth", type=int, default=10, help="book levels per side (default 10)")
    p.add_argument("--no-progress", action="store_true")
    add_json_flag(p)
    p.set_defaults(handler=cmd_replay_capture)

    p = sub.add_parser(
        "replay-fetch", parents=[common], help="seed a dataset from the graph API's klines"
    )
    p.add_argument("--dataset", required=True, metavar="DIR")
    p.add_argument("--symbols", action="append", required=True, metavar="PAIRS")
    p.add_argument("--from", dest="from_", required=True, metavar="T")
    p.add_argument("--to", required=True, metavar="T")
    p.add_argument("--resolution", default="1m", help="1m,5m,15m,30m,1h,4h,1d (default 1m)")
    p.add_argument("--no-progress", action="store_true")
    add_json_flag(p)
    p.set_defaults(handler=cmd_replay_fetch)

    p = sub.add_parser(
        "backtest", parents=[common], help="run the trading cycle over a dataset (simulated clock)"
    )
    _add_backtest_options(p)
    p.add_argument(
        "--out", metavar="DB", help="results database (default backtests/<dataset>-<time>.db)"
    )
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(handler=cmd_backtest)

    p = sub.add_parser(
        "parity", parents=[common], help="backtest twice (or against a recorded run) and compare"
    )
    _add_backtest_options(p)
    p.add_argument("--against", metavar="DB", help="a paper/live run's database to compare with")
    p.add_argument(
        "--tolerance-seconds",
        type=float,
        help="with --against: how far apart in time matching entries may be (default one step)",
    )
    p.add_argument("--out", metavar="DB", help="results database of the --against backtest")
    p.set_defaults(handler=cmd_parity)

    p = sub.add_parser(
        "sweep", parents=[common], help="backtest a parameter grid in parallel and rank it"
    )
    _add_backtest_options(p)
    p.add_argument(
        "--grid", action="append", metavar="K=A,B,C", help="values to try (repeatable; product)"
    )
    p.add_argument("--workers", type=int, default=0, help="processes (default: CPU count)")
    p.add_argument("--rank-by", default="sharpe", help="sharpe, return, drawdown, trades, equity")
    p.add_argument("--out-dir", metavar="DIR", help="where each point's database goes")
    p.set_defaults(handler=cmd_sweep)
