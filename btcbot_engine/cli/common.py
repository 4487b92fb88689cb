"""Shared pieces of the `btcbot` command line: exit codes, errors, colour, JSON, settings.

Exit codes: 0 ok, 1 the command ran but found a problem, 2 bad configuration or usage (one line
on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from btcbot_engine.config import Settings, load_settings

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code


def color(enabled: bool) -> Callable[[str, str], str]:
    """A painter that wraps text in ANSI colour codes when enabled."""
    codes = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}

    def paint(text: str, colour: str) -> str:
        return f"\x1b[{codes[colour]}m{text}\x1b[0m" if enabled else text

    return paint


def use_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def painter() -> Callable[[str, str], str]:
    """The painter for this process's stdout."""
    return color(use_color())


def print_json(document: Any) -> None:
    """Print one JSON document on stdout (Decimals and other objects as strings)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def settings_for(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Load settings for a one-shot command: logs below ERROR stay off the operator's screen."""
    from btcbot_engine.observability import configure_logging

    settings = load_settings(getattr(args, "env_file", None), **overrides)
    configure_logging("ERROR", secrets=settings.secret_values)
    return settings


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """The `--json` flag: one JSON document on stdout and nothing else there."""
    parser.add_argument("--json", action="store_true", help="print one JSON document only")
