"""The doctor screen (`d`), driven through the real app with a FakeEngine."""

from __future__ import annotations

from tui_wizard_kit import (
    FAILING,
    PASSING,
    commands_of,
    make_app,
    open_doctor,
    publish,
    snap,
    text_of,
    wait_until,
)

from btcbot_engine.commands import Kill, RunDoctor
from btcbot_engine.domain.snapshot import DoctorCheckView
from btcbot_tui.screens.doctor import DoctorScreen


async def test_doctor_shows_each_check_and_the_remedy_of_each_problem() -> None:
    checks = (*FAILING, DoctorCheckView("secret_age", "PASS", "12 days", "never shown"))
    app, engine = make_app(snap(doctor=checks))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_doctor(pilot)
        await publish(pilot, engine, snap(tick=1, doctor=checks))
        shown = text_of(pilot, "#doctor-checks")
        for check in checks:
            assert check.name in shown
            assert check.detail in shown
        assert "make sure you mean it: this run is LIVE" in shown  # WARN remedy
        assert "create a read+trade key" in shown  # FAIL remedy
        assert "never shown" not in shown  # a PASS needs no remedy
        head = text_of(pilot, "#doctor-head")
        assert "5 PASS" in head and "1 WARN" in head and "1 FAIL" in head
        assert "FAIL" in head and "running" not in head


async def test_r_reruns_the_checks_and_shows_running_until_a_newer_snapshot() -> None:
    app, engine = make_app(snap(doctor=FAILING))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_doctor(pilot)
        assert commands_of(engine, RunDoctor) == [RunDoctor()]  # opening asks for fresh results
        await publish(pilot, engine, snap(tick=1, doctor=FAILING))
        assert "running" not in text_of(pilot, "#doctor-head")

        await pilot.press("r")
        await wait_until(pilot, lambda: len(commands_of(engine, RunDoctor)) == 2, "RunDoctor")
        assert "running…" in text_of(pilot, "#doctor-head")
        # The same snapshot again is not an answer; only a newer one is.
        await publish(pilot, engine, snap(tick=1, doctor=FAILING))
        assert "running…" in text_of(pilot, "#doctor-head")
        await publish(pilot, engine, snap(tick=2, doctor=PASSING))
        head = text_of(pilot, "#doctor-head")
        assert "running" not in head and "all checks pass" in head
        assert "api_keys" not in text_of(pilot, "#doctor-checks")
        # `r` here is the doctor's re-run, not the dashboard's "run one cycle".
        assert [type(c) for c in engine.commands_sent] == [RunDoctor, RunDoctor]

        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, DoctorScreen), "close")


async def test_doctor_with_no_results_yet_says_so() -> None:
    app, engine = make_app(snap(doctor=()))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_doctor(pilot)
        await publish(pilot, engine, snap(tick=1, doctor=()))
        assert "No doctor results yet" in text_of(pilot, "#doctor-checks")
        assert not commands_of(engine, Kill)
