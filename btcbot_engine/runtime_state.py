"""Runtime safety state that outlives a process: the persisted kill switch and safe mode.

Runtime state can only ADD safety to what the environment says: the effective kill switch is
env OR persisted, and so is safe mode. Turning either off at runtime never overrides an env `true`.
"""

from __future__ import annotations

from btcbot_engine.config import Settings
from btcbot_engine.gates import GateDecision, evaluate_gates, gate_inputs
from btcbot_engine.store.db import StoreError
from btcbot_engine.store.readonly import read_runtime_flags


def read_persisted_kill(settings: Settings) -> bool:
    """The persisted kill state for this database; False when no database exists yet.

    A database we cannot read counts as killed: fail closed.
    """
    try:
        return bool(read_runtime_flags(settings.state_db_path).kill_switch)
    except StoreError:
        return True


def read_persisted_safe_mode(settings: Settings) -> bool:
    """The persisted runtime safe mode; False when never set. Unreadable counts as on."""
    try:
        return bool(read_runtime_flags(settings.state_db_path).safe_mode)
    except StoreError:
        return True


def effective_gates(settings: Settings) -> GateDecision:
    """The gate decision from settings plus the persisted flags of this database."""
    return evaluate_gates(
        gate_inputs(
            settings,
            persisted_kill=read_persisted_kill(settings),
            persisted_safe_mode=read_persisted_safe_mode(settings),
        )
    )
