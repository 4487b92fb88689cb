"""btcbot-tui: the operator's terminal UI, a thin client of the engine facade.

Threads (see shared/design.md): the engine's `run()` blocks in a Textual thread worker with its
own asyncio loop, lock and store; it hands each immutable snapshot to `_on_engine_snapshot`
(engine thread), which only posts a `SnapshotReady` message. The UI thread sets the `snapshot`
reactive from it and the panes render from that; it never touches the network or SQLite.
Commands go the other way through the facade's thread-safe `submit`/`kill`/`stop`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from textual.actions import parse as parse_action
from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from btcbot_engine.commands import (
    CancelAll,
    CancelOrder,
    ClearKill,
    RunOneCycle,
    SetSafeMode,
)
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_engine.engine import RunOptions
from btcbot_engine.observability import redact
from btcbot_tui.facade import EngineFacade, Unsubscribe
from btcbot_tui.messages import SnapshotReady
from btcbot_tui.permissions import EngineState, blocked_actions, is_killed, is_safe_mode
from btcbot_tui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from btcbot_tui.screens.dashboard import DashboardScreen
from btcbot_tui.screens.help import HelpScreen

log = logging.getLogger(__name__)

CLEAR_KILL_PHRASE = "CLEAR"
ENGINE_STOP_TIMEOUT_S = 30.0
BLOCKABLE = ("run_cycle", "safe_mode", "cancel_order", "cancel_all")
LABELS = {
    "run_cycle": "Run cycle",
    "safe_mode": "Safe mode",
    "cancel_order": "Cancel order",
    "cancel_all": "Cancel all",
}


class BtcbotApp(App[None]):
    """The btcbot terminal UI. Receives its engine facade; does no I/O of its own."""

    TITLE = "btcbot"
    CSS_PATH = "styles/app.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        # Priority: checked before any focused widget or screen, on every screen and modal.
        Binding("k", "kill", "KILL", id="kill", priority=True),
        Binding("ctrl+k", "kill", "Kill", id="kill_ctrl", priority=True, show=False),
        Binding("r", "run_cycle", "Cycle", id="run_cycle"),
        Binding("s", "safe_mode", "Safe", id="safe_mode"),
        Binding("c", "cancel_order", "Cancel", id="cancel_order"),
        Binding("C", "cancel_all", "Cancel all", id="cancel_all"),
        Binding("d", "doctor", "Doctor", id="doctor"),
        Binding("w", "wizard", "Canary", id="wizard"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    # always_update: comparing two snapshots field by field would cost more than rendering.
    # repaint=False: the panes repaint what changed; an app-level repaint redraws every line.
    snapshot: reactive[EngineSnapshot | None] = reactive(None, always_update=True, repaint=False)
    engine_failure: reactive[str | None] = reactive(None, repaint=False)
    kill_sent: reactive[bool] = reactive(False, repaint=False)

    def __init__(
        self,
        engine: EngineFacade,
        *,
        demo: bool = False,
        run_options: RunOptions | None = None,
        start_engine: bool = True,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.demo = demo
        self._run_options = run_options
        self._start_engine = start_engine
        self._engine_worker: Worker[None] | None = None
        self._engine_done = threading.Event()
        self._engine_running = False
        self._unsubscribe: Unsubscribe | None = None
        self._blocked_cache: tuple[object, dict[str, str]] | None = None
        # Bumped by every kill: a dialog opened before it can no longer confirm anything.
        self._kill_epoch = 0
        # Snapshot-post -> on-screen latencies in ms (the bench reads these).
        self.render_latencies_ms: deque[float] = deque(maxlen=10_000)
        self.snapshots_shown = 0
        self._snapshot_seq = 0  # bumped on every new snapshot (keys the blocked-actions cache)

    def watch_snapshot(self) -> None:
        self._snapshot_seq += 1

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen()

    # --- engine life cycle ------------------------------------------------------------------

    def on_mount(self) -> None:
        self._unsubscribe = self.engine.subscribe(self._on_engine_snapshot)
        initial = self.engine.snapshot()
        if initial is not None:
            self.snapshot = initial
        if self._start_engine:
            self._engine_running = True
            self._engine_worker = self.run_worker(
                self._run_engine, name="engine", group="engine", thread=True, exit_on_error=False
            )

    def _run_engine(self) -> None:
        """The worker thread: the engine's blocking run (its own asyncio loop inside)."""
        try:
            self.engine.run(self._run_options)
        finally:
            self._engine_done.set()

    def _on_engine_snapshot(self, snapshot: EngineSnapshot) -> None:
        """Engine thread: hand the snapshot over; never touch a widget here."""
        self.post_message(SnapshotReady(snapshot, time.perf_counter_ns()))

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.snapshot = message.snapshot
        self.snapshots_shown += 1
        if self.kill_sent and is_killed(message.snapshot):
            self.kill_sent = False
        if message.posted_ns:
            posted = message.posted_ns
            self.call_after_refresh(
                lambda: self.render_latencies_ms.append((time.perf_counter_ns() - posted) / 1e6)
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._engine_worker:
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self._engine_running = False
            text = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
            self.engine_failure = redact(text)[:300]
            log.error("engine crashed: %s", self.engine_failure)
            self._refresh_footer()
        elif event.state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
            self._engine_running = False
            self._refresh_footer()

    def _refresh_footer(self) -> None:
        # The worker may end while the app is shutting down, after its screens are gone.
        if self.screen_stack:
            self.refresh_bindings()

    @property
    def engine_done(self) -> bool:
        """True once the engine's run() has returned (or was never started)."""
        return self._engine_done.is_set() or self._engine_worker is None

    def stop_engine(self, timeout: float = ENGINE_STOP_TIMEOUT_S) -> bool:
        """Blocking: ask the engine to stop and wait for its thread; True when it ended."""
        self.engine.stop()
        if self._engine_worker is None:
            return True
        return self._engine_done.wait(timeout)

    async def on_unmount(self) -> None:
        # Stop the engine before the process tries to exit: a thread still inside run()
        # would keep it alive after the terminal is restored.
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.engine.stop()
        if self._engine_worker is not None and not self._engine_done.is_set():
            await asyncio.to_thread(self._engine_done.wait, ENGINE_STOP_TIMEOUT_S)

    # --- what is allowed now ----------------------------------------------------------------

    def blocked_reasons(self) -> dict[str, str]:
        """{action: reason} for the actions the current snapshot forbids (cached per state)."""
        dashboard = self._dashboard()
        selected = dashboard.selected_order() if dashboard is not None else None
        key = (
            self._snapshot_seq,
            selected.client_id if selected is not None else None,
            selected.state if selected is not None else None,
            self.engine_failure,
            self._engine_running or not self._start_engine,
        )
        if self._blocked_cache is not None and self._blocked_cache[0] == key:
            return self._blocked_cache[1]
        settings = self.engine.settings
        state = EngineState(
            running=self._engine_running or not self._start_engine,
            failure=self.engine_failure,
            env_safe_mode=bool(getattr(settings, "safe_mode", False)),
            env_kill_switch=bool(getattr(settings, "kill_switch", False)),
        )
        reasons = blocked_actions(self.snapshot, state, selected=selected)
        self._blocked_cache = (key, reasons)
        return reasons

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_order" and not isinstance(self.screen, DashboardScreen):
            return False  # the selection lives on the dashboard
        if action in BLOCKABLE and action in self.blocked_reasons():
            return None  # shown dimmed, with the reason on press and in help
        return True

    async def run_action(self, action, default_namespace=None, namespaces=None):  # type: ignore[no-untyped-def]
        """Pressing a dimmed key (or clicking it in the footer) says why it is unavailable."""
        if isinstance(action, str) and default_namespace in (None, self):
            destination, name, _params = parse_action(action)
            if destination in ("", "app") and name in BLOCKABLE:
                reason = self.blocked_reasons().get(name)
                if reason is not None and isinstance(self.screen, DashboardScreen):
                    self.notify(reason, title=f"{LABELS[name]} unavailable", severity="warning")
                    return True
        return await super().run_action(action, default_namespace, namespaces)

    def _dashboard(self) -> DashboardScreen | None:
        try:
            screen = self.get_default_screen_instance()
        except Exception:
            return None
        return screen if isinstance(screen, DashboardScreen) and screen.is_mounted else None

    def get_default_screen_instance(self) -> Screen[object]:
        """The dashboard (the bottom of the screen stack)."""
        return self.screen_stack[0]

    # --- actions ----------------------------------------------------------------------------

    def action_kill(self) -> None:
        """Trip the kill switch at once; when already killed, offer to clear it (typed)."""
        dialogs = self._open_dialogs()
        if is_killed(self.snapshot) and not self.kill_sent and not dialogs:
            self._ask_clear_kill()
            return
        # Stopping never asks. Any open dialog is abandoned (and one still on its way to the
        # screen can no longer confirm anything: see _guarded).
        self._kill_epoch += 1
        self.engine.kill("operator")
        self.kill_sent = True
        self._close_dialogs()
        self.call_after_refresh(self._close_dialogs)  # one pushed in the same key burst
        self.notify(
            "Kill switch tripped: no new orders; cancelling ours.",
            title="KILLED",
            severity="error",
        )

    def _open_dialogs(self) -> list[Screen[object]]:
        return [
            s
            for s in self.screen_stack
            if isinstance(s, (ConfirmScreen, TypedConfirmScreen, HelpScreen))
        ]

    def _close_dialogs(self) -> None:
        for screen in reversed(self._open_dialogs()):
            if screen is self.screen:
                screen.dismiss(None)

    def _guarded(self, on_yes: Callable[[], None]) -> Callable[[bool | None], None]:
        """A dialog callback that acts only on an explicit yes given before any later kill."""
        epoch = self._kill_epoch

        def done(confirmed: bool | None) -> None:
            if confirmed and epoch == self._kill_epoch:
                on_yes()

        return done

    def _ask_clear_kill(self) -> None:
        env_kill = bool(getattr(self.engine.settings, "kill_switch", False))
        open_orders = len(self.snapshot.open_orders) if self.snapshot else 0
        body = (
            "The kill switch is ON: no new orders are sent.\n"
            f"Open orders of ours: {open_orders}.\n\n"
            "Clearing it lets the engine trade again as the other gates allow."
        )
        if env_kill:
            body += (
                "\n\n[b]KILL_SWITCH=true is set in the environment:[/b] clearing the persisted "
                "kill will not unkill; set KILL_SWITCH=false and restart."
            )

        def clear() -> None:
            self.engine.submit(ClearKill())
            self.notify("Clear-kill sent to the engine.", title="Kill switch")

        self.push_screen(
            TypedConfirmScreen("Clear the kill switch?", body, CLEAR_KILL_PHRASE),
            self._guarded(clear),
        )

    def action_run_cycle(self) -> None:
        """Run one trading cycle now."""
        self.engine.submit(RunOneCycle())
        self.notify("One cycle requested.", title="Run cycle", timeout=2)

    def action_safe_mode(self) -> None:
        """Safe mode on at once; off only after a confirmation."""
        if not is_safe_mode(self.snapshot):
            self.engine.submit(SetSafeMode(on=True))
            self.notify("Safe mode ON: no submits, no cancels.", title="Safe mode")
            return
        would_be_live = self.snapshot is not None and self.snapshot.gates.blocked_by == (
            "SAFE_MODE",
        )
        body = (
            "Turn safe mode OFF?\n\nThe engine may then submit and cancel orders as the other "
            "gates allow" + (" — [b]with real money (LIVE)[/b]." if would_be_live else ".")
        )

        def turn_off() -> None:
            self.engine.submit(SetSafeMode(on=False))
            self.notify("Safe mode OFF requested.", title="Safe mode")

        self.push_screen(
            ConfirmScreen("Safe mode", body, yes="Turn it off"), self._guarded(turn_off)
        )

    def action_cancel_order(self) -> None:
        """Cancel the order under the cursor."""
        dashboard = self._dashboard()
        order = dashboard.selected_order() if dashboard is not None else None
        if order is None:
            return
        self.engine.submit(CancelOrder(order.client_id))
        self.notify(f"Cancel requested for {order.symbol} {order.client_id[:12]}…", timeout=3)

    def action_cancel_all(self) -> None:
        """Cancel every open order of ours, after a confirmation naming how many."""
        count = len(self.snapshot.open_orders) if self.snapshot else 0
        noun = "order" if count == 1 else "orders"
        mode = self.snapshot.mode if self.snapshot else "?"
        body = f"Cancel all {count} open {noun} of ours ({mode})?"

        def cancel_all() -> None:
            self.engine.submit(CancelAll())
            self.notify(f"Cancel requested for {count} {noun}.", title="Cancel all")

        self.push_screen(
            ConfirmScreen(f"Cancel {count} {noun}", body, yes=f"Cancel {count}"),
            self._guarded(cancel_all),
        )

    def action_doctor(self) -> None:
        """Open the doctor screen (it asks the engine for a fresh run of the checks itself)."""
        from btcbot_tui.screens.doctor import DoctorScreen  # loaded when first needed

        if not isinstance(self.screen, DoctorScreen):
            self.push_screen(DoctorScreen())

    def action_wizard(self) -> None:
        """Open the canary wizard."""
        from btcbot_tui.screens.canary_wizard import CanaryWizardScreen  # loaded when needed

        if not isinstance(self.screen, CanaryWizardScreen):
            self.push_screen(CanaryWizardScreen())

    def action_help(self) -> None:
        """Show every key, and why the dimmed ones are unavailable."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(dict(self.blocked_reasons())))

    async def action_quit(self) -> None:
        """Quit; in LIVE with orders open, ask first (they stay open on the exchange)."""
        snap = self.snapshot
        if snap is not None and snap.mode == "LIVE" and snap.open_orders:
            count = len(snap.open_orders)
            body = (
                f"{count} LIVE order{'s' if count != 1 else ''} of ours are open on the "
                "exchange.\nQuitting stops the engine but does NOT cancel them.\n\n"
                "Quit anyway? (C cancels them first)"
            )

            self.push_screen(
                ConfirmScreen("Quit with open orders?", body, yes="Quit"), self._guarded(self.exit)
            )
            return
        self.exit()


# --- entry point ------------------------------------------------------------------------------


def _log_to_file(path: Path, level: str, secrets: tuple[str, ...]) -> None:
    """Engine logs go to a file: anything written to the terminal would tear the UI."""
    from btcbot_engine.observability import configure_logging

    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", encoding="utf-8")
    path.chmod(0o600)
    configure_logging(level, stream=stream, secrets=secrets)


def _parse_keymap(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        binding_id, sep, keys = part.partition("=")
        if not sep or not binding_id.strip() or not keys.strip():
            raise ValueError(f"--keymap: {part!r} is not binding_id=key")
        out[binding_id.strip()] = keys.strip()
    return out


def _run_app(app: BtcbotApp) -> int:
    app.run()
    stopped = app.stop_engine()
    if not stopped:
        print("btcbot-tui: the engine did not stop within 30 s", file=sys.stderr)
        return 1
    if app.engine_failure is not None:
        print(
            f"btcbot-tui: the engine stopped with an error: {app.engine_failure}", file=sys.stderr
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `btcbot-tui` console script."""
    parser = argparse.ArgumentParser(prog="btcbot-tui", description="btcbot terminal UI")
    parser.add_argument("--env-file", metavar="PATH", default=None)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the bundled simulator on 127.0.0.1 and paper-trade against it "
        "(no keys, no network, throwaway state)",
    )
    parser.add_argument(
        "--drill",
        metavar="SCENARIO",
        default=None,
        help="with --demo: switch the simulator's faults on in waves to rehearse an incident "
        "(429-storm, ws-storm, stale-data, lost-ack, clock-skew)",
    )
    parser.add_argument(
        "--keymap",
        metavar="ID=KEY,...",
        default=None,
        help="remap keys by binding id, e.g. run_cycle=R,kill=K",
    )
    args = parser.parse_args(argv)
    try:
        keymap = _parse_keymap(args.keymap)
    except ValueError as exc:
        print(f"btcbot-tui: {exc}", file=sys.stderr)
        return 2

    from btcbot_engine.engine import Engine

    if args.drill is not None and not args.demo:
        print(
            "btcbot-tui: --drill needs --demo (drills run on the bundled simulator)",
            file=sys.stderr,
        )
        return 2
    if args.demo:
        from btcbot_engine.drill import DrillError
        from btcbot_tui.demo import demo_environment

        with contextlib.ExitStack() as stack:
            try:
                env = stack.enter_context(demo_environment(drill=args.drill))
            except DrillError as exc:
                print(f"btcbot-tui: {exc}", file=sys.stderr)
                return 2
            _log_to_file(env.log_path, "INFO", env.settings.secret_values)
            engine = Engine(env.settings, demo=True, command_name="btcbot-tui --demo")
            app = BtcbotApp(
                engine,
                demo=True,
                run_options=RunOptions(cycle_seconds=env.settings.cycle_seconds),
            )
            app.set_keymap(keymap)
            return _run_app(app)

    from btcbot_engine.config import ConfigError, load_settings
    from btcbot_engine.store.lock import InstanceLock, InstanceLocked, LockError

    try:
        settings = load_settings(args.env_file)
    except ConfigError as exc:
        print(f"btcbot-tui: config error: {exc}", file=sys.stderr)
        return 2
    # Fail fast, before the terminal switches to the UI: the engine takes the lock itself in
    # run(); this only probes that nobody else holds it, and lets go at once.
    probe = InstanceLock(settings.state_db_path, settings.account_key, command="btcbot-tui")
    try:
        probe.acquire()
    except InstanceLocked as exc:
        print(f"btcbot-tui: {exc}", file=sys.stderr)
        return 2
    except LockError as exc:
        print(f"btcbot-tui: cannot take the instance lock: {exc}", file=sys.stderr)
        return 2
    probe.release()
    log_path = Path(settings.state_db_path).parent / "btcbot-tui.log"
    _log_to_file(log_path, settings.log_level, settings.secret_values)
    engine = Engine(
        settings,
        command_name="btcbot-tui",
        env_file=Path(args.env_file) if args.env_file else None,
    )
    app = BtcbotApp(engine, run_options=RunOptions(cycle_seconds=settings.cycle_seconds))
    app.set_keymap(keymap)
    return _run_app(app)


if __name__ == "__main__":
    raise SystemExit(main())
