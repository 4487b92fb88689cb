"""The gates: an exhaustive table over every combination of inputs."""

from __future__ import annotations

import itertools

import pytest

from btcbot_engine.gates import GateInputs, Mode, evaluate_gates

ORDER = ["SAFE_MODE", "KILL_SWITCH", "DRY_RUN", "LIVE_TRADING", "LIVE_TRADING_ACK", "API_KEYS"]
ACKS = ["", "I_UNDERSTAND", "i_understand", "I_UNDERSTAND "]


def _expected(i: GateInputs) -> tuple[str, bool, bool, list[str]]:
    """An independent restatement of the rules in the issue, written as a table of facts."""
    ack = i.live_trading_ack == "I_UNDERSTAND"
    unmet = {
        "SAFE_MODE": i.safe_mode,
        "KILL_SWITCH": i.kill_switch,
        "DRY_RUN": i.dry_run,
        "LIVE_TRADING": not i.live_trading,
        "LIVE_TRADING_ACK": not ack,
        "API_KEYS": not i.has_api_keys,
    }
    blocked = [name for name in ORDER if unmet[name]]
    submit = not blocked
    cancel = (not i.safe_mode) and (not i.dry_run) and i.live_trading and ack and i.has_api_keys
    if i.safe_mode:
        mode = "OBSERVE_ONLY"
    elif i.kill_switch:
        mode = "KILLED"
    elif i.dry_run:
        mode = "PAPER"
    elif submit:
        mode = "LIVE"
    else:
        mode = "OBSERVE_ONLY"
    return mode, submit, cancel, blocked


ALL_INPUTS = [
    GateInputs(safe, kill, dry, live, ack, keys)
    for safe, kill, dry, live, keys in itertools.product([False, True], repeat=5)
    for ack in ACKS
]


@pytest.mark.parametrize("inputs", ALL_INPUTS)
def test_every_combination(inputs: GateInputs) -> None:
    decision = evaluate_gates(inputs)
    mode, submit, cancel, blocked = _expected(inputs)
    assert decision.to_json() == {
        "mode": mode,
        "live_submit_allowed": submit,
        "live_cancel_allowed": cancel,
        "blocked_by": blocked,
    }


def test_only_one_combination_is_live() -> None:
    live = [i for i in ALL_INPUTS if evaluate_gates(i).mode is Mode.LIVE]
    assert live == [GateInputs(False, False, False, True, "I_UNDERSTAND", True)]


def test_kill_switch_blocks_submit_but_never_cancel() -> None:
    d = evaluate_gates(GateInputs(False, True, False, True, "I_UNDERSTAND", True))
    assert d.mode is Mode.KILLED
    assert not d.live_submit_allowed
    assert d.live_cancel_allowed
    assert d.blocked_by == ("KILL_SWITCH",)


def test_safe_mode_wins_over_everything() -> None:
    for inputs in ALL_INPUTS:
        if inputs.safe_mode:
            d = evaluate_gates(inputs)
            assert d.mode is Mode.OBSERVE_ONLY
            assert not d.live_submit_allowed and not d.live_cancel_allowed


def test_persisted_flags_only_add_safety() -> None:
    from btcbot_engine.config import Settings
    from btcbot_engine.gates import gate_inputs

    env_safe = Settings.model_construct(**{**Settings().model_dump(), "safe_mode": True})
    assert gate_inputs(env_safe, persisted_safe_mode=False).safe_mode is True
    env_open = Settings.model_construct(
        **{**Settings().model_dump(), "safe_mode": False, "kill_switch": False}
    )
    inputs = gate_inputs(env_open, persisted_kill=True, persisted_safe_mode=True)
    assert inputs.safe_mode and inputs.kill_switch
