"""The fills pane: newest first, with fee and tax; a bounded number of rows."""

from __future__ import annotations

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_tui.widgets.fmt import clock, money, price, qty
from btcbot_tui.widgets.row_table import Cells, Column, RowTable

MAX_ROWS = 50  # the snapshot carries up to 200; more than a screenful is never drawn

COLUMNS = (
    Column("time", "time", 8),
    Column("symbol", "symbol", 8),
    Column("side", "side", 4),
    Column("price", "price", 12, right=True),
    Column("qty", "qty", 11, right=True),
    Column("fee", "fee", 7, right=True),
    Column("tax", "tax", 6, right=True),
)


def fill_cells(fill: Fill) -> Cells:
    """One fill's cells (its time in UTC)."""
    return (
        (clock(fill.timestamp_ms), ""),
        (fill.symbol, ""),
        (fill.side.value, "green" if fill.side is Side.BUY else "red"),
        (price(fill.price), ""),
        (qty(fill.quantity), ""),
        (money(fill.fee), ""),
        (money(fill.tax), ""),
    )


class FillsPane(RowTable):
    """Keyed by trade id, newest first; the oldest drop off the bottom."""

    DEFAULT_CSS = """
    FillsPane { border: round $primary; height: 1fr; }
    FillsPane:focus { border: round $accent; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)  # type: ignore[arg-type]
        self.border_title = "Fills"
        self._head: tuple[int, int] | None = None
        self._cache: dict[int, Cells] = {}

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Follow the newest fills (skipped when the newest fill is the same as last time)."""
        fills = snapshot.recent_fills[:MAX_ROWS]  # the engine sends them newest first
        head = (len(snapshot.recent_fills), fills[0].trade_id if fills else 0)
        if head == self._head:
            return
        self._head = head
        cache = {f.trade_id: self._cache.get(f.trade_id) or fill_cells(f) for f in fills}
        self._cache = cache
        self.sync((str(tid), cells) for tid, cells in cache.items())
        self.border_subtitle = f"{len(snapshot.recent_fills)} recent · newest first"
