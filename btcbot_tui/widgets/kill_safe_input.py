"""An Input that leaves `k` to the app, so the kill switch works even while typing."""

from __future__ import annotations

from textual.widgets import Input

KILL_KEY = "k"


class KillSafeInput(Input):
    """A text field that never consumes the kill key.

    Textual drops an app binding whose key the focused widget may consume (any printable key for
    an Input). Refusing `k` here keeps the priority kill binding live with the cursor in this
    field; a lowercase `k` can therefore not be typed (confirmation phrases avoid it).
    """

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key == KILL_KEY:
            return False
        return super().check_consume_key(key, character)
