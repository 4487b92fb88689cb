"""Text formatting shared by the panes: money, quantities, ages, clock times (display only)."""

from __future__ import annotations

import time
from decimal import Decimal

from rich.text import Text

AMBER_AT = Decimal("0.7")  # a quote older than 70% of the freshness limit turns amber


def money(value: Decimal | None, places: int = 2) -> str:
    """Thousands-separated fixed-point text; '-' for None."""
    if value is None:
        return "-"
    return f"{value:,.{places}f}"


def price(value: Decimal | None) -> str:
    """A price with just enough places for its size."""
    if value is None:
        return "-"
    places = 2 if abs(value) >= 10 else 4 if abs(value) >= Decimal("0.1") else 8
    return f"{value:,.{places}f}"


def qty(value: Decimal) -> str:
    """A quantity without trailing zeros (up to 8 places)."""
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return text or "0"


def signed_money(value: Decimal) -> Text:
    """Green when positive, red when negative."""
    style = "green" if value > 0 else "red" if value < 0 else ""
    sign = "+" if value > 0 else ""
    return Text(f"{sign}{money(value)}", style)


def age(ms: int | None) -> str:
    """Compact age of a quote: 420ms, 3.9s, 17m, 2h (fine-grained while it matters)."""
    if ms is None:
        return "-"
    if ms < 0:
        ms = 0
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return coarse_age(ms)


def coarse_age(ms: int) -> str:
    """Age of an order: 4s, 17m, 2h. Coarse on purpose: a row redraws only when it changes."""
    ms = max(ms, 0)
    if ms < 60_000:
        return f"{ms // 1000}s"
    if ms < 3_600_000:
        return f"{ms // 60_000}m"
    return f"{ms // 3_600_000}h"


def age_style(ms: int | None, limit_ms: int) -> str:
    """Green while fresh, amber when near the freshness limit, red past it (or unknown)."""
    if ms is None or ms > limit_ms:
        return "bold red"
    if Decimal(ms) >= Decimal(limit_ms) * AMBER_AT:
        return "dark_orange"
    return "green"


def clock(ms: int | None) -> str:
    """UTC wall time of a Unix-ms stamp (UTC keeps screens identical everywhere)."""
    if ms is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))
