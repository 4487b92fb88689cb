"""The universe pane: symbols with bid/ask, spread, data age and why each is in or out."""

from __future__ import annotations

from btcbot_engine.domain.snapshot import EngineSnapshot, UniverseRow
from btcbot_tui.widgets.fmt import age as fmt_age
from btcbot_tui.widgets.fmt import age_style, price
from btcbot_tui.widgets.row_table import Cells, Column, RowTable

COLUMNS = (
    Column("symbol", "symbol", 8),
    Column("bid", "bid", 12, right=True),
    Column("ask", "ask", 12, right=True),
    Column("spread", "bps", 6, right=True),
    Column("age", "age", 6, right=True),
    Column("why", "in/out", 20),
)


def universe_cells(row: UniverseRow, max_age_ms: int) -> Cells:
    """One row's cells; the age is coloured against the snapshot's freshness limit."""
    why = ("● " if row.included else "○ ") + row.reason.removeprefix("universe:")
    why_style = "green" if row.included else "dim"
    if row.quote_status != "fresh":
        why, why_style = f"{why} · {row.quote_status}", "bold red"
    spread = "-" if row.spread_bps is None else f"{row.spread_bps:.1f}"
    return (
        (row.symbol, "bold" if row.included else "dim"),
        (price(row.bid), ""),
        (price(row.ask), ""),
        (spread, ""),
        (fmt_age(row.age_ms), age_style(row.age_ms, max_age_ms)),
        (why, why_style),
    )


class UniversePane(RowTable):
    """Keyed by symbol; prices and ages update in place."""

    DEFAULT_CSS = """
    UniversePane { border: round $primary; height: auto; max-height: 14; overflow: hidden hidden; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, show_cursor=False, **kwargs)  # type: ignore[arg-type]
        self.border_title = "Universe"

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Follow the snapshot's universe."""
        limit = snapshot.max_data_age_ms
        self.sync((row.symbol, universe_cells(row, limit)) for row in snapshot.universe)
        included = sum(1 for r in snapshot.universe if r.included)
        subtitle = f"{included} in · limit {limit / 1000:g}s"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
