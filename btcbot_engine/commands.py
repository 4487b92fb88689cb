"""Operator commands the engine accepts from any client (CLI, TUI): frozen, queue-safe."""

from __future__ import annotations

from dataclasses import dataclass

from btcbot_engine.domain.canary import CanaryPlan


@dataclass(frozen=True, slots=True)
class RunOneCycle:
    """Run one trading cycle now."""


@dataclass(frozen=True, slots=True)
class SetSafeMode:
    """Turn runtime safe mode on or off (persisted). Off cannot override SAFE_MODE=true in env."""

    on: bool


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one of our orders by client id."""

    client_id: str


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every open order of ours."""


@dataclass(frozen=True, slots=True)
class Kill:
    """Trip the kill switch: block submits at once, persist it, cancel our open orders."""

    reason: str = "operator"


@dataclass(frozen=True, slots=True)
class ClearKill:
    """Clear the persisted kill state (the env KILL_SWITCH still applies)."""


@dataclass(frozen=True, slots=True)
class RunDoctor:
    """Run the doctor checks and publish them in the snapshot."""


@dataclass(frozen=True, slots=True)
class StartCanary:
    """Start the bounded live canary (refused unless the gates say LIVE)."""

    plan: CanaryPlan


@dataclass(frozen=True, slots=True)
class AbortCanary:
    """Stop the canary: cancel its order, turn safe mode on."""

    reason: str = "operator"


Command = (
    RunOneCycle
    | SetSafeMode
    | CancelOrder
    | CancelAll
    | Kill
    | ClearKill
    | RunDoctor
    | StartCanary
    | AbortCanary
)
