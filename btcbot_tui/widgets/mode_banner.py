"""The mode banner: always visible, colour-coded, names the exchange host and the key."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from btcbot_engine.gates import Mode

MODE_STYLES = {
    Mode.OBSERVE_ONLY: "bold black on green",
    Mode.PAPER: "bold black on yellow",
    Mode.KILLED: "bold white on red",
    Mode.LIVE: "bold white on dark_red",
}


class ModeBanner(Static):
    """One line: the mode in its colour, the exchange host (a simulator is obvious) and key hint."""

    DEFAULT_CSS = """
    ModeBanner { height: 1; width: 100%; }
    """

    def show(self, mode: Mode, exchange_host: str, key_hint: str, *, demo: bool = False) -> None:
        """Render the banner."""
        label = f" {'DEMO · ' if demo else ''}{mode.value} "
        text = Text.assemble(
            (label, MODE_STYLES[mode]),
            ("  exchange ", "dim"),
            (exchange_host, "bold"),
            ("  key …", "dim"),
            (key_hint, "bold"),
        )
        self.update(text)
