"""The app's priority kill key `k` works inside the wizard and the doctor screen, whatever has
focus (text fields and the open symbol list included): these screens never swallow it."""

from __future__ import annotations

from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Input, Select
from tui_wizard_kit import (
    click,
    fill_plan,
    go_next,
    make_app,
    next_enabled,
    open_doctor,
    open_wizard,
    publish,
    running_view,
    set_input,
    snap,
    through_doctor,
    wait_until,
    wizard,
)

from btcbot_engine.commands import Kill
from btcbot_tui.facade import FakeEngine
from btcbot_tui.screens.canary_wizard import CanaryWizardScreen


async def _kill_trips(pilot: Pilot, engine: FakeEngine, where: str) -> None:
    before = len(engine.kills)
    await pilot.press("k")
    await wait_until(pilot, lambda: len(engine.kills) == before + 1, f"a kill from {where}")


async def test_k_trips_the_kill_in_every_wizard_step_and_focus() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        await _kill_trips(pilot, engine, "step 1")
        assert isinstance(app.screen, CanaryWizardScreen)  # the wizard stays, showing state
        await through_doctor(pilot, engine, app.snapshot)

        notional = wizard(pilot).query_one("#plan-notional", Input)
        assert app.focused is notional
        await _kill_trips(pilot, engine, "step 2, focus in the notional field")
        assert "k" not in notional.value  # not typed into the field either
        select = wizard(pilot).query_one("#plan-symbol", Select)
        await click(pilot, "#plan-symbol", until=lambda: select.expanded)  # focus in the list
        await _kill_trips(pilot, engine, "step 2, symbol list open")
        assert select.expanded
        await pilot.press("escape")  # closes the list, not the wizard
        await wait_until(pilot, lambda: not select.expanded, "the symbol list to close")
        assert wizard(pilot).step == 2

        await fill_plan(pilot)
        await _kill_trips(pilot, engine, "step 3")
        await go_next(pilot, 4)
        await set_input(pilot, "#confirm-symbol", "BTCTR")
        await _kill_trips(pilot, engine, "step 4, focus in the confirmation")
        assert wizard(pilot).query_one("#confirm-symbol", Input).value == "BTCTR"

        await set_input(pilot, "#confirm-symbol", "BTCTRY")
        await wait_until(pilot, lambda: next_enabled(pilot), "the confirmation to match")
        await go_next(pilot, 5)
        await publish(pilot, engine, snap(tick=5, canary=running_view()))
        await _kill_trips(pilot, engine, "step 5, canary running")
        await publish(pilot, engine, snap(tick=6, canary=replace(running_view(), state="stopped")))
        await wait_until(pilot, lambda: wizard(pilot).step == 6, "the summary")
        await _kill_trips(pilot, engine, "step 6")

        assert engine.kills == ["operator"] * 7
        assert [c for c in engine.commands_sent if isinstance(c, Kill)] == [Kill("operator")] * 7


async def test_k_trips_the_kill_in_the_doctor_screen() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await open_doctor(pilot)
        await _kill_trips(pilot, engine, "the doctor screen")
        await pilot.press("k")
        await wait_until(pilot, lambda: len(engine.kills) == 2, "a second kill")
