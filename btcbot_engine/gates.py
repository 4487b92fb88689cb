"""Safety gates: one pure function decides whether the bot may write to the exchange.

Used by the CLI, the TUI and the pre-write guard that runs right before every submit and cancel.
The order of `blocked_by` is fixed so operators and tests read the same list everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from btcbot_engine.config import LIVE_ACK_PHRASE

if TYPE_CHECKING:
    from btcbot_engine.config import Settings


class Mode(StrEnum):
    """What the bot does with its decisions."""

    OBSERVE_ONLY = "OBSERVE_ONLY"  # decide and record only; execute nothing, not even on paper
    KILLED = "KILLED"  # no submits; cancelling our own orders allowed
    PAPER = "PAPER"  # simulated fills against real market data; no exchange writes
    LIVE = "LIVE"  # real orders


@dataclass(frozen=True, slots=True)
class GateInputs:
    """Everything the gates depend on. `kill_switch` is env OR persisted kill state."""

    safe_mode: bool
    kill_switch: bool
    dry_run: bool
    live_trading: bool
    live_trading_ack: str
    has_api_keys: bool


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The verdict: mode, whether live submits/cancels may happen, and every unmet condition."""

    mode: Mode
    live_submit_allowed: bool
    live_cancel_allowed: bool
    blocked_by: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The documented JSON shape of `btcbot gates --json`."""
        return {
            "mode": self.mode.value,
            "live_submit_allowed": self.live_submit_allowed,
            "live_cancel_allowed": self.live_cancel_allowed,
            "blocked_by": list(self.blocked_by),
        }


def evaluate_gates(inputs: GateInputs) -> GateDecision:
    """Decide the mode and what may be written. Pure: same inputs, same decision."""
    ack_ok = inputs.live_trading_ack == LIVE_ACK_PHRASE
    blocked: list[str] = []
    if inputs.safe_mode:
        blocked.append("SAFE_MODE")
    if inputs.kill_switch:
        blocked.append("KILL_SWITCH")
    if inputs.dry_run:
        blocked.append("DRY_RUN")
    if not inputs.live_trading:
        blocked.append("LIVE_TRADING")
    if not ack_ok:
        blocked.append("LIVE_TRADING_ACK")
    if not inputs.has_api_keys:
        blocked.append("API_KEYS")

    submit_allowed = not blocked
    # The kill switch stops new orders but must never stop us cancelling our own.
    cancel_allowed = (
        not inputs.safe_mode
        and not inputs.dry_run
        and inputs.live_trading
        and ack_ok
        and inputs.has_api_keys
    )
    if inputs.safe_mode:
        mode = Mode.OBSERVE_ONLY
    elif inputs.kill_switch:
        mode = Mode.KILLED
    elif inputs.dry_run:
        mode = Mode.PAPER
    elif submit_allowed:
        mode = Mode.LIVE
    else:
        mode = Mode.OBSERVE_ONLY
    return GateDecision(
        mode=mode,
        live_submit_allowed=submit_allowed,
        live_cancel_allowed=cancel_allowed,
        blocked_by=tuple(blocked),
    )


def gate_inputs(
    settings: Settings, *, persisted_kill: bool = False, persisted_safe_mode: bool = False
) -> GateInputs:
    """Build gate inputs from settings plus persisted runtime flags.

    Runtime state can only add safety: each flag is the env value OR the persisted one.
    """
    return GateInputs(
        safe_mode=settings.safe_mode or persisted_safe_mode,
        kill_switch=settings.kill_switch or persisted_kill,
        dry_run=settings.dry_run,
        live_trading=settings.live_trading,
        live_trading_ack=settings.live_trading_ack,
        has_api_keys=settings.has_api_keys,
    )


# What the operator changes to clear each condition (shown by the CLI and the TUI).
REMEDIES: dict[str, str] = {
    "SAFE_MODE": "set SAFE_MODE=false to allow orders (if on at runtime: btcbot safe-mode off)",
    "KILL_SWITCH": "set KILL_SWITCH=false (if persisted at runtime: btcbot kill --clear)",
    "DRY_RUN": "set DRY_RUN=false to leave paper trading",
    "LIVE_TRADING": "set LIVE_TRADING=true to arm live trading",
    "LIVE_TRADING_ACK": "set LIVE_TRADING_ACK=I_UNDERSTAND",
    "API_KEYS": "set BTCTURK_API_KEY and BTCTURK_API_SECRET",
}

CONDITIONS: tuple[str, ...] = tuple(REMEDIES)
