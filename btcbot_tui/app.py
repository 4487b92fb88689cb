"""btcbot-tui entry point (placeholder)."""


def main() -> int:
    """Entry point."""
    return 0
