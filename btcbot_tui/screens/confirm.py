"""Confirmation modals: yes/no for destructive actions, typed confirmation for the riskiest.

Both are `ModalScreen[bool]`: they dismiss with True only on an explicit yes. The app's kill
binding is a priority binding, so `k` still trips the kill switch while one is open (the text
field below does not swallow `k`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from btcbot_tui.widgets.kill_safe_input import KillSafeInput


class ConfirmScreen(ModalScreen[bool]):
    """Yes/No. `No` is focused, so Enter alone never confirms."""

    AUTO_FOCUS = "#no"  # (not focus() in on_mount: the dialog may be closed before it mounts)

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_no"),
    ]

    def __init__(self, title: str, body: str, *, yes: str = "Yes", danger: bool = True) -> None:
        super().__init__(classes="confirm")
        self._title = title
        self._body = body
        self._yes = yes
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self._title
            yield Static(self._body, id="question")
            with Horizontal(id="buttons"):
                yield Button(
                    f"{self._yes} (y)", id="yes", variant="error" if self._danger else "primary"
                )
                yield Button("No (n / esc)", id="no", variant="default")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Close with the answer."""
        self.dismiss(answer)


class TypedConfirmScreen(ModalScreen[bool]):
    """Confirms only when the operator types `phrase` exactly and presses Enter."""

    AUTO_FOCUS = "#phrase"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm_cancel")]

    def __init__(self, title: str, body: str, phrase: str) -> None:
        super().__init__(classes="confirm")
        self._title = title
        self._body = body
        self.phrase = phrase

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self._title
            yield Static(self._body, id="question")
            yield Static(f"Type [b]{self.phrase}[/b] and press Enter (Esc cancels):", id="prompt")
            yield KillSafeInput(placeholder=self.phrase, id="phrase")
            yield Static("", id="mismatch")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.phrase:
            self.dismiss(True)
        else:
            self.query_one("#mismatch", Static).update(
                f"[red]That is not {self.phrase!r}; nothing was changed.[/red]"
            )

    def action_cancel(self) -> None:
        """Close without confirming."""
        self.dismiss(False)
