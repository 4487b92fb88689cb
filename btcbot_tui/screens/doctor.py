"""The doctor screen (`d`): the last doctor checks, PASS/WARN/FAIL, with a remedy for each problem.

Renders only from engine snapshots. `r` asks the engine to run the checks again (`RunDoctor`)
and shows "running…" until a snapshot newer than the request arrives. The checks themselves live
in the engine (`btcbot_engine/doctor.py`); this screen never touches the network or the database.
"""

from __future__ import annotations

from collections import Counter

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from btcbot_engine.commands import RunDoctor
from btcbot_engine.domain.snapshot import DoctorCheckView, EngineSnapshot
from btcbot_tui.widgets.doctor_pane import STATUS_STYLES
from btcbot_tui.widgets.mode_banner import ModeBanner

_RANK = {"PASS": 0, "WARN": 1, "FAIL": 2}


def worst_status(checks: tuple[DoctorCheckView, ...]) -> str | None:
    """The worst status among the checks (FAIL > WARN > PASS); None when there are none.

    An unknown status counts as FAIL: fail closed.
    """
    if not checks:
        return None
    return max((c.status if c.status in _RANK else "FAIL" for c in checks), key=_RANK.__getitem__)


def status_counts(checks: tuple[DoctorCheckView, ...]) -> Text:
    """'3 PASS · 1 WARN · 1 FAIL', each count in its colour."""
    counts = Counter(c.status if c.status in _RANK else "FAIL" for c in checks)
    parts: list[tuple[str, str] | str] = []
    for status in ("PASS", "WARN", "FAIL"):
        if parts:
            parts.append(("  ·  ", "dim"))
        parts.append((f"{counts.get(status, 0)} {status}", STATUS_STYLES[status]))
    return Text.assemble(*parts)


def render_checks(checks: tuple[DoctorCheckView, ...]) -> RenderableType:
    """One row per check, problems first (FAIL, WARN, then PASS; otherwise in the engine's
    order): status badge, name, detail, and the remedy under each non-PASS check."""
    if not checks:
        return Text("No doctor results yet.", "dim")
    checks = tuple(sorted(checks, key=lambda c: -_RANK.get(c.status, 2)))
    table = Table.grid(padding=(0, 2), expand=True)
    table.add_column(width=4, no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column(ratio=1)
    for check in checks:
        style = STATUS_STYLES.get(check.status, STATUS_STYLES["FAIL"])
        badge = Text(check.status[:4], style)
        detail = Text(check.detail)
        if check.status != "PASS":
            remedy = check.remedy or "no remedy given: see docs/RUNBOOK.md"
            detail = Text.assemble(detail, "\n", ("→ ", "bold"), (remedy, "italic"))
        table.add_row(badge, Text(check.name, "bold"), detail)
    return table


class DoctorChecks(Static):
    """The doctor checks as a table; `show(checks)` re-renders (cheap)."""

    DEFAULT_CSS = """
    DoctorChecks { height: auto; }
    """

    def show(self, checks: tuple[DoctorCheckView, ...]) -> None:
        """Render the checks."""
        self.update(render_checks(checks))


class DoctorRequest:
    """One RunDoctor request: pending until a snapshot newer than the request arrives."""

    def __init__(self) -> None:
        self._since: int | None = None

    @property
    def pending(self) -> bool:
        """True while we wait for the engine to publish newer results."""
        return self._since is not None

    def start(self, snapshot: EngineSnapshot | None) -> None:
        """Note the request, timed by the latest snapshot's own clock (never the UI's)."""
        self._since = snapshot.ts_ms if snapshot is not None else -1

    def observe(self, snapshot: EngineSnapshot | None) -> None:
        """Clear the pending state once a newer snapshot is seen."""
        if self._since is not None and snapshot is not None and snapshot.ts_ms > self._since:
            self._since = None


class DoctorScreen(ModalScreen[None]):
    """The last doctor checks; `r` re-runs them, escape closes."""

    BINDINGS = [
        Binding("r", "rerun", "Re-run checks", id="doctor.rerun"),
        Binding("escape", "close", "Close", id="doctor.close"),
    ]

    DEFAULT_CSS = """
    DoctorScreen { align: center top; }
    DoctorScreen > #doctor-box {
        width: 100%; height: 100%;
        background: $surface;
    }
    #doctor-head { height: auto; padding: 0 1; }
    #doctor-scroll { height: 1fr; border: round $primary; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._request = DoctorRequest()
        self._checks: tuple[DoctorCheckView, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical(id="doctor-box"):
            yield ModeBanner(id="doctor-banner")  # follows the app's state by itself
            yield Static(id="doctor-head")
            with VerticalScroll(id="doctor-scroll"):
                yield DoctorChecks(id="doctor-checks")
            yield Footer()

    def on_mount(self) -> None:
        self.query_one("#doctor-scroll").border_title = "Doctor"
        self._run()  # show the last results, marked running…, until fresh ones arrive
        self.watch(self.app, "snapshot", self._on_snapshot)

    def _latest(self) -> EngineSnapshot | None:
        return getattr(self.app, "snapshot", None)

    def _on_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        self._request.observe(snapshot)
        if snapshot is not None:
            self._checks = snapshot.doctor
        self.query_one(DoctorChecks).show(self._checks)
        self._render_head()

    def _render_head(self) -> None:
        if self._request.pending:
            state = Text("running… (waiting for the engine's results)", "bold yellow")
        elif not self._checks:
            state = Text("no results", "dim")
        else:
            worst = worst_status(self._checks) or "PASS"
            verdict = {
                "PASS": ("all checks pass", "bold green"),
                "WARN": ("warnings: read each remedy", "bold yellow"),
                "FAIL": ("FAIL: fix the remedies before any live run", "bold red"),
            }[worst]
            state = Text(verdict[0], verdict[1])
        head = Text.assemble(status_counts(self._checks), "   ", state)
        self.query_one("#doctor-head", Static).update(head)

    def _run(self) -> None:
        self._request.start(self._latest())
        self.app.engine.submit(RunDoctor())  # type: ignore[attr-defined]
        if self.is_mounted:
            self._render_head()

    def action_rerun(self) -> None:
        """Ask the engine to run the doctor checks again."""
        self._run()

    def action_close(self) -> None:
        """Close the screen."""
        self.dismiss(None)
