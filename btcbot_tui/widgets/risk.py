"""The risk pane: the risk budget mode, the reasons that set it, daily loss used vs budget."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from btcbot_engine.domain.snapshot import EngineSnapshot, PnlView, RiskView
from btcbot_tui.widgets.fmt import money

RISK_STYLES = {"NORMAL": "bold green", "REDUCE_RISK_ONLY": "bold dark_orange"}
BAR_WIDTH = 20


def loss_bar(pnl: PnlView) -> Text:
    """`██████░░░░ 38.40 / 200.00 TRY` coloured by how much of the day's budget is used."""
    budget = pnl.daily_loss_budget
    used = max(pnl.loss_today, Decimal(0))
    share = (used / budget) if budget > 0 else Decimal(1 if used > 0 else 0)
    filled = min(BAR_WIDTH, int(share * BAR_WIDTH))
    style = "green" if share < Decimal("0.5") else "dark_orange" if share < 1 else "bold red"
    return Text.assemble(
        ("█" * filled, style),
        ("░" * (BAR_WIDTH - filled), "dim"),
        f" {money(used)} / {money(budget)}",
    )


def risk_renderable(risk: RiskView, pnl: PnlView) -> Group:
    """Mode, reasons (with details), loss bar."""
    lines = [Text.assemble("mode ", (risk.mode, RISK_STYLES.get(risk.mode, "bold red")))]
    if risk.reasons:
        for i, reason in enumerate(risk.reasons):
            detail = risk.details[i] if i < len(risk.details) else ""
            line = Text.assemble(("• ", "dim"), (reason, "dark_orange"))
            if detail:
                line.append(f"  {detail}", "dim")
            line.no_wrap, line.overflow = True, "ellipsis"
            lines.append(line)
    else:
        lines.append(Text("no limits hit", "dim"))
    lines.append(Text.assemble(("daily loss ", ""), loss_bar(pnl)))
    return Group(*lines)


class RiskPane(Static):
    """Re-rendered only when the risk view or the loss figures change."""

    DEFAULT_CSS = """
    RiskPane { border: round $primary; height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "Risk"
        self._key: object = None

    def show_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Render the snapshot's risk view."""
        pnl = snapshot.pnl
        key = (snapshot.risk, pnl.loss_today, pnl.daily_loss_budget)
        if key == self._key:
            return
        self._key = key
        self.update(risk_renderable(snapshot.risk, pnl))
