"""Each key sends the right command to the engine; confirmations appear exactly where required."""

from __future__ import annotations

import pytest
from textual.widgets import Button
from tui_helpers import make_app, plain_text, wait_for

from btcbot_engine.commands import (
    CancelAll,
    CancelOrder,
    ClearKill,
    Kill,
    RunDoctor,
    RunOneCycle,
    SetSafeMode,
)
from btcbot_tui.app import CLEAR_KILL_PHRASE, BtcbotApp
from btcbot_tui.canned import canned_snapshot
from btcbot_tui.screens.canary_wizard import CanaryWizardScreen
from btcbot_tui.screens.confirm import ConfirmScreen, TypedConfirmScreen
from btcbot_tui.screens.dashboard import DashboardScreen
from btcbot_tui.screens.doctor import DoctorScreen
from btcbot_tui.screens.help import HelpScreen
from btcbot_tui.widgets.orders import OrdersPane

SIZE = (100, 30)


async def test_every_binding_has_an_id_and_kill_is_priority() -> None:
    ids = {b.id for b in BtcbotApp.BINDINGS}  # type: ignore[union-attr]
    assert None not in ids
    assert {"kill", "run_cycle", "safe_mode", "cancel_order", "cancel_all"} <= ids
    assert {"doctor", "wizard", "help", "quit"} <= ids
    kill = [b for b in BtcbotApp.BINDINGS if getattr(b, "id", None) == "kill"]
    assert kill and kill[0].priority  # type: ignore[union-attr]


async def test_r_runs_one_cycle() -> None:
    app, engine = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        assert engine.commands_sent == [RunOneCycle()]
        assert isinstance(app.screen, DashboardScreen)


async def test_s_turns_safe_mode_on_without_asking() -> None:
    app, engine = make_app(mode="PAPER")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert engine.commands_sent == [SetSafeMode(on=True)]
        assert isinstance(app.screen, DashboardScreen), "turning safe mode ON never asks"


async def test_s_turning_safe_mode_off_asks_first() -> None:
    app, engine = make_app(mode="OBSERVE_ONLY")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert engine.commands_sent == []
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert engine.commands_sent == []
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert engine.commands_sent == [SetSafeMode(on=False)]


async def test_enter_alone_never_confirms() -> None:
    app, engine = make_app(mode="OBSERVE_ONLY")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.focused is not None and app.screen.focused.id == "no"
        await pilot.press("enter")
        await pilot.pause()
        assert engine.commands_sent == []


async def test_s_is_dimmed_with_the_reason_when_the_env_forces_safe_mode() -> None:
    app, engine = make_app(mode="OBSERVE_ONLY", env_safe_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.check_action("safe_mode", ()) is None  # dimmed, not hidden
        await pilot.press("s")
        await pilot.pause()
        assert engine.commands_sent == []
        assert isinstance(app.screen, DashboardScreen)
        messages = [n.message for n in app._notifications]
        assert any("SAFE_MODE=true in the environment" in m for m in messages), messages


async def test_c_cancels_the_selected_order() -> None:
    app, engine = make_app(mode="PAPER")
    async with app.run_test(size=SIZE) as pilot:
        orders = app.screen.query_one(OrdersPane)
        first, second = orders.row_keys[:2]
        await pilot.press("c")
        await pilot.press("down")
        await pilot.press("c")
        assert engine.commands_sent == [CancelOrder(first), CancelOrder(second)]
        assert isinstance(app.screen, DashboardScreen), "one cancel does not ask"


async def test_c_on_an_unknown_order_is_dimmed_and_explained() -> None:
    app, engine = make_app(mode="LIVE", unknown=True)
    async with app.run_test(size=SIZE) as pilot:
        orders = app.screen.query_one(OrdersPane)
        assert orders.selected_order() is not None
        assert orders.selected_order().state.value == "UNKNOWN"  # type: ignore[union-attr]
        assert app.check_action("cancel_order", ()) is None
        await pilot.press("c")
        await pilot.pause()
        assert engine.commands_sent == []
        assert any("UNKNOWN order" in n.message for n in app._notifications)
        await pilot.press("down")  # a normal order: allowed again
        await pilot.pause()
        assert app.check_action("cancel_order", ()) is True


async def test_cancel_all_asks_naming_how_many() -> None:
    app, engine = make_app(mode="LIVE", n_orders=7)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "7 open orders" in str(app.screen.query_one("#question").render())
        assert "Cancel 7" in str(app.screen.query_one("#yes", Button).label)
        assert engine.commands_sent == []
        await pilot.press("y")
        await pilot.pause()
        assert engine.commands_sent == [CancelAll()]


async def test_cancel_all_declined_sends_nothing() -> None:
    app, engine = make_app(mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("C")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert engine.commands_sent == []


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("PAPER", "no open orders"), ("OBSERVE_ONLY", "safe mode is on")],
)
async def test_cancel_all_dimmed_explains_itself(mode: str, reason: str) -> None:
    orders = 0 if reason == "no open orders" else 3
    app, engine = make_app(mode=mode, n_orders=orders)
    async with app.run_test(size=SIZE) as pilot:
        assert app.check_action("cancel_all", ()) is None
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen), "a dimmed action opens nothing"
        assert engine.commands_sent == []
        assert any(reason in n.message for n in app._notifications)


async def test_k_trips_the_kill_switch_at_once() -> None:
    app, engine = make_app(mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        assert engine.commands_sent == [Kill("operator")]
        assert engine.kills == ["operator"]
        assert isinstance(app.screen, DashboardScreen), "stopping never asks"
        assert app.kill_sent
        banner = app.screen.query_one("#mode-banner")
        assert banner.has_class("-killed")
        assert "KILLED" in str(banner.render())


@pytest.mark.parametrize("pane", ["#orders", "#fills", "#universe", "#body"])
async def test_kill_works_with_focus_in_any_pane(pane: str) -> None:
    app, engine = make_app(mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.query_one(pane).focus()
        await pilot.pause()
        assert app.focused is not None and app.focused.id == pane[1:]
        await pilot.press("k")
        assert engine.kills == ["operator"]


@pytest.mark.parametrize("opener", ["C", "question_mark", "s", "q"])
async def test_kill_works_inside_every_confirmation_and_help(opener: str) -> None:
    mode = "OBSERVE_ONLY" if opener == "s" else "LIVE"
    app, engine = make_app(mode=mode, n_orders=3)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(opener)
        await pilot.pause()
        assert isinstance(app.screen, (ConfirmScreen, HelpScreen))
        await pilot.press("k")
        await pilot.pause()
        assert engine.kills == ["operator"]
        assert isinstance(app.screen, DashboardScreen), "the modal is abandoned, not confirmed"
        assert all(isinstance(c, Kill) for c in engine.commands_sent)


async def test_kill_works_inside_the_typed_confirmation_field() -> None:
    app, engine = make_app(mode="KILLED")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        assert app.focused is not None and app.focused.id == "phrase"
        await pilot.press("k")
        await pilot.pause()
        assert engine.kills == ["operator"]
        assert ClearKill() not in engine.commands_sent
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.parametrize("key", ["d", "w"])
async def test_kill_works_inside_the_doctor_and_the_wizard(key: str) -> None:
    app, engine = make_app(mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, (DoctorScreen, CanaryWizardScreen))
        await pilot.press("ctrl+k")  # works whatever has focus, even a text field
        await pilot.pause()
        assert engine.kills == ["operator"]
        await pilot.press("k")
        await pilot.pause()
        assert engine.kills == ["operator", "operator"], f"k swallowed by {app.focused!r}"


async def test_k_when_killed_asks_for_the_typed_phrase_to_clear() -> None:
    app, engine = make_app(mode="KILLED")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        assert engine.commands_sent == [], "already killed: k does not send another kill"
        await pilot.press(*"CLEAN", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen), "a wrong phrase changes nothing"
        assert engine.commands_sent == []
        phrase = app.screen.query_one("#phrase")
        phrase.value = ""  # type: ignore[attr-defined]
        await pilot.press(*CLEAR_KILL_PHRASE, "enter")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert engine.commands_sent == [ClearKill()]


async def test_clear_kill_mentions_the_env_kill_switch() -> None:
    app, _engine = make_app(mode="KILLED", env_kill_switch=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        await pilot.pause()
        assert "KILL_SWITCH=true" in str(app.screen.query_one("#question").render())


async def test_kill_sent_clears_once_the_engine_reports_killed() -> None:
    app, engine = make_app(mode="LIVE")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        assert app.kill_sent
        engine.publish(canned_snapshot("KILLED"))
        await wait_for(pilot, lambda: not app.kill_sent)
        assert app.screen.query_one("#mode-banner").has_class("-killed")


async def test_d_opens_the_doctor_and_asks_the_engine_to_run_it() -> None:
    app, engine = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DoctorScreen)
        assert RunDoctor() in engine.commands_sent


async def test_w_opens_the_canary_wizard() -> None:
    app, engine = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, CanaryWizardScreen)
        assert not [c for c in engine.commands_sent if not isinstance(c, RunDoctor)]


async def test_help_lists_every_key_and_why_dimmed_ones_are_unavailable() -> None:
    app, _engine = make_app(mode="OBSERVE_ONLY", env_safe_mode=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = plain_text(app.screen.query_one("#help-keys"))
        for binding_id in ("kill", "run_cycle", "safe_mode", "cancel_all", "wizard", "quit"):
            assert binding_id in text
        assert "SAFE_MODE=true in the environment" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_q_quits_at_once_outside_live() -> None:
    app, engine = make_app(mode="PAPER")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    assert engine.stop_calls >= 1
    assert app.engine_done


async def test_q_in_live_with_open_orders_asks_first() -> None:
    app, engine = make_app(mode="LIVE", n_orders=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "2 LIVE orders" in str(app.screen.query_one("#question").render())
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, DashboardScreen)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert engine.commands_sent == [], "quitting never cancels or kills by itself"


async def test_q_in_live_without_orders_does_not_ask() -> None:
    app, _engine = make_app(mode="LIVE", n_orders=0)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


async def test_remapped_keys_follow_their_binding_id() -> None:
    app, engine = make_app()
    app.set_keymap({"run_cycle": "R"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.press("R")
        assert engine.commands_sent == [RunOneCycle()]


async def test_actions_dimmed_until_the_first_snapshot() -> None:
    app, engine = make_app(mode="PAPER")
    engine._snapshot = None  # an engine that has not published yet
    async with app.run_test(size=SIZE) as pilot:
        assert app.check_action("run_cycle", ()) is None
        await pilot.press("r")
        assert engine.commands_sent == []
        engine.publish(canned_snapshot("PAPER"))
        await wait_for(pilot, lambda: app.snapshot is not None)
        assert app.check_action("run_cycle", ()) is True


@pytest.mark.parametrize(("opener", "closer"), [("s", "k"), ("C", "k"), ("s", "n"), ("C", "n")])
async def test_closing_a_dialog_while_it_mounts_does_not_crash(opener: str, closer: str) -> None:
    mode = "OBSERVE_ONLY" if opener == "s" else "LIVE"
    app, engine = make_app(mode=mode)
    async with app.run_test(size=SIZE) as pilot:
        app.simulate_key(opener)  # two keys in one burst: the dialog is still being mounted
        app.simulate_key(closer)
        await pilot.pause()
        await pilot.pause()
        assert app.is_running and app._exception is None
        assert isinstance(app.screen, DashboardScreen)
        assert engine.kills == (["operator"] if closer == "k" else [])
        assert [c for c in engine.commands_sent if not isinstance(c, Kill)] == []
