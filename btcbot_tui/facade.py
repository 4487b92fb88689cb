"""What the TUI needs from an engine, and a fake one for tests, snapshots and the bench.

The app receives an `EngineFacade` in its constructor (the real `btcbot_engine.engine.Engine`
satisfies it). Everything here is thread-safe: `run()` blocks in a worker thread while the UI
thread calls `submit`, `kill` and `stop`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from btcbot_engine.commands import Command, Kill
from btcbot_engine.config import Settings
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_engine.engine import RunOptions

SnapshotListener = Callable[[EngineSnapshot], None]
Unsubscribe = Callable[[], None]


@runtime_checkable
class EngineFacade(Protocol):
    """The engine as the TUI sees it: commands in, snapshots out."""

    settings: Settings

    def submit(self, command: Command) -> None:
        """Queue a command; safe from any thread."""

    def kill(self, reason: str = "operator") -> None:
        """Trip the kill switch at once (synchronously), then cancel our orders."""

    def stop(self) -> None:
        """Ask `run()` to finish and return."""

    def snapshot(self) -> EngineSnapshot | None:
        """The latest published snapshot."""

    def run(self, options: RunOptions | None = None) -> None:
        """Block until stopped (the engine's own loop, lock and store live in this thread)."""

    def subscribe(self, listener: SnapshotListener) -> Unsubscribe:
        """Call `listener(snapshot)` (in the engine thread) for every published snapshot."""


class FakeEngine:
    """An engine facade without an exchange: records commands, publishes canned snapshots.

    `run()` publishes the initial snapshot (if any) and blocks until `stop()`, like the real one.
    `kill()` is recorded as a `Kill` command in `.commands` (and counted in `.kills`).
    """

    def __init__(
        self,
        snapshot: EngineSnapshot | None = None,
        *,
        settings: Settings | None = None,
        fail_with: BaseException | None = None,
    ) -> None:
        # model_construct: the defaults, without reading the environment or a .env file.
        self.settings = settings if settings is not None else Settings.model_construct()
        self.commands: list[Command] = []
        self.kills: list[str] = []
        self.run_options: RunOptions | None = None
        self.fail_with = fail_with
        self._snapshot = snapshot
        self._listeners: list[SnapshotListener] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.running = threading.Event()
        self.stop_calls = 0

    def submit(self, command: Command) -> None:
        """Record the command."""
        with self._lock:
            self.commands.append(command)

    def kill(self, reason: str = "operator") -> None:
        """Record the kill (as the real engine would queue it)."""
        with self._lock:
            self.kills.append(reason)
            self.commands.append(Kill(reason))

    def stop(self) -> None:
        """Let `run()` return."""
        self.stop_calls += 1
        self._stopped.set()

    def snapshot(self) -> EngineSnapshot | None:
        """The last published snapshot."""
        return self._snapshot

    def subscribe(self, listener: SnapshotListener) -> Unsubscribe:
        """Register a listener; returns a function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def _unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return _unsubscribe

    def publish(self, snapshot: EngineSnapshot) -> None:
        """Make `snapshot` the latest and hand it to every listener (in the calling thread)."""
        self._snapshot = snapshot
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(snapshot)

    def run(self, options: RunOptions | None = None) -> None:
        """Publish the initial snapshot, then block until `stop()` (or raise `fail_with`)."""
        self.run_options = options
        self.running.set()
        try:
            if self.fail_with is not None:
                raise self.fail_with
            if self._snapshot is not None:
                self.publish(self._snapshot)
            self._stopped.wait()
        finally:
            self.running.clear()

    @property
    def commands_sent(self) -> list[Command]:
        """A copy of the recorded commands (thread-safe read)."""
        with self._lock:
            return list(self.commands)
