"""The doctor pane: the last doctor checks, PASS/WARN/FAIL, with the remedy for each non-PASS."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from btcbot_engine.domain.snapshot import DoctorCheckView, EngineSnapshot

STATUS_STYLES = {"PASS": "bold green", "WARN": "bold dark_orange", "FAIL": "bold red"}


def doctor_table(checks: tuple[DoctorCheckView, ...]) -> Table | Text:
    """One line per check; a second, dim line with the remedy when it did not pass."""
    if not checks:
        return Text("no doctor run yet — press d", "dim")
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(width=4, no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    for check in checks:
        table.add_row(
            Text(check.status, STATUS_STYLES.get(check.status, "bold")),
            Text.assemble((check.name, "bold"), "  ", (check.detail, "dim")),
        )
        if check.status != "PASS" and check.remedy:
            table.add_row("", Text(f"→ {check.remedy}", "italic"))
    return table


class DoctorPane(Static):
    """Re-rendered only when the checks change."""

    DEFAULT_CSS = """
    DoctorPane { border: round $primary; height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Doctor"
        self._checks: tuple[DoctorCheckView, ...] | None = None

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Render the snapshot's doctor checks."""
        if snapshot.doctor == self._checks:
            return
        self._checks = snapshot.doctor
        self.update(doctor_table(snapshot.doctor))
        worst = {c.status for c in snapshot.doctor}
        self.border_subtitle = next((s for s in ("FAIL", "WARN", "PASS") if s in worst), "")
