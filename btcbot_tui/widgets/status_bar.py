"""The status bar: last cycle time and duration, next cycle, rate budget, WS state, clock skew."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual.widgets import Static

from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_tui.widgets.fmt import clock


def status_text(snapshot: EngineSnapshot | None) -> Text:
    """One line; every age is measured from the snapshot's own timestamp."""
    if snapshot is None:
        return Text(" engine starting…", "dim")
    st = snapshot.status
    text = Text(" ")
    text.append(f"cycle #{st.cycle_count} ", "bold")
    text.append(f"{clock(st.last_cycle_ms)}Z")
    if st.last_cycle_duration_ms is not None:
        text.append(f" ({st.last_cycle_duration_ms} ms)")
    if st.next_cycle_ms is not None and st.next_cycle_ms > snapshot.ts_ms:
        text.append(f" · next in {(st.next_cycle_ms - snapshot.ts_ms) / 1000:.1f}s")
    used = st.rate_budget_used
    rate_style = "green" if used < Decimal("0.6") else "dark_orange" if used < 1 else "bold red"
    text.append(" · rate ")
    text.append(f"{used * 100:.0f}%", rate_style)
    ws_style = "green" if st.ws_state == "connected" else "dim" if st.ws_state == "off" else "red"
    text.append(" · ws ")
    text.append(st.ws_state, ws_style)
    if st.clock_skew_ms is not None:
        skew_style = "green" if abs(st.clock_skew_ms) < 1000 else "bold red"
        text.append(" · skew ")
        text.append(f"{st.clock_skew_ms:+d} ms", skew_style)
    error = snapshot.engine_error or st.last_error
    if error:
        text.append(" · ")
        text.append(error, "bold red")
    elif snapshot.messages:
        text.append(" · ")
        text.append(snapshot.messages[-1], "italic")
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


class StatusBar(Static):
    """Docked above the footer."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    """

    def show_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        """Render the snapshot's vitals."""
        self.update(status_text(snapshot), layout=False)  # one line: its size never changes
