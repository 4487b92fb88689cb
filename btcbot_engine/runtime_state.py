"""Runtime safety state that outlives a process: the persisted kill switch and safe mode.

Runtime state can only ADD safety to what the environment says: the effective kill switch is
env OR persisted, and so is safe mode. Turning either off at runtime never overrides an env `true`.
"""

from __future__ import annotations

from btcbot_engine import kill_request
from btcbot_engine.config import Settings
from btcbot_engine.gates import GateDecision, evaluate_gates, gate_inputs
from btcbot_engine.store.db import StoreError
from btcbot_engine.store.readonly import read_runtime_flags


def read_persisted_kill(settings: Settings) -> bool:
    """The persisted kill state for this database; False when no database exists yet.

    A pending kill request (`btcbot kill`/`panic` while an engine runs) counts as killed, and so
    does a database we cannot read: fail closed.
    """
    if kill_request.is_pending(settings.state_db_path):
        return True
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


def set_persisted_safe_mode(settings: Settings, on: bool, *, command: str) -> bool:
    """Persist runtime safe mode in this database, with the instance lock held; returns the old
    value. Raises InstanceLocked while an engine runs (change it there: the TUI's `s`) and
    StoreError when the database cannot be opened. Env SAFE_MODE=true still wins either way.
    """
    from btcbot_engine.store.db import open_database
    from btcbot_engine.store.lock import InstanceLock

    with InstanceLock(settings.state_db_path, settings.account_key, command=command):
        store = open_database(settings.state_db_path, account_key=settings.account_key)
        try:
            was = store.runtime.safe_mode()
            store.runtime.set_safe_mode(on)
        finally:
            store.close()
    return was
