"""Helpers for the TUI Pilot tests: build the app on a fake engine, wait for conditions."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot

from btcbot_engine.config import Settings
from btcbot_engine.domain.snapshot import EngineSnapshot
from btcbot_tui.app import BtcbotApp
from btcbot_tui.canned import canned_snapshot
from btcbot_tui.facade import FakeEngine


def make_app(
    snapshot: EngineSnapshot | None = None,
    *,
    mode: str = "PAPER",
    env_safe_mode: bool = False,
    env_kill_switch: bool = False,
    fail_with: BaseException | None = None,
    **canned: object,
) -> tuple[BtcbotApp, FakeEngine]:
    """An app on a FakeEngine holding a canned snapshot (PAPER unless told)."""
    snap = snapshot if snapshot is not None else canned_snapshot(mode, **canned)  # type: ignore[arg-type]
    settings = Settings.model_construct(safe_mode=env_safe_mode, kill_switch=env_kill_switch)
    engine = FakeEngine(snap, settings=settings, fail_with=fail_with)
    app = BtcbotApp(engine)
    app.animation_level = "none"
    return app, engine


async def wait_for(
    pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)


def plain_text(widget: object) -> str:
    """The text a Static-like widget shows (its content rendered without styles)."""
    import io

    from rich.console import Console

    content = getattr(widget, "content", None)
    if isinstance(content, str):
        return content
    console = Console(file=io.StringIO(), width=200, color_system=None, record=True)
    console.print(content)
    return console.export_text()
