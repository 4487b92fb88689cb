"""The mode banner: always visible, colour-coded, names the exchange host and the key.

It follows the app by itself (the app's `snapshot`, `engine_failure` and `kill_sent`
reactives), so any screen can yield a `ModeBanner()` at its top and it stays correct.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from btcbot_engine.domain.snapshot import EngineSnapshot, RiskView
from btcbot_engine.gates import GateDecision, Mode

MODE_CLASSES = ("-observe", "-paper", "-killed", "-live", "-demo", "-failed")


def banner_mode(
    snapshot: EngineSnapshot | None, *, failure: str | None, kill_sent: bool, demo: bool
) -> tuple[str, str]:
    """(label, css class) for the banner. A crashed engine always reads OBSERVE_ONLY."""
    if failure is not None:
        return "OBSERVE_ONLY · ENGINE STOPPED", "-failed"
    if snapshot is None:
        return "OBSERVE_ONLY · starting", "-observe"
    mode = snapshot.mode
    killed = "KILL_SWITCH" in snapshot.gates.blocked_by
    if kill_sent and not killed:
        return "KILLED · kill sent", "-killed"
    if mode == "KILLED":
        return "KILLED", "-killed"
    if killed:  # safe mode outranks the kill in the gates' mode; the kill still shows
        return f"{mode} · KILL SWITCH ON", "-killed"
    if mode == "LIVE":
        return "LIVE", "-live"
    if mode == "PAPER":
        return ("DEMO · PAPER", "-demo") if (demo or snapshot.demo) else ("PAPER", "-paper")
    return "OBSERVE_ONLY", "-observe"


def banner_text(
    snapshot: EngineSnapshot | None,
    *,
    failure: str | None = None,
    kill_sent: bool = False,
    demo: bool = False,
) -> tuple[Text, str]:
    """The banner line and its css class."""
    label, css = banner_mode(snapshot, failure=failure, kill_sent=kill_sent, demo=demo)
    text = Text.assemble((f" {label} ", "bold reverse"), "  ")
    if snapshot is not None:
        text.append("exchange ")
        text.append(snapshot.exchange_host or "?", "bold")
        text.append("  key …")
        text.append(snapshot.key_hint, "bold")
        text.append("  risk ")
        text.append(snapshot.risk.mode, "bold")
    elif failure is not None:
        text.append("the engine stopped before its first snapshot")
    else:
        text.append("waiting for the engine's first snapshot")
    return text, css


def _legacy_snapshot(mode: Mode, host: str, key_hint: str, demo: bool) -> EngineSnapshot:
    gates = GateDecision(mode, mode is Mode.LIVE, mode is Mode.LIVE, ())
    risk = RiskView("NORMAL" if mode in (Mode.LIVE, Mode.PAPER) else "OBSERVE_ONLY")
    return EngineSnapshot(0, "", gates, host, key_hint, demo=demo, risk=risk)


class ModeBanner(Static):
    """One line, full width, in the mode's colour. Never hidden."""

    DEFAULT_CSS = """
    ModeBanner { height: 1; width: 100%; dock: top; }
    """

    def on_mount(self) -> None:
        app = self.app
        if hasattr(app, "snapshot"):
            for name in ("snapshot", "engine_failure", "kill_sent"):
                if hasattr(app, name):
                    self.watch(app, name, self._from_app, init=False)
            self._from_app()

    def _from_app(self, _value: object = None) -> None:
        app = self.app
        self.show(
            getattr(app, "snapshot", None),
            failure=getattr(app, "engine_failure", None),
            kill_sent=getattr(app, "kill_sent", False),
            demo=getattr(app, "demo", False),
        )

    def show(
        self,
        snapshot: EngineSnapshot | Mode | None,
        exchange_host: str | None = None,
        key_hint: str | None = None,
        *,
        failure: str | None = None,
        kill_sent: bool = False,
        demo: bool = False,
    ) -> None:
        """Render the banner for this snapshot.

        The older form `show(mode, exchange_host, key_hint, demo=...)` is still accepted: inside
        the app the banner then re-renders from the app's own state (which also knows about an
        engine crash or a kill just sent); elsewhere it renders the given mode.
        """
        if isinstance(snapshot, Mode):
            if hasattr(self.app, "snapshot"):
                self._from_app()
                return
            snapshot = _legacy_snapshot(snapshot, exchange_host or "", key_hint or "----", demo)
        text, css = banner_text(snapshot, failure=failure, kill_sent=kill_sent, demo=demo)
        for cls in MODE_CLASSES:
            self.set_class(cls == css, cls)
        self.update(text, layout=False)  # one line: its size never changes
