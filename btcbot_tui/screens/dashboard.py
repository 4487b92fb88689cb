"""The dashboard: every pane on one screen, rendered only from the app's snapshot reactive.

Two layouts from one DOM: at 120+ columns a left column (universe, orders, fills) beside a right
column (PnL, risk, gates, doctor); below that the same panes stacked in a scrollable body, the
trading panes first.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from btcbot_engine.domain.records import OrderRecord
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_tui.widgets.doctor_pane import DoctorPane
from btcbot_tui.widgets.fills import FillsPane
from btcbot_tui.widgets.gates import GatesPane
from btcbot_tui.widgets.mode_banner import ModeBanner
from btcbot_tui.widgets.orders import OrdersPane
from btcbot_tui.widgets.pnl import PnlPane
from btcbot_tui.widgets.risk import RiskPane
from btcbot_tui.widgets.status_bar import StatusBar
from btcbot_tui.widgets.universe import UniversePane


class DashboardScreen(Screen[None]):
    """The app's default screen."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self._footer_state: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        yield ModeBanner(id="mode-banner")
        yield Static("", id="engine-failure")
        with VerticalScroll(id="body"):
            with Vertical(id="trading", classes="column"):
                yield UniversePane(id="universe")
                yield OrdersPane(id="orders")
                yield FillsPane(id="fills")
            with Vertical(id="books", classes="column"):
                yield PnlPane(id="pnl")
                yield RiskPane(id="risk")
                yield GatesPane(id="gates")
                yield DoctorPane(id="doctor")
        yield StatusBar(id="status-bar")
        yield Footer(id="footer", compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self.show_snapshot)
        self.watch(self.app, "engine_failure", self._show_failure)
        # Focus without scrolling: at 80 columns the universe stays in view above the orders.
        self.query_one(OrdersPane).focus(scroll_visible=False)

    def _show_failure(self, failure: str | None) -> None:
        line = self.query_one("#engine-failure", Static)
        line.display = failure is not None
        if failure is not None:
            line.update(
                f" ENGINE STOPPED — {failure} — nothing is being traded; panes show the last "
                "snapshot. Restart btcbot-tui."
            )
            if getattr(self.app, "snapshot", None) is None:
                self.query_one(StatusBar).update(" engine stopped before its first snapshot")

    def show_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        """Update every pane from one snapshot, as one repaint."""
        status = self.query_one(StatusBar)
        if snapshot is None:
            status.show_snapshot(None)
            return
        with self.app.batch_update():
            self.query_one(UniversePane).show_snapshot(snapshot)
            self.query_one(OrdersPane).show_snapshot(snapshot)
            self.query_one(FillsPane).show_snapshot(snapshot)
            self.query_one(PnlPane).show_snapshot(snapshot)
            self.query_one(RiskPane).show_snapshot(snapshot)
            self.query_one(GatesPane).show_snapshot(snapshot)
            self.query_one(DoctorPane).show_snapshot(snapshot)
            status.show_snapshot(snapshot)
        self._refresh_footer_if_changed()

    def _refresh_footer_if_changed(self) -> None:
        # Re-drawing the footer rebuilds its key widgets: only do it when a dimmed/allowed
        # state actually changed, not on every snapshot.
        blocked = getattr(self.app, "blocked_reasons", None)
        state = tuple(sorted(blocked())) if blocked is not None else ()
        if state != self._footer_state:
            self._footer_state = state
            self.app.refresh_bindings()

    def selected_order(self) -> OrderRecord | None:
        """The order under the cursor in the open orders pane."""
        return self.query_one(OrdersPane).selected_order()

    def on_row_table_cursor_moved(self) -> None:
        # `c` depends on the selected row (an UNKNOWN order cannot be cancelled by id).
        self._refresh_footer_if_changed()
