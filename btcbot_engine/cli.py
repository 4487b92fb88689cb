"""`btcbot` command line: thin handlers over the engine library."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Entry point (placeholder until the subcommands land)."""
    return 0
