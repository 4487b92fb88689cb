"""`btcbot run`: the trading loop, headless."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from btcbot_engine.cli.common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, CliError, painter
from btcbot_engine.cli.cycle_lines import cycle_line
from btcbot_engine.config import load_settings
from btcbot_engine.domain.snapshot import EngineSnapshot

# --- run ------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run the trading loop (or one cycle) until done or SIGINT/SIGTERM."""
    import signal

    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_engine.metrics_http import ExporterError
    from btcbot_engine.observability import configure_logging
    from btcbot_engine.store.db import StoreError
    from btcbot_engine.store.lock import InstanceLocked

    overrides = {"dry_run": True} if args.dry_run else {}
    settings = load_settings(getattr(args, "env_file", None), **overrides)
    configure_logging(settings.log_level, secrets=settings.secret_values)
    paint = painter()

    def summary(snap: EngineSnapshot) -> None:
        line = cycle_line(snap)
        if line is not None:
            print(line, flush=True)

    env_file = getattr(args, "env_file", None)
    engine = Engine(settings, on_snapshot=summary, env_file=Path(env_file) if env_file else None)
    from btcbot_engine.runtime_state import effective_gates

    gates = effective_gates(settings)
    metrics_url = None
    if settings.observability_metrics_exporter == "prometheus":
        host, port = settings.observability_prometheus_host, settings.observability_prometheus_port
        metrics_url = f"http://{host}:{port}/metrics"
    print(
        f"btcbot run: mode {paint(gates.mode.value, 'bold')} "
        f"blocked_by [{', '.join(gates.blocked_by)}] exchange {settings.btcturk_base_url} "
        f"db {settings.state_db_path}",
        flush=True,
    )
    allowed = {True: paint("ALLOWED", "red"), False: "blocked"}
    print(
        f"  live submit {allowed[gates.live_submit_allowed]}, "
        f"live cancel {allowed[gates.live_cancel_allowed]}; "
        f"metrics {metrics_url or 'not exported (OBSERVABILITY_METRICS_EXPORTER=none)'}",
        flush=True,
    )
    arm_log = logging.getLogger("btcbot_engine.arm_check")
    arm_log.setLevel(logging.INFO)  # the audit record is written whatever LOG_LEVEL says
    arm_log.info(
        "arm_check",
        extra={
            "gates": gates.to_json(),
            "exchange": settings.btcturk_base_url,
            "db": str(settings.state_db_path),
            "key_hint": settings.key_hint,
            "metrics_exporter": metrics_url,
        },
    )

    def on_signal(signum: int, _frame: object) -> None:
        print(f"btcbot run: signal {signum}, stopping after the current step", flush=True)
        engine.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    loop = not args.once
    options = RunOptions(
        loop=loop,
        max_cycles=1 if args.once else args.max_cycles,
        cycle_seconds=args.cycle_seconds or settings.cycle_seconds,
        jitter_seconds=args.jitter_seconds,
    )
    try:
        engine.run(options)
    except InstanceLocked as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CliError(f"database: {exc}", EXIT_USAGE) from None
    except ExporterError as exc:
        raise CliError(f"{exc} (OBSERVABILITY_PROMETHEUS_HOST/PORT)", EXIT_USAGE) from None
    print(f"btcbot run: stopped after {engine.cycles_run} cycle(s)", flush=True)
    last = engine.snapshot()
    if engine.cycles_run and last is not None and last.status.last_error:
        # Scripts (cron, CI) see that the last cycle could not do its work.
        print(f"btcbot run: the last cycle ended with an error: {last.status.last_error}")
        return EXIT_PROBLEM
    return EXIT_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add run."""
    run = sub.add_parser("run", parents=[common], help="run the trading loop")
    run.add_argument("--dry-run", action="store_true", help="force PAPER whatever the env says")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="run one cycle and exit")
    mode.add_argument("--loop", action="store_true", help="run cycles until stopped (default)")
    run.add_argument("--cycle-seconds", type=float, default=None, metavar="S")
    run.add_argument("--max-cycles", type=int, default=None, metavar="N")
    run.add_argument("--jitter-seconds", type=float, default=0.0, metavar="J")
    run.set_defaults(handler=cmd_run)
