"""Messages the engine thread posts to the app (the only way engine data reaches widgets)."""

from __future__ import annotations

from textual.message import Message

from btcbot_engine.domain.snapshot import EngineSnapshot


class SnapshotReady(Message):
    """A new immutable engine snapshot. A newer one replaces an older one still in the queue."""

    def __init__(self, snapshot: EngineSnapshot, posted_ns: int = 0) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.posted_ns = posted_ns  # time.perf_counter_ns() at post (the bench measures latency)

    def can_replace(self, message: Message) -> bool:
        """Only the newest snapshot matters: a queued older one is dropped."""
        return isinstance(message, SnapshotReady)
