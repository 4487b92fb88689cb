"""btcbot-tui: the operator's terminal UI.

This first version shows the effective safety gates; the live dashboard grows from here.
The app never evaluates safety itself: it renders what the engine library decided.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlparse

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from btcbot_engine.config import ConfigError, Settings, load_settings
from btcbot_engine.gates import GateDecision
from btcbot_tui.widgets.gates import GatesPane
from btcbot_tui.widgets.mode_banner import ModeBanner


class BtcbotApp(App[None]):
    """The btcbot terminal UI. Receives everything it shows; does no I/O of its own."""

    TITLE = "btcbot"
    BINDINGS = [Binding("q", "quit", "Quit", id="quit")]

    def __init__(self, decision: GateDecision, exchange_host: str, key_hint: str) -> None:
        super().__init__()
        self._decision = decision
        self._exchange_host = exchange_host
        self._key_hint = key_hint

    def compose(self) -> ComposeResult:
        yield ModeBanner(id="mode-banner")
        yield GatesPane(self._decision, id="gates")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ModeBanner).show(self._decision.mode, self._exchange_host, self._key_hint)


def _host(settings: Settings) -> str:
    parsed = urlparse(settings.btcturk_base_url)
    return parsed.netloc or settings.btcturk_base_url


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `btcbot-tui` console script."""
    parser = argparse.ArgumentParser(prog="btcbot-tui", description="btcbot terminal UI")
    parser.add_argument("--env-file", metavar="PATH", default=None)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env_file)
    except ConfigError as exc:
        print(f"btcbot-tui: config error: {exc}", file=sys.stderr)
        return 2
    from btcbot_engine.runtime_state import effective_gates
    from btcbot_engine.store.lock import InstanceLock, InstanceLocked, LockError

    lock = InstanceLock(settings.state_db_path, settings.account_key, command="btcbot-tui")
    try:
        lock.acquire()
    except InstanceLocked as exc:
        print(f"btcbot-tui: {exc}", file=sys.stderr)
        return 2
    except LockError as exc:
        print(f"btcbot-tui: cannot take the instance lock: {exc}", file=sys.stderr)
        return 2
    try:
        decision = effective_gates(settings)
        BtcbotApp(decision, _host(settings), settings.key_hint).run()
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
