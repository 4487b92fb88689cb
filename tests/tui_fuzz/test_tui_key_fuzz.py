"""Random key sequences against the real app on a fake engine: no crash, and no command the
keys did not name. In particular nothing turns trading back on without its confirmation.

Seeded, so a failure replays exactly; the seed and the key index are in the message.
"""

from __future__ import annotations

import random

import pytest

from btcbot_engine.commands import (
    AbortCanary,
    CancelAll,
    CancelOrder,
    ClearKill,
    Command,
    Kill,
    RunDoctor,
    RunOneCycle,
    SetSafeMode,
    StartCanary,
)
from btcbot_engine.config import Settings
from btcbot_tui.app import CLEAR_KILL_PHRASE, BtcbotApp
from btcbot_tui.canned import canned_snapshot
from btcbot_tui.facade import FakeEngine

# Every bound key, confirmations, navigation, and noise; not `q`/ctrl+c, which end the session.
BOUND = ["r", "s", "c", "C", "k", "d", "w", "question_mark", "y", "n", "escape", "enter"]
NAV = ["tab", "shift+tab", "up", "down", "left", "right", "pageup", "pagedown", "home", "space"]
NOISE = ["x", "Z", "1", "0", ".", "minus", "E", "A", "R", "L", "B", "T", "ctrl+x", "f1", "delete"]
KEYS_PER_RUN = 500
SEEDS = (1, 2, 3, 4)
MODES = ("PAPER", "LIVE", "KILLED", "OBSERVE_ONLY")


def _explained(command: Command, pressed: list[str]) -> bool:
    """Could the keys pressed so far have asked for this command?"""
    text = "".join(k if len(k) == 1 else " " for k in pressed)
    match command:
        case RunOneCycle():
            return "r" in pressed
        case SetSafeMode(on=True):
            return "s" in pressed or "escape" in pressed  # leaving the wizard turns it on
        case SetSafeMode(on=False):
            # Off only through the confirmation that `s` opens.
            return "s" in pressed and ("y" in pressed or "enter" in pressed)
        case CancelOrder():
            return "c" in pressed
        case CancelAll():
            return "C" in pressed
        case Kill():
            return "k" in pressed
        case ClearKill():
            return "k" in pressed and CLEAR_KILL_PHRASE in text
        case RunDoctor():
            return "d" in pressed or "w" in pressed or "r" in pressed
        case AbortCanary():
            return "w" in pressed
        case StartCanary():
            return False  # needs a symbol, a notional and a typed confirmation: never by chance
    return False


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
async def test_random_keys_never_crash_or_send_unnamed_commands(seed: int) -> None:
    rng = random.Random(seed)
    mode = MODES[seed % len(MODES)]
    snap = canned_snapshot(mode, unknown=seed % 2 == 0, stale=seed % 3 == 0)
    engine = FakeEngine(snap, settings=Settings.model_construct(safe_mode=False))
    app = BtcbotApp(engine)
    app.animation_level = "none"
    alphabet = BOUND * 3 + NAV + NOISE
    pressed: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        for i in range(KEYS_PER_RUN):
            key = rng.choice(alphabet)
            pressed.append(key)
            await pilot.press(key)
            if i % 25 == 0:
                await pilot.pause()  # let pushed screens and workers settle now and then
            assert app.is_running, f"seed {seed}: the app stopped after key {i} ({key!r})"
            for command in engine.commands_sent[len(engine.commands_sent) - 3 :]:
                assert _explained(command, pressed), (
                    f"seed {seed}: {command!r} after key {i} ({key!r}) "
                    f"was not named by the keys pressed"
                )
        await pilot.pause()
    sent = engine.commands_sent
    assert all(_explained(c, pressed) for c in sent)
    assert not any(isinstance(c, StartCanary) for c in sent)
    # The run exercised the app: it did send commands, and the kill key was honoured.
    assert sent and (engine.kills or "k" not in pressed)
