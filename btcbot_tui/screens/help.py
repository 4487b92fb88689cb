"""The help modal: every key with its binding id, and why a dimmed one is unavailable now."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

# (key, binding id, what it does) in the order the footer shows them.
KEY_HELP: tuple[tuple[str, str, str], ...] = (
    (
        "k",
        "kill",
        "KILL SWITCH: block new orders at once and cancel ours (works everywhere; "
        "ctrl+k too). Pressed again while killed: clear it, with a typed confirmation",
    ),
    ("r", "run_cycle", "run one trading cycle now"),
    ("s", "safe_mode", "safe mode on (instant) / off (asks first)"),
    ("c", "cancel_order", "cancel the order under the cursor in Open orders"),
    ("C", "cancel_all", "cancel all our open orders (asks first, naming how many)"),
    ("d", "doctor", "doctor screen (runs the checks)"),
    ("w", "wizard", "canary wizard: a guided first bounded live run"),
    ("?", "help", "this help"),
    ("q", "quit", "quit (asks first when LIVE orders are open); the engine stops cleanly"),
)


def help_table(blocked: dict[str, str]) -> Table:
    """Keys, ids and descriptions; a blocked action shows its reason in place, dimmed."""
    table = Table(box=None, padding=(0, 1), expand=True, show_header=True, header_style="bold")
    table.add_column("key", no_wrap=True)
    table.add_column("binding id", no_wrap=True, style="dim")
    table.add_column("what it does", ratio=1)
    for key, binding_id, text in KEY_HELP:
        reason = blocked.get(binding_id)
        if reason is None:
            table.add_row(Text(key, "bold"), binding_id, text)
        else:
            table.add_row(
                Text(key, "dim strike"),
                binding_id,
                Text.assemble(
                    (text, "dim"), ("\nunavailable: ", "dark_orange"), (reason, "italic")
                ),
            )
    return table


class HelpScreen(ModalScreen[None]):
    """Closes on ?, Esc or q."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help_close")]

    def __init__(self, blocked: dict[str, str]) -> None:
        super().__init__(classes="help")
        self._blocked = blocked

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = "Esc closes · keys can be remapped by binding id"
            yield Static(help_table(self._blocked), id="help-keys")

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
