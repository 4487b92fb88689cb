"""Shared pieces for the canary wizard and doctor screen tests: canned snapshots, the real app
around a FakeEngine, waiting helpers (no sleeps) and builders that put the app in a given state.

The builders (`wizard_app_at`, `doctor_app`) are also what the README screenshot test reuses:
each returns an app and a `run_before` for `snap_compare`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from io import StringIO

from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Select, Static

from btcbot_engine.config import Settings
from btcbot_engine.domain.canary import CanaryOrder, CanaryPlan, CanaryView
from btcbot_engine.domain.snapshot import DoctorCheckView, EngineSnapshot
from btcbot_tui.app import BtcbotApp
from btcbot_tui.canned import CANNED_TS_MS, canned_snapshot
from btcbot_tui.facade import FakeEngine
from btcbot_tui.screens.canary_wizard import CanaryWizardScreen
from btcbot_tui.screens.doctor import DoctorScreen

D = Decimal

PASSING = (
    DoctorCheckView("settings", "PASS", "coherent"),
    DoctorCheckView("exchange_reachable", "PASS", "200 OK in 38 ms"),
    DoctorCheckView("clock_skew", "PASS", "server clock +12 ms"),
    DoctorCheckView("state_db", "PASS", "WAL, 0600, migrations current"),
)
WARNING = (
    *PASSING,
    DoctorCheckView(
        "gates", "WARN", "live trading is armed", "make sure you mean it: this run is LIVE"
    ),
)
FAILING = (
    *WARNING,
    DoctorCheckView(
        "api_keys", "FAIL", "key has the withdraw permission", "create a read+trade key"
    ),
)

PLAN = CanaryPlan(symbol="BTCTRY", notional_try=D("150"), ttl_seconds=30.0, max_cycles=3)


def snap(
    mode: str = "LIVE",
    *,
    tick: int = 0,
    doctor: tuple[DoctorCheckView, ...] = PASSING,
    canary: CanaryView | None = None,
) -> EngineSnapshot:
    """A canned snapshot in `mode`, `tick` ms after the canned time, with these checks/canary."""
    base = canned_snapshot(mode, ts_ms=CANNED_TS_MS + tick)
    return replace(base, doctor=doctor, canary=canary)


def running_view(plan: CanaryPlan = PLAN) -> CanaryView:
    """A canary in its second cycle with one order resting."""
    return CanaryView(
        plan=plan,
        state="running",
        cycle=2,
        orders_placed=2,
        orders_open=1,
        fills=1,
        filled_quantity=D("0.00005001"),
        filled_notional_try=D("150.02"),
        fees_try=D("0.1350"),
        pnl_try=D("-0.14"),
        events=(
            "12:00:01 cycle 1: BUY 0.00005001 @ 2999840 placed (passive)",
            "12:00:09 cycle 1: filled 0.00005001 BTCTRY, fee 0.135 TRY",
            "12:00:11 cycle 2: BUY 0.00005001 @ 2999830 placed (passive)",
        ),
        started_ms=CANNED_TS_MS,
    )


def finished_view(plan: CanaryPlan = PLAN, *, verified: bool = True, still_open: int = 0):
    """The same canary after its last cycle, verified against the exchange."""
    orders = (
        CanaryOrder(
            "bb1a2b3c4d5e6f708192a3b4c5d6e7f8",
            900001,
            "BUY",
            D("2999840"),
            D("0.00005001"),
            D("0.00005001"),
            "FILLED",
            "Closed",
        ),
        CanaryOrder(
            "bb9f8e7d6c5b4a39281706f5e4d3c2b1",
            900002,
            "BUY",
            D("2999830"),
            D("0.00005001"),
            D("0"),
            "CANCELED" if not still_open else "OPEN",
            "Canceled" if not still_open else "Untouched",
        ),
    )
    return replace(
        running_view(plan),
        state="finished",
        cycle=plan.max_cycles,
        orders_open=still_open,
        verified=verified,
        detail="ran its 3 cycles; every canary order cancelled after its TTL",
        orders=orders,
        safe_mode_on=True,
        ended_ms=CANNED_TS_MS + 31_000,
        events=(*running_view(plan).events, "12:00:41 cycle 3: TTL reached, order cancelled"),
    )


def make_app(
    first: EngineSnapshot | None, *, settings: Settings | None = None
) -> tuple[BtcbotApp, FakeEngine]:
    """The real app around a FakeEngine; the engine thread is not started (snapshots are
    published by the test), so every command recorded came from the UI."""
    engine = FakeEngine(first, settings=settings)
    app = BtcbotApp(engine, start_engine=False)
    app.animation_level = "none"
    return app, engine


async def wait_until(pilot: Pilot, condition: Callable[[], object], what: str = "") -> None:
    """Let the app run until `condition()` holds (5 s deadline; never a fixed sleep)."""
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.01)  # let queued messages run (the condition is the real wait)


async def settle(pilot: Pilot) -> None:
    """Wait until the app is idle: only for "nothing happened" checks, where no condition can
    be named; everything else waits for its condition."""
    await pilot.pause()


async def publish(pilot: Pilot, engine: FakeEngine, snapshot: EngineSnapshot) -> None:
    """Publish through the engine facade and wait until the app holds it (the screens' watchers
    run as the app's `snapshot` is set, so they have rendered it by then)."""
    engine.publish(snapshot)
    await wait_until(pilot, lambda: pilot.app.snapshot is snapshot, "the snapshot to arrive")


def wizard(pilot: Pilot) -> CanaryWizardScreen:
    """The wizard on top of the screen stack."""
    screen = pilot.app.screen
    assert isinstance(screen, CanaryWizardScreen), f"top screen is {type(screen).__name__}"
    return screen


def _shown(pilot: Pilot, selector: str) -> bool:
    try:
        return bool(text_of(pilot, selector).strip())
    except Exception:  # not mounted yet
        return False


async def open_wizard(pilot: Pilot) -> CanaryWizardScreen:
    """Press w and wait until the wizard has mounted and drawn its first step."""
    await pilot.press("w")
    await wait_until(
        pilot,
        lambda: isinstance(pilot.app.screen, CanaryWizardScreen) and _shown(pilot, "#wizard-steps"),
        "the wizard",
    )
    # Animations are off in these tests; the button's 0.2 s "pressed" flash is one too.
    for button in pilot.app.screen.query(Button):
        button.active_effect_duration = 0
    return wizard(pilot)


async def open_doctor(pilot: Pilot) -> DoctorScreen:
    """Press d and wait until the doctor screen has mounted and drawn its head line."""
    await pilot.press("d")
    await wait_until(
        pilot,
        lambda: isinstance(pilot.app.screen, DoctorScreen) and _shown(pilot, "#doctor-head"),
        "the doctor screen",
    )
    screen = pilot.app.screen
    assert isinstance(screen, DoctorScreen)
    return screen


def next_enabled(pilot: Pilot) -> bool:
    """Whether the wizard's Next (Start / Close) button may be pressed."""
    return not wizard(pilot).query_one("#wizard-next").disabled


async def _ready(pilot: Pilot, selector: str) -> Widget:
    # A Button ignores presses for 0.2 s after one (its "-active" effect), as it would a
    # human's double click: wait that out first.
    target = pilot.app.screen.query_one(selector)
    await wait_until(pilot, lambda: not target.has_class("-active"), f"{selector} to be ready")
    return target


async def click(pilot: Pilot, selector: str, until: Callable[[], object] | None = None) -> None:
    """Click a widget of the top screen with the mouse; then wait for `until` (or idle)."""
    await _ready(pilot, selector)
    await pilot.click(selector)
    await (wait_until(pilot, until, f"after clicking {selector}") if until else settle(pilot))


async def press_button(
    pilot: Pilot, selector: str, until: Callable[[], object] | None = None
) -> None:
    """Press a Button the way a click or Enter does (`Button.press`: ignored while disabled or
    hidden), without the mouse round trip; then wait for `until` (or idle). Callers that expect
    it to act wait first for what enables it."""
    button = await _ready(pilot, selector)
    assert isinstance(button, Button)
    button.press()
    await (wait_until(pilot, until, f"after pressing {selector}") if until else settle(pilot))


async def go_next(pilot: Pilot, expect_step: int) -> None:
    """Press Next and wait for the wizard to show `expect_step`."""
    await press_button(pilot, "#wizard-next", lambda: wizard(pilot).step == expect_step)


async def set_input(pilot: Pilot, selector: str, text: str) -> None:
    """Put `text` in an Input: posts Input.Changed as typing does (typing is tested apart).
    Callers wait for the effect they expect (`expect_text`)."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    """Clear an Input and type `text` key by key."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await wait_until(pilot, lambda: field.value == text, f"{text!r} typed")


async def expect_text(pilot: Pilot, selector: str, needle: str, *, present: bool = True) -> str:
    """Wait until the Static at `selector` shows (or no longer shows) `needle`; its text."""
    what = f"{needle!r} {'in' if present else 'gone from'} {selector}"
    await wait_until(pilot, lambda: (needle in text_of(pilot, selector)) == present, what)
    return text_of(pilot, selector)


def widget_text(widget: Static, width: int = 200) -> str:
    """The plain text a Static shows (its rich content rendered at `width`)."""
    console = Console(file=StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(widget.content)
    return console.file.getvalue()  # type: ignore[attr-defined]


def text_of(pilot: Pilot, selector: str) -> str:
    """Plain text of a Static on the top screen."""
    return widget_text(pilot.app.screen.query_one(selector, Static))


def commands_of(engine: FakeEngine, *kinds: type) -> list[object]:
    """The recorded commands of these types, in order."""
    return [c for c in engine.commands_sent if isinstance(c, kinds)]


async def through_doctor(pilot: Pilot, engine: FakeEngine, latest: EngineSnapshot) -> None:
    """Step 1 with passing checks: the engine answers the wizard's RunDoctor, then Next."""
    await publish(pilot, engine, replace(latest, ts_ms=latest.ts_ms + 1))
    await wait_until(pilot, lambda: next_enabled(pilot), "doctor PASS to enable Next")
    await go_next(pilot, 2)


async def fill_plan(
    pilot: Pilot,
    *,
    symbol: str = "BTCTRY",
    notional: str = "150",
    ttl: str = "30",
    cycles: str = "3",
) -> None:
    """Step 2: fill the form and go on to step 3 (Next re-reads every field when pressed)."""
    pilot.app.screen.query_one("#plan-symbol", Select).value = symbol
    await set_input(pilot, "#plan-notional", notional)
    await set_input(pilot, "#plan-ttl", ttl)
    await set_input(pilot, "#plan-cycles", cycles)
    await wait_until(pilot, lambda: next_enabled(pilot), "the plan to be accepted")
    await go_next(pilot, 3)


async def to_step(pilot: Pilot, engine: FakeEngine, step: int, **plan: str) -> None:
    """Drive a freshly opened wizard (passing checks) to `step` (1..5); 4+ need LIVE gates."""
    await open_wizard(pilot)
    if step == 1:
        return
    latest = pilot.app.snapshot
    assert latest is not None
    await through_doctor(pilot, engine, latest)
    if step == 2:
        return
    await fill_plan(pilot, **plan)
    if step == 3:
        return
    await go_next(pilot, 4)
    if step == 4:
        return
    await set_input(pilot, "#confirm-symbol", plan.get("symbol", "BTCTRY"))
    await wait_until(pilot, lambda: next_enabled(pilot), "the confirmation to match")
    await go_next(pilot, 5)


# --- builders for snapshot tests and the README screenshots -----------------------------------

RunBefore = Callable[[Pilot], Awaitable[None]]


async def settle_for_screenshot(pilot: Pilot) -> None:
    """No cursor blink and no button caught mid-"press" effect: both make screenshots flaky."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    buttons = list(pilot.app.screen.query(Button))
    await wait_until(
        pilot, lambda: not any(b.has_class("-active") for b in buttons), "buttons to settle"
    )
    await pilot.pause()


async def accept_warnings(pilot: Pilot) -> None:
    """Tick the WARN accept box from the keyboard (no mouse: hover styles would linger)."""
    box = pilot.app.screen.query_one("#accept-warn", Checkbox)
    box.focus()
    await pilot.press("space")
    await wait_until(pilot, lambda: box.value, "the accept box to be ticked")


def wizard_app_at(step: int, *, gates_live: bool = True) -> tuple[BtcbotApp, RunBefore]:
    """An app showing the wizard at `step` (1..6) from canned snapshots, and its run_before.

    Step 1 shows a WARN to accept; step 3 shows the gate changes when `gates_live` is False;
    step 5 shows a running canary; step 6 the verified summary.
    """
    mode = "LIVE" if gates_live else "OBSERVE_ONLY"
    first = snap(mode, doctor=WARNING)
    app, engine = make_app(first)

    async def run_before(pilot: Pilot) -> None:
        await open_wizard(pilot)
        fresh = snap(mode, tick=1, doctor=WARNING)
        await publish(pilot, engine, fresh)
        if step > 1:
            await accept_warnings(pilot)
            await go_next(pilot, 2)
        if step == 2:  # an over-cap notional: the inline error is the point of this picture
            await set_input(pilot, "#plan-cycles", "3")
            await set_input(pilot, "#plan-notional", "750")
            await expect_text(pilot, "#err-notional", "above MAX_NOTIONAL_PER_ORDER_TRY")
        if step > 2:
            await fill_plan(pilot)
        if step > 3:
            await go_next(pilot, 4)
            await set_input(pilot, "#confirm-symbol", "BTCTRY")
            await wait_until(pilot, lambda: next_enabled(pilot), "the confirmation to match")
        if step > 4:
            await go_next(pilot, 5)
            await publish(pilot, engine, snap(mode, tick=2, doctor=WARNING, canary=running_view()))
        if step > 5:
            # As the engine leaves it: the canary ended, safe mode back on (OBSERVE_ONLY).
            done = snap("OBSERVE_ONLY", tick=3, doctor=WARNING, canary=finished_view())
            await publish(pilot, engine, done)
            await wait_until(pilot, lambda: wizard(pilot).step == 6, "the summary")
        assert wizard(pilot).step == step
        await settle_for_screenshot(pilot)

    return app, run_before


def doctor_app(checks: tuple[DoctorCheckView, ...] = FAILING) -> tuple[BtcbotApp, RunBefore]:
    """An app showing the doctor screen with these checks (the run it asks for answered)."""
    first = snap("LIVE", doctor=checks)
    app, engine = make_app(first)

    async def run_before(pilot: Pilot) -> None:
        await open_doctor(pilot)
        await publish(pilot, engine, snap("LIVE", tick=1, doctor=checks))
        await settle_for_screenshot(pilot)

    return app, run_before
