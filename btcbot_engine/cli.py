"""`btcbot` command line: thin handlers over the engine library.

Handlers parse arguments, call one library function and print. Exit codes: 0 ok, 1 the command
ran but found a problem, 2 bad configuration or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from btcbot_engine.config import ConfigError, Settings, load_settings

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code


def _color(enabled: bool) -> Callable[[str, str], str]:
    codes = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}

    def paint(text: str, color: str) -> str:
        return f"\x1b[{codes[color]}m{text}\x1b[0m" if enabled else text

    return paint


def _use_color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "env_file", None))


# --- gates ----------------------------------------------------------------------------------


def cmd_gates(args: argparse.Namespace) -> int:
    """Print the effective safety gates."""
    from btcbot_engine.gates import CONDITIONS, REMEDIES
    from btcbot_engine.runtime_state import effective_gates

    decision = effective_gates(_settings(args))
    if args.json:
        _print_json(decision.to_json())
        return EXIT_OK
    paint = _color(_use_color())
    mode_color = {"LIVE": "red", "PAPER": "yellow", "KILLED": "red"}.get(decision.mode, "green")
    print(
        f"mode {paint(decision.mode.value, mode_color)}  "
        f"live submit {'ALLOWED' if decision.live_submit_allowed else 'blocked'}  "
        f"live cancel {'ALLOWED' if decision.live_cancel_allowed else 'blocked'}"
    )
    for name in CONDITIONS:
        if name in decision.blocked_by:
            print(
                f"  {paint('✗', 'red')} {name:<17} {paint('blocks live', 'red')}  {REMEDIES[name]}"
            )
        else:
            print(f"  {paint('✓', 'green')} {name:<17} {paint('ok', 'green')}")
    return EXIT_OK


# --- sim-exchange ---------------------------------------------------------------------------


def _add_sim_exchange(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from btcbot_engine.exchange.simulator import command as sim_command

    parser = sub.add_parser(
        "sim-exchange",
        parents=[common],
        help="run the bundled BTCTurk-compatible simulator on 127.0.0.1",
    )
    sim_command.add_arguments(parser)
    parser.set_defaults(handler=sim_command.run, needs_settings=False)


# --- parser ---------------------------------------------------------------------------------


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

    gates = sub.add_parser("gates", parents=[common], help="show the effective safety gates")
    gates.add_argument("--json", action="store_true", help="print JSON only")
    gates.set_defaults(handler=cmd_gates)

    _add_sim_exchange(sub, common)
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


if __name__ == "__main__":
    raise SystemExit(main())
