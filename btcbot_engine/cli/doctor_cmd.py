"""`btcbot doctor`: the preflight, PASS / WARN / FAIL per check; exit 0, 1 (WARN) or 2 (FAIL)."""

from __future__ import annotations

import argparse
from pathlib import Path

from btcbot_engine.cli.common import add_json_flag, painter, print_json, settings_for
from btcbot_engine.config import ConfigError

_COLOURS = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run every check; print them (or one JSON document); exit with the worst status."""
    from btcbot_engine.doctor import DoctorReport, config_error_report, run_doctor

    env_file = Path(args.env_file) if getattr(args, "env_file", None) else None
    overrides = {"state_db_path": args.db} if args.db else {}
    report: DoctorReport
    try:
        settings = settings_for(args, **overrides)
    except ConfigError as exc:
        # Unusable settings are the doctor's first finding, not a reason to print nothing.
        report = config_error_report(str(exc), env_file=env_file)
        where = "settings not loaded"
    else:
        report = run_doctor(settings, env_file=env_file, dataset=args.dataset)
        where = f"db {settings.state_db_path}  exchange {settings.btcturk_base_url}"
    if args.json:
        print_json(report.to_json())
        return report.exit_code
    paint = painter()
    counts = report.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    print(f"doctor {paint(report.worst, _COLOURS[report.worst])}  ({summary})  {where}")
    for c in report.checks:
        print(f"  {paint(f'{c.status:<4}', _COLOURS[c.status])}  {c.name:<18} {c.detail}")
        if c.remedy:
            print(f"  {'':<4}  {'':<18} {paint('fix: ' + c.remedy, 'dim')}")
    return report.exit_code


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add doctor."""
    parser = sub.add_parser(
        "doctor",
        parents=[common],
        help="preflight: settings, database, lock, exchange, keys, orders, SLOs (exit 0/1/2)",
    )
    add_json_flag(parser)
    parser.add_argument("--db", metavar="PATH", default=None, help="database to check")
    parser.add_argument(
        "--dataset", metavar="PATH", type=Path, default=None, help="also validate a dataset"
    )
    parser.set_defaults(handler=cmd_doctor)
