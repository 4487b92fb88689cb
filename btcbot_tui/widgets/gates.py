"""The gates pane: each live condition, green or red, with what to change."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_engine.gates import CONDITIONS, REMEDIES, GateDecision


class GatesPane(Static):
    """Renders a GateDecision; `show_snapshot(snapshot)` re-renders only when it changed."""

    DEFAULT_CSS = """
    GatesPane { border: round $primary; padding: 0 1; height: auto; }
    """

    def __init__(self, decision: GateDecision | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Gates"
        self._decision = decision

    def on_mount(self) -> None:
        if self._decision is not None:
            self.show(self._decision)

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Render the snapshot's gate decision (skipped when unchanged)."""
        if snapshot.gates != self._decision or not self.is_mounted:
            self.show(snapshot.gates)

    def show(self, decision: GateDecision) -> None:
        """Render the decision."""
        self._decision = decision
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(width=1)
        table.add_column(width=16, no_wrap=True)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for name in CONDITIONS:
            if name in decision.blocked_by:
                table.add_row(Text("✗", "bold red"), Text(name, "red"), Text(REMEDIES[name], "dim"))
            else:
                table.add_row(Text("✓", "bold green"), Text(name, "green"), Text("ok", "green"))
        submit = (
            Text("ALLOWED", "bold green")
            if decision.live_submit_allowed
            else Text("blocked", "bold red")
        )
        cancel = (
            Text("ALLOWED", "bold green")
            if decision.live_cancel_allowed
            else Text("blocked", "bold red")
        )
        summary = Text.assemble("live submit ", submit, "  ·  live cancel ", cancel)
        self.update(Group(table, summary))
