"""The canary wizard, driven through the real app with a FakeEngine and canned snapshots.

Each step's gate, the exact plan sent, what an abort sends at each step, and that progress and
the summary come from the engine's CanaryView. Every wait is for a condition, never a sleep.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from textual.widgets import Checkbox, OptionList, Select
from tui_wizard_kit import (
    FAILING,
    PASSING,
    PLAN,
    WARNING,
    click,
    commands_of,
    expect_text,
    finished_view,
    go_next,
    make_app,
    next_enabled,
    open_wizard,
    press_button,
    publish,
    running_view,
    set_input,
    settle,
    snap,
    text_of,
    to_step,
    type_into,
    wait_until,
    wizard,
)

from btcbot_engine.commands import AbortCanary, RunDoctor, SetSafeMode, StartCanary
from btcbot_engine.config import Settings
from btcbot_engine.domain.canary import CanaryPlan
from btcbot_engine.gates import REMEDIES
from btcbot_tui.screens.canary_wizard import ABORT_REASON, CanaryWizardScreen

LIVE_KINDS = (StartCanary, AbortCanary)


def _closed(app: object) -> bool:
    return not isinstance(app.screen, CanaryWizardScreen)  # type: ignore[attr-defined]


# --- step 1: doctor -------------------------------------------------------------------------


async def test_opening_asks_for_fresh_checks_and_waits_for_them() -> None:
    app, engine = make_app(snap(doctor=PASSING))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        assert commands_of(engine, RunDoctor) == [RunDoctor()]
        # The old results are shown but not trusted until the engine answers.
        assert "running…" in text_of(pilot, "#doctor-verdict")
        assert not next_enabled(pilot)
        await publish(pilot, engine, snap(tick=1, doctor=PASSING))
        assert "every check passes" in text_of(pilot, "#doctor-verdict")
        assert next_enabled(pilot)


async def test_fail_blocks_step_one_and_rerun_asks_again() -> None:
    app, engine = make_app(snap(doctor=FAILING))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        await publish(pilot, engine, snap(tick=1, doctor=FAILING))
        assert "FAIL blocks the canary" in text_of(pilot, "#doctor-verdict")
        assert "create a read+trade key" in text_of(pilot, "#wizard-doctor-checks")
        assert not next_enabled(pilot)
        # The accept box is for WARN only: a FAIL cannot be accepted away.
        assert not wizard(pilot).query_one("#accept-warn", Checkbox).display
        await press_button(pilot, "#wizard-next")
        assert wizard(pilot).step == 1

        await click(pilot, "#wizard-rerun", until=lambda: len(commands_of(engine, RunDoctor)) == 2)
        await expect_text(pilot, "#doctor-verdict", "running…")
        await publish(pilot, engine, snap(tick=2, doctor=PASSING))
        assert next_enabled(pilot)
        assert not commands_of(engine, *LIVE_KINDS)


async def test_warn_needs_an_explicit_accept_that_new_results_reset() -> None:
    app, engine = make_app(snap(doctor=WARNING))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        await publish(pilot, engine, snap(tick=1, doctor=WARNING))
        assert "tick the box to accept them" in text_of(pilot, "#doctor-verdict")
        assert not next_enabled(pilot)
        accept = wizard(pilot).query_one("#accept-warn", Checkbox)
        assert accept.display

        await click(pilot, "#accept-warn", until=lambda: next_enabled(pilot))
        assert accept.value
        assert "WARN accepted by the operator" in text_of(pilot, "#doctor-verdict")

        # Different results arrive: the earlier accept does not carry over.
        other = (*PASSING, replace(WARNING[-1], detail="secret is 85 days old"))
        await publish(pilot, engine, snap(tick=2, doctor=other))
        await wait_until(pilot, lambda: not accept.value, "the accept to be reset")
        assert not next_enabled(pilot)

        await click(pilot, "#accept-warn", until=lambda: next_enabled(pilot))
        await go_next(pilot, 2)


# --- step 2: plan ---------------------------------------------------------------------------

BAD_NOTIONALS = [
    ("", "notional is required"),
    ("abc", "'abc' is not an amount"),
    ("150,5", "use a dot for decimals: 150.5"),
    ("-5", "must be more than 0"),
    ("0", "must be more than 0"),
    ("1e3", "'1e3' is not an amount"),
    ("NaN", "'NaN' is not an amount"),
    ("150.555", "at most 2 decimal places"),
    ("600", "600 TRY is above MAX_NOTIONAL_PER_ORDER_TRY (500 TRY)"),
    ("50", "50 TRY is below MIN_ORDER_NOTIONAL_TRY (100 TRY)"),
]


async def test_bad_notional_is_refused_with_a_clear_message() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 2)
        for typed, message in BAD_NOTIONALS:
            await set_input(pilot, "#plan-notional", typed)
            await expect_text(pilot, "#err-notional", message)
            assert not next_enabled(pilot), typed
        await press_button(pilot, "#wizard-next")
        assert wizard(pilot).step == 2

        # Typed key by key, as an operator does, a good amount clears the error.
        await type_into(pilot, "#plan-notional", "150.5")
        await wait_until(pilot, lambda: not text_of(pilot, "#err-notional").strip(), "no error")
        assert next_enabled(pilot)


async def test_the_cap_comes_from_the_engine_settings() -> None:
    settings = Settings.model_construct(
        max_notional_per_order_try=Decimal("250"), min_order_notional_try=Decimal("10")
    )
    app, engine = make_app(snap(), settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 2)
        assert "MAX_NOTIONAL_PER_ORDER_TRY 250.00 TRY" in text_of(pilot, "#plan-caps")
        await set_input(pilot, "#plan-notional", "250.01")
        await expect_text(pilot, "#err-notional", "above MAX_NOTIONAL_PER_ORDER_TRY (250 TRY)")
        assert not next_enabled(pilot)
        await set_input(pilot, "#plan-notional", "250")
        await wait_until(pilot, lambda: next_enabled(pilot), "250 TRY to be accepted")


BAD_FIELDS = [
    ("ttl", "", "TTL is required"),
    ("ttl", "2", "TTL must be 5..3600 seconds"),
    ("ttl", "30.5", "'30.5' is not whole seconds"),
    ("cycles", "0", "max cycles must be 1..20"),
    ("cycles", "many", "'many' is not a whole number"),
]


async def test_bad_ttl_or_cycles_is_refused() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 2)
        await set_input(pilot, "#plan-notional", "150")
        await wait_until(pilot, lambda: next_enabled(pilot), "a valid form")
        for field, typed, message in BAD_FIELDS:
            await set_input(pilot, f"#plan-{field}", typed)
            await expect_text(pilot, f"#err-{field}", message)
            assert not next_enabled(pilot), typed
            await set_input(pilot, f"#plan-{field}", "5")
            await wait_until(pilot, lambda: next_enabled(pilot), "the form valid again")


async def test_symbols_come_from_the_universe_tradable_first() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 2)
        select = wizard(pilot).query_one("#plan-symbol", Select)
        assert select.value == "BTCTRY"
        await click(pilot, "#plan-symbol", until=lambda: select.expanded)  # as an operator would
        listing = select.query_one(OptionList)
        labels = [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]
        # The blank prompt first, then tradable symbols, then the excluded ones with why.
        assert labels[1:] == [
            "BTCTRY",
            "ETHTRY",
            "USDTTRY",
            "AVAXTRY  (out: universe:wide_spread)",
            "ARBTRY  (out: universe:low_volume)",
        ]
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: select.value == "USDTTRY", "USDTTRY chosen")


# --- step 3: gates --------------------------------------------------------------------------


async def test_gates_not_live_block_step_three_until_a_live_snapshot_arrives() -> None:
    app, engine = make_app(snap("OBSERVE_ONLY"))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 3)
        shown = text_of(pilot, "#gate-verdict")
        assert "Refusing to continue" in shown
        assert "OBSERVE_ONLY" in shown
        blocked = app.snapshot.gates.blocked_by
        assert len(blocked) >= 3  # the canned OBSERVE_ONLY gates have several conditions
        for name in blocked:
            assert name in shown
            assert REMEDIES[name] in shown
        assert not next_enabled(pilot)
        await press_button(pilot, "#wizard-next")
        assert wizard(pilot).step == 3

        # Still not LIVE (KILLED): re-check keeps refusing, naming the kill switch.
        await publish(pilot, engine, snap("KILLED", tick=5))
        await click(pilot, "#wizard-recheck")
        assert "KILL_SWITCH" in text_of(pilot, "#gate-verdict")
        assert not next_enabled(pilot)

        await publish(pilot, engine, snap("LIVE", tick=6))
        await click(pilot, "#wizard-recheck")
        assert "The gates say LIVE" in text_of(pilot, "#gate-verdict")
        assert next_enabled(pilot)
        await go_next(pilot, 4)
        assert not commands_of(engine, *LIVE_KINDS)


# --- step 4: typed confirmation -------------------------------------------------------------


async def test_typed_confirmation_must_match_the_symbol_exactly() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 4)
        assert "BTCTRY" in text_of(pilot, "#confirm-plan")
        assert "150.00 TRY" in text_of(pilot, "#confirm-plan")
        for wrong in ("BTC", "ETHTRY", "btctry", "BTCTRY!", ""):
            await set_input(pilot, "#confirm-symbol", wrong)
            await expect_text(pilot, "#confirm-hint", "exactly to confirm")
            assert not next_enabled(pilot), wrong
        await press_button(pilot, "#wizard-next")
        assert wizard(pilot).step == 4
        assert not commands_of(engine, *LIVE_KINDS)

        await type_into(pilot, "#confirm-symbol", "BTCTRY")
        await expect_text(pilot, "#confirm-hint", "Confirmed")
        assert next_enabled(pilot)
        # The gates drop out of LIVE before Start is pressed: Start is refused again.
        await publish(pilot, engine, snap("KILLED", tick=9))
        assert not next_enabled(pilot)
        assert "no longer say LIVE" in text_of(pilot, "#confirm-hint")
        await press_button(pilot, "#wizard-next")
        assert wizard(pilot).step == 4
        assert not commands_of(engine, *LIVE_KINDS)


async def test_going_back_to_change_the_plan_needs_a_fresh_confirmation() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 4)
        await set_input(pilot, "#confirm-symbol", "BTCTRY")
        await wait_until(pilot, lambda: next_enabled(pilot), "the confirmation to match")
        await press_button(pilot, "#wizard-back", until=lambda: wizard(pilot).step == 3)
        await press_button(pilot, "#wizard-back", until=lambda: wizard(pilot).step == 2)
        await set_input(pilot, "#plan-notional", "400")
        await wait_until(pilot, lambda: next_enabled(pilot), "400 TRY to be accepted")
        await go_next(pilot, 3)
        await go_next(pilot, 4)
        assert "400.00 TRY" in text_of(pilot, "#confirm-plan")
        assert wizard(pilot).query_one("#confirm-symbol").value == ""  # type: ignore[attr-defined]
        assert not next_enabled(pilot)
        assert not commands_of(engine, *LIVE_KINDS)


# --- step 5: run ----------------------------------------------------------------------------


async def test_opening_while_a_canary_runs_shows_it_instead_of_a_new_one() -> None:
    app, engine = make_app(snap(canary=running_view()))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot)
        assert wizard(pilot).step == 5
        assert "RUNNING" in text_of(pilot, "#canary-progress")
        assert engine.commands_sent == []  # no doctor run, and above all no second start
        await press_button(pilot, "#wizard-abort", until=lambda: commands_of(engine, AbortCanary))
        assert engine.commands_sent == [AbortCanary(ABORT_REASON)]


async def test_start_sends_the_exact_plan_with_a_decimal_notional() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5, symbol="ETHTRY", notional="150.25", ttl="45", cycles="3")
        starts = commands_of(engine, StartCanary)
        expected = CanaryPlan(
            symbol="ETHTRY", notional_try=Decimal("150.25"), ttl_seconds=45.0, max_cycles=3
        )
        assert starts == [StartCanary(expected)]
        sent = starts[0].plan.notional_try
        assert type(sent) is Decimal and str(sent) == "150.25"
        # Nothing else that acts was sent: only the doctor run before it.
        assert [type(c) for c in engine.commands_sent] == [RunDoctor, StartCanary]


async def test_progress_renders_from_the_canary_view() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5)
        assert "waiting for the engine" in text_of(pilot, "#canary-progress")
        await publish(pilot, engine, snap(tick=2, canary=running_view()))
        shown = text_of(pilot, "#canary-progress")
        assert "RUNNING" in shown
        assert "2/3" in shown  # cycle n/N
        assert "Orders placed  2" in shown
        assert "Still open     1" in shown
        assert "0.00005001 BTC (150.02 TRY)" in shown
        assert "-0.14 TRY" in shown
        assert "cycle 2: BUY 0.00005001 @ 2999830 placed" in shown
        for stop in ("stale market data", "an order reject", "latency", "kill switch (k)"):
            assert stop in shown
        assert wizard(pilot).step == 5


async def test_abort_during_the_run_sends_abort_canary_once() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5)
        await publish(pilot, engine, snap(tick=2, canary=running_view()))
        await click(pilot, "#wizard-abort", until=lambda: commands_of(engine, AbortCanary))
        assert commands_of(engine, AbortCanary) == [AbortCanary(ABORT_REASON)]
        await expect_text(pilot, "#canary-progress", "Abort requested")
        assert not commands_of(engine, SetSafeMode)  # AbortCanary itself turns safe mode on
        assert wizard(pilot).step == 5

        stopped = replace(
            running_view(), state="stopped", stop_reason="canary:aborted", orders_open=0
        )
        await publish(pilot, engine, snap(tick=3, canary=stopped))
        await wait_until(pilot, lambda: wizard(pilot).step == 6, "the summary")
        assert "canary:aborted" in text_of(pilot, "#canary-summary")
        assert commands_of(engine, AbortCanary) == [AbortCanary(ABORT_REASON)]


async def test_escape_during_the_run_aborts_and_a_second_escape_closes() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5)
        await pilot.press("escape")
        await wait_until(pilot, lambda: commands_of(engine, AbortCanary), "AbortCanary")
        assert isinstance(app.screen, CanaryWizardScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: _closed(app), "the wizard to close")
        assert commands_of(engine, AbortCanary) == [AbortCanary(ABORT_REASON)]


async def test_a_canary_from_before_is_not_taken_for_this_one() -> None:
    old = finished_view()  # same plan, already finished, still in the snapshot
    app, engine = make_app(snap(canary=old))
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5)
        await publish(pilot, engine, snap(tick=2, canary=old))
        await settle(pilot)
        assert wizard(pilot).step == 5
        assert "waiting for the engine" in text_of(pilot, "#canary-progress")
        await publish(pilot, engine, snap(tick=3, canary=running_view()))
        assert "RUNNING" in text_of(pilot, "#canary-progress")


async def test_a_refused_canary_goes_to_the_summary_with_its_reason() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5)
        refused = replace(
            running_view(),
            state="refused",
            cycle=0,
            orders_placed=0,
            orders_open=0,
            fills=0,
            events=(),
            stop_reason="canary:not_live",
            detail="the gates say OBSERVE_ONLY",
        )
        await publish(pilot, engine, snap(tick=2, canary=refused))
        await wait_until(pilot, lambda: wizard(pilot).step == 6, "the summary")
        shown = text_of(pilot, "#canary-summary")
        assert "REFUSED" in shown
        assert "canary:not_live" in shown
        assert "the gates say OBSERVE_ONLY" in shown
        assert "nothing was sent to the exchange" in shown
        assert "verified" not in shown  # nothing ran, nothing to verify


# --- step 6: summary ------------------------------------------------------------------------


async def test_summary_shows_figures_orders_and_verification() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        await to_step(pilot, engine, 5)
        await publish(pilot, engine, snap("OBSERVE_ONLY", tick=2, canary=finished_view()))
        await wait_until(pilot, lambda: wizard(pilot).step == 6, "the summary")
        shown = text_of(pilot, "#canary-summary")
        assert "FINISHED" in shown
        assert "Orders placed  2" in shown
        assert "Fees           0.14 TRY" in shown
        assert "-0.14 TRY" in shown
        assert (
            "bb1a2b3c4d" in shown
            and "bb9f8e7d6c" in shown
            and "Closed" in shown
            and "Canceled" in shown
        )
        assert "nothing of the canary's left open" in shown
        assert "verified against the exchange" in shown
        assert "safe mode is on" in shown

        # A later snapshot says it could not be verified and one order is open: shown at once.
        unverified = finished_view(verified=False, still_open=1)
        await publish(pilot, engine, snap("LIVE", tick=3, canary=unverified))
        shown = text_of(pilot, "#canary-summary")
        assert "NOT verified" in shown
        assert "1 canary order(s) still open" in shown
        assert "safe mode is OFF" in shown

        assert next_enabled(pilot)
        await press_button(pilot, "#wizard-next", until=lambda: _closed(app))  # Close
        assert commands_of(engine, StartCanary) == [StartCanary(PLAN)]


# --- abort before the run -------------------------------------------------------------------

# Every step below 5 takes the same path; these cover both ways in, at the first, the one
# operators abort at most (gates not LIVE) and the last (fully confirmed).
ABORTS = ((1, "escape"), (3, "button"), (4, "escape"))


async def test_abort_before_the_run_sends_nothing_live_and_safe_mode_on() -> None:
    app, engine = make_app(snap())
    async with app.run_test(size=(80, 24)) as pilot:
        for step, how in ABORTS:
            before = len(engine.commands_sent)
            await to_step(pilot, engine, step)
            if step == 4:  # even fully confirmed
                await set_input(pilot, "#confirm-symbol", "BTCTRY")
                await wait_until(pilot, lambda: next_enabled(pilot), "the confirmation")
            if how == "escape":
                await pilot.press("escape")
                await wait_until(pilot, lambda: _closed(app), "the wizard to close")
            else:
                await click(pilot, "#wizard-abort", until=lambda: _closed(app))
            sent = engine.commands_sent[before:]
            assert [type(c) for c in sent] == [RunDoctor, SetSafeMode], (step, how)
            assert sent[-1] == SetSafeMode(True)
        assert not commands_of(engine, *LIVE_KINDS)
