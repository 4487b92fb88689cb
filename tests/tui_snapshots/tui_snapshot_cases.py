"""The snapshot cases: one definition used by the snapshot tests and the screenshot check.

Each case builds a fresh app on a FakeEngine holding a canned snapshot (fixed timestamp, fixed
host, no temp paths), with animation off, and says which keys to press before the picture.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual.pilot import Pilot

from btcbot_engine.config import Settings
from btcbot_tui.app import BtcbotApp
from btcbot_tui.canned import canned_snapshot
from btcbot_tui.facade import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
ACCEPTED = Path(__file__).resolve().parent / "__snapshots__" / "test_tui_snapshots"
WIDE = (160, 48)
NARROW = (80, 24)


@dataclass(frozen=True)
class Case:
    """One picture: a canned mode, a size, keys to press."""

    mode: str = "PAPER"
    size: tuple[int, int] = WIDE
    unknown: bool = False
    stale: bool = False
    press: tuple[str, ...] = ()
    env_safe_mode: bool = False
    env_kill_switch: bool = False
    crash: str | None = None
    canned: dict[str, object] = field(default_factory=dict)

    def app(self) -> BtcbotApp:
        """A fresh app for this case."""
        snap = canned_snapshot(
            self.mode,
            unknown=self.unknown,
            stale=self.stale,
            **self.canned,  # type: ignore[arg-type]
        )
        settings = Settings.model_construct(
            safe_mode=self.env_safe_mode, kill_switch=self.env_kill_switch
        )
        failure = RuntimeError(self.crash) if self.crash else None
        app = BtcbotApp(FakeEngine(snap, settings=settings, fail_with=failure))
        app.animation_level = "none"
        return app

    def run_before(self) -> Callable[[Pilot[None]], Awaitable[None]]:
        """Wait for the engine's first publish (or its crash), then press the keys."""

        async def before(pilot: Pilot[None]) -> None:
            app = pilot.app
            assert isinstance(app, BtcbotApp)
            deadline = time.monotonic() + 10
            while (app.snapshots_shown == 0 and app.engine_failure is None) or (
                self.crash and app.engine_failure is None
            ):
                if time.monotonic() > deadline:
                    raise AssertionError("the fake engine never published")
                await pilot.pause(0.01)
            for key in self.press:
                await pilot.press(key)
                await pilot.pause()
            await pilot.pause()

        return before


CASES: dict[str, Case] = {}
for _mode in ("OBSERVE_ONLY", "PAPER", "KILLED", "LIVE", "DEMO"):
    CASES[f"dashboard_{_mode.lower()}_wide"] = Case(_mode, WIDE)
    CASES[f"dashboard_{_mode.lower()}_narrow"] = Case(_mode, NARROW)
CASES.update(
    {
        "dashboard_unknown_stale_wide": Case("LIVE", WIDE, unknown=True, stale=True),
        "dashboard_unknown_stale_narrow": Case("LIVE", NARROW, unknown=True, stale=True),
        "dashboard_engine_crashed_wide": Case("PAPER", WIDE, crash="adapter exploded"),
        "confirm_safe_mode_off": Case("OBSERVE_ONLY", WIDE, press=("s",)),
        "confirm_cancel_all": Case("LIVE", WIDE, press=("C",)),
        "confirm_quit_live_orders": Case("LIVE", NARROW, press=("q",)),
        "confirm_clear_kill": Case("KILLED", WIDE, env_kill_switch=True, press=("k",)),
        "help_dimmed_reasons": Case(
            "OBSERVE_ONLY", WIDE, env_safe_mode=True, unknown=True, press=("question_mark",)
        ),
    }
)

# README images: screenshots/<file> is a copy of the accepted snapshot of <case>.
SCREENSHOT_CASES: dict[str, str] = {
    "dashboard-wide.svg": "dashboard_demo_wide",
    "dashboard-narrow.svg": "dashboard_demo_narrow",
    "dashboard-live-unknown-stale.svg": "dashboard_unknown_stale_wide",
    "confirm-cancel-all.svg": "confirm_cancel_all",
}


def accepted_snapshot(case_name: str) -> Path:
    """Where syrupy keeps the accepted SVG of `test_snapshot[case_name]`."""
    return ACCEPTED / f"test_snapshot[{case_name}].svg"


if __name__ == "__main__":
    # Copy the accepted snapshots to screenshots/ (after `pytest --snapshot-update` was reviewed).
    import shutil

    SCREENSHOTS.mkdir(exist_ok=True)
    for file_name, case_name in SCREENSHOT_CASES.items():
        shutil.copyfile(accepted_snapshot(case_name), SCREENSHOTS / file_name)
        print(f"screenshots/{file_name} <- {accepted_snapshot(case_name).relative_to(ROOT)}")
