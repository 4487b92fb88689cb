"""Which actions the snapshot allows, and the reason shown when it doesn't (pure)."""

from __future__ import annotations

from dataclasses import replace

from btcbot_engine.domain.orders import OrderState
from btcbot_tui.canned import canned_order, canned_snapshot
from btcbot_tui.permissions import EngineState, blocked_actions, cancel_block_reason

RUNNING = EngineState()


def test_live_with_orders_allows_everything() -> None:
    snap = canned_snapshot("LIVE")
    assert blocked_actions(snap, RUNNING, selected=snap.open_orders[0]) == {}


def test_paper_cancels_go_to_the_paper_exchange() -> None:
    assert cancel_block_reason(canned_snapshot("PAPER")) is None
    assert cancel_block_reason(canned_snapshot("KILLED")) is None  # killed may still cancel


def test_safe_mode_blocks_cancels_with_the_way_out() -> None:
    snap = canned_snapshot("OBSERVE_ONLY")
    reasons = blocked_actions(snap, RUNNING, selected=snap.open_orders[0])
    assert "safe mode is on" in reasons["cancel_all"]
    assert "press s" in reasons["cancel_order"]
    assert "safe_mode" not in reasons, "safe mode can be turned off from the UI"


def test_env_safe_mode_dims_the_toggle() -> None:
    reasons = blocked_actions(canned_snapshot("OBSERVE_ONLY"), EngineState(env_safe_mode=True))
    assert "SAFE_MODE=true in the environment" in reasons["safe_mode"]


def test_unknown_or_unselected_order_cannot_be_cancelled_alone() -> None:
    snap = canned_snapshot("LIVE")
    unknown = canned_order(0, state=OrderState.UNKNOWN)
    assert "UNKNOWN" in blocked_actions(snap, RUNNING, selected=unknown)["cancel_order"]
    assert "no order selected" in blocked_actions(snap, RUNNING, selected=None)["cancel_order"]
    assert "cancel_all" not in blocked_actions(snap, RUNNING, selected=unknown)


def test_no_open_orders() -> None:
    snap = replace(canned_snapshot("LIVE"), open_orders=())
    reasons = blocked_actions(snap, RUNNING)
    assert reasons["cancel_all"] == reasons["cancel_order"] == "no open orders"


def test_engine_states_block_every_engine_action() -> None:
    for state, text in (
        (EngineState(failure="boom"), "engine stopped: boom"),
        (EngineState(running=False), "not running"),
    ):
        reasons = blocked_actions(canned_snapshot("LIVE"), state)
        assert set(reasons) == {"run_cycle", "safe_mode", "cancel_order", "cancel_all"}
        assert all(text in r for r in reasons.values())
    assert "starting" in blocked_actions(None, RUNNING)["run_cycle"]
