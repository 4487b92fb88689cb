"""`btcbot drill SCENARIO`: rehearse an incident against the bundled simulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import signal
import tempfile
from pathlib import Path

from btcbot_engine.cli.common import EXIT_OK, EXIT_USAGE, CliError, painter
from btcbot_engine.cli.cycle_lines import cycle_line
from btcbot_engine.domain.snapshot import EngineSnapshot


def cmd_drill(args: argparse.Namespace) -> int:
    """Start the simulator with the scenario's fault waves and run the engine against it."""
    from btcbot_engine.drill import SCENARIOS, DrillError, drill_environment, scenario
    from btcbot_engine.engine import Engine, RunOptions
    from btcbot_engine.observability import configure_logging

    if args.list or args.scenario is None:
        for s in SCENARIOS.values():
            print(f"{s.name:<11} {s.description}  (runbook: {s.playbook})")
        return EXIT_OK if args.list else EXIT_USAGE
    try:
        drill = scenario(args.scenario)
    except DrillError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    paint = painter()
    configure_logging("ERROR")
    with (
        tempfile.TemporaryDirectory(prefix="btcbot-drill-") as state_dir,
        drill_environment(drill.name, Path(state_dir), seed=args.seed) as (sim, settings, _),
    ):

        def show(snap: EngineSnapshot) -> None:
            line = cycle_line(snap, reasons=True)
            if line is not None:
                print(line, flush=True)

        engine = Engine(settings, demo=True, on_snapshot=show, command_name="btcbot drill")
        where = "LIVE against the simulator (test keys)" if drill.live_sim else "PAPER"
        print(
            f"btcbot drill {paint(drill.name, 'bold')}: {drill.description}\n"
            f"  engine {where}; simulator {sim.base_url} (nothing real is reachable)\n"
            f"  faults {dict(drill.faults)} for {drill.on_s:g} s of every {drill.period_s:g} s\n"
            f"  rehearse: docs/RUNBOOK.md, '{drill.playbook}'. Ctrl-C stops.",
            flush=True,
        )

        def on_signal(signum: int, _frame: object) -> None:
            engine.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        engine.run(
            RunOptions(
                loop=True,
                max_cycles=args.max_cycles,
                cycle_seconds=args.cycle_seconds or settings.cycle_seconds,
            )
        )
        print(f"btcbot drill: stopped after {engine.cycles_run} cycle(s)", flush=True)
    return EXIT_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add drill."""
    parser = sub.add_parser(
        "drill",
        parents=[common],
        help="rehearse an incident (429-storm, ws-storm, stale-data, lost-ack, clock-skew)",
    )
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--max-cycles", type=int, default=None, metavar="N")
    parser.add_argument("--cycle-seconds", type=float, default=None, metavar="S")
    parser.add_argument("--seed", type=int, default=7, help="simulator market seed")
    parser.set_defaults(handler=cmd_drill)
