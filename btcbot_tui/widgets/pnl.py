"""The PnL pane: realized, unrealized, fees, tax, equity, drawdown and an equity sparkline."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from btcbot_engine.domain.snapshot import EngineSnapshot, PnlView
from btcbot_tui.widgets.fmt import money, signed_money


def pnl_table(pnl: PnlView) -> Table:
    """The figures as a two-column grid."""
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_row("realized", signed_money(pnl.realized), "fees", Text(money(pnl.fees)))
    table.add_row("unrealized", signed_money(pnl.unrealized), "tax", Text(money(pnl.tax)))
    dd_style = "red" if pnl.drawdown_pct > 0 else "green"
    table.add_row(
        "equity",
        Text(money(pnl.equity), "bold"),
        "drawdown",
        Text(f"{pnl.drawdown_pct:.2f}%", dd_style),
    )
    return table


class PnlPane(Vertical):
    """Figures on top, the equity history as a sparkline below."""

    DEFAULT_CSS = """
    PnlPane { border: round $primary; height: auto; padding: 0 1; }
    PnlPane > Static { height: 3; }
    PnlPane > Sparkline { height: 2; margin-top: 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "PnL (TRY)"
        self._pnl: PnlView | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="pnl-figures")
        yield Sparkline([], id="equity-sparkline")

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Render (skipped when the figures did not change)."""
        pnl = snapshot.pnl
        if pnl == self._pnl:
            return
        self._pnl = pnl
        self.query_one("#pnl-figures", Static).update(pnl_table(pnl))
        # Floats only to scale the bars on screen; the figures above stay Decimal.
        self.query_one(Sparkline).data = [float(v) for v in pnl.equity_history]
        self.border_subtitle = f"peak {money(pnl.peak_equity)}"
