"""Runtime safety flags and the pre-write guard consulted right before every exchange write.

The kill flag is a plain attribute behind a lock so the UI thread can set it synchronously: it
holds even while the engine is inside a slow HTTP call, because the guard reads it at the last
moment before bytes leave.
"""

from __future__ import annotations

import threading

from btcbot_engine import kill_request
from btcbot_engine.config import Settings
from btcbot_engine.exchange.port import WriteBlocked
from btcbot_engine.gates import GateDecision, Mode, evaluate_gates, gate_inputs


class SafetyFlags:
    """Runtime kill and safe-mode flags (thread-safe). They can only add to the env's safety."""

    def __init__(self, *, killed: bool = False, safe_mode: bool = False) -> None:
        self._lock = threading.Lock()
        self._killed = killed
        self._safe_mode = safe_mode

    @property
    def killed(self) -> bool:
        with self._lock:
            return self._killed

    @property
    def safe_mode(self) -> bool:
        with self._lock:
            return self._safe_mode

    def set_killed(self, value: bool) -> None:
        with self._lock:
            self._killed = value

    def set_safe_mode(self, value: bool) -> None:
        with self._lock:
            self._safe_mode = value


class PreWriteGuard:
    """Re-evaluates the gates from settings plus runtime flags at the moment of a write.

    `live` says which exchange the writes go to: the live adapter (real money) or the paper
    exchange. Paper writes are allowed only in PAPER mode; live writes only as the gates allow.
    """

    def __init__(self, settings: Settings, flags: SafetyFlags, *, live: bool) -> None:
        self._settings = settings
        self._flags = flags
        self.live = live

    def decision(self) -> GateDecision:
        """The gate decision right now (a pending kill request counts as killed)."""
        # `btcbot kill`/`panic` beside a running engine leave <db>.kill: one stat, every write.
        requested = kill_request.is_pending(self._settings.state_db_path)
        return evaluate_gates(
            gate_inputs(
                self._settings,
                persisted_kill=self._flags.killed or requested,
                persisted_safe_mode=self._flags.safe_mode,
            )
        )

    def check(self, action: str) -> None:
        """Raise WriteBlocked unless `action` ("submit" or "cancel") is allowed now."""
        d = self.decision()
        if self.live:
            allowed = d.live_submit_allowed if action == "submit" else d.live_cancel_allowed
        elif action == "submit":
            allowed = d.mode is Mode.PAPER
        else:
            # Paper cancels only touch simulated orders; KILLED still cancels ours.
            allowed = d.mode in (Mode.PAPER, Mode.KILLED)
        if not allowed:
            raise WriteBlocked(action, d.blocked_by or (d.mode.value,))

    def __call__(self, action: str) -> None:
        """The adapter's `write_guard` hook."""
        self.check(action)
