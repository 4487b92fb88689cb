"""`btcbot` command line: thin handlers over the engine library.

Each command group lives in its own module with a `register(sub, common)` function; handlers
parse arguments, call one library function and print. Exit codes are in `common`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from btcbot_engine.cli.common import EXIT_OK, EXIT_USAGE, CliError
from btcbot_engine.config import ConfigError

#: Modules under btcbot_engine.cli that add subcommands, in help order.
COMMAND_MODULES = (
    "inspect_cmds",
    "run_cmd",
    "canary_cmd",
    "sim_cmd",
    "doctor_cmd",
    "drill_cmd",
    "ops_cmds",
    "report_cmds",
    "replay_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests and docs)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--env-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="read settings from this file instead of ./.env",
    )
    parser = argparse.ArgumentParser(
        prog="btcbot",
        description="Safety-first BTCTurk trading bot (headless commands).",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"btcbot_engine.cli.{name}").register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `btcbot` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"btcbot: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"btcbot: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("btcbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `btcbot report | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
