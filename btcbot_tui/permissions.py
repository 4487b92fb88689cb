"""Which operator actions the current snapshot allows, and why not when it doesn't.

Pure: a snapshot (plus whether the engine is running and the env's own switches) in, a reason per
forbidden action out. The app dims those bindings (`check_action` -> None) and shows the reason;
it never hides them. The engine's pre-write guard still has the last word on every write.
"""

from __future__ import annotations

from dataclasses import dataclass

from btcbot_engine.domain.orders import OrderState
from btcbot_engine.domain.records import OrderRecord
from btcbot_engine.domain.snapshot import EngineSnapshot


@dataclass(frozen=True, slots=True)
class EngineState:
    """What the app knows besides the snapshot."""

    running: bool = True
    failure: str | None = None
    env_safe_mode: bool = False
    env_kill_switch: bool = False


def is_killed(snapshot: EngineSnapshot | None) -> bool:
    """The kill switch is on (env or persisted) in this snapshot."""
    return snapshot is not None and "KILL_SWITCH" in snapshot.gates.blocked_by


def is_safe_mode(snapshot: EngineSnapshot | None) -> bool:
    """Safe mode is on (env or runtime) in this snapshot."""
    return snapshot is not None and "SAFE_MODE" in snapshot.gates.blocked_by


def cancel_block_reason(snapshot: EngineSnapshot) -> str | None:
    """Why cancels of our orders are refused now, or None when they are allowed.

    Mirrors the pre-write guard: live cancels as the gates allow; paper cancels in PAPER/KILLED.
    """
    gates = snapshot.gates
    if gates.live_cancel_allowed:
        return None
    paper = "DRY_RUN" in gates.blocked_by
    if paper and gates.mode.value in ("PAPER", "KILLED"):
        return None
    if "SAFE_MODE" in gates.blocked_by:
        return "safe mode is on: no submits, no cancels (press s to turn it off)"
    missing = [c for c in gates.blocked_by if c not in ("KILL_SWITCH",)]
    return "cancels are not armed: " + ", ".join(missing or [gates.mode.value])


def selected_cancel_reason(order: OrderRecord | None) -> str | None:
    """Why the selected order cannot be cancelled on its own, or None."""
    if order is None:
        return "no order selected (move the cursor in Open orders)"
    if order.state is OrderState.UNKNOWN or order.exchange_order_id is None:
        return "UNKNOWN order: reconciliation must resolve it before it can be cancelled"
    if order.state is OrderState.CANCELING:
        return "a cancel for this order is already in flight"
    return None


def blocked_actions(
    snapshot: EngineSnapshot | None,
    state: EngineState,
    *,
    selected: OrderRecord | None = None,
) -> dict[str, str]:
    """{action name: reason} for every action that is forbidden right now.

    Action names are the app's: run_cycle, safe_mode, cancel_order, cancel_all. Kill, doctor,
    wizard, help and quit are never blocked.
    """
    reasons: dict[str, str] = {}
    engine_reason: str | None = None
    if state.failure is not None:
        engine_reason = f"engine stopped: {state.failure}"
    elif not state.running:
        engine_reason = "engine is not running"
    elif snapshot is None:
        engine_reason = "engine is starting (no snapshot yet)"
    if engine_reason is not None:
        for action in ("run_cycle", "safe_mode", "cancel_order", "cancel_all"):
            reasons[action] = engine_reason
        return reasons
    assert snapshot is not None
    if is_safe_mode(snapshot) and state.env_safe_mode:
        reasons["safe_mode"] = "SAFE_MODE=true in the environment; set SAFE_MODE=false to lift it"
    cancel = cancel_block_reason(snapshot)
    if not snapshot.open_orders:
        reasons["cancel_all"] = "no open orders"
        reasons["cancel_order"] = "no open orders"
    elif cancel is not None:
        reasons["cancel_all"] = cancel
        reasons["cancel_order"] = cancel
    else:
        selected_reason = selected_cancel_reason(selected)
        if selected_reason is not None:
            reasons["cancel_order"] = selected_reason
    return reasons
