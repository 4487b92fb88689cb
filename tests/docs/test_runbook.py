"""docs/RUNBOOK.md cannot drift: every `sh` block in it runs here, in order, against the simulator.

A block is preceded by `<!-- doc-test: env=PROFILE exit=CODES [loop-cap] [drill-cap] -->`:
PROFILE picks the `.env` written into the working directory (the stages of the rollout), CODES the
exit codes accepted for each command. `loop-cap` and `drill-cap` bound commands that would run
until stopped (`--max-cycles`), which is the only change made to what the page says.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
_BLOCK = re.compile(r"<!-- doc-test: (?P<spec>[^>]*) -->\n```sh\n(?P<body>.*?)```", re.S)
_CAP = ["--max-cycles", "2", "--cycle-seconds", "0.5"]


@dataclass(frozen=True)
class Block:
    """One annotated shell block of the runbook."""

    index: int
    profile: str
    exits: frozenset[int]
    flags: frozenset[str]
    commands: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.index:02d}-{self.profile}-{self.commands[0].split()[1]}"


def _blocks() -> list[Block]:
    text = RUNBOOK.read_text()
    blocks = []
    for i, match in enumerate(_BLOCK.finditer(text)):
        words = match["spec"].split()
        spec = dict(w.split("=", 1) for w in words if "=" in w)
        commands = tuple(
            line.strip() for line in match["body"].splitlines() if line.strip().startswith("btcbot")
        )
        blocks.append(
            Block(
                index=i,
                profile=spec["env"],
                exits=frozenset(int(c) for c in spec.get("exit", "0").split(",")),
                flags=frozenset(w for w in words if "=" not in w),
                commands=commands,
            )
        )
    return blocks


BLOCKS = _blocks()


def test_every_sh_block_is_annotated_and_runs_something() -> None:
    text = RUNBOOK.read_text()
    assert text.count("```sh") == len(BLOCKS), "a ```sh block without a doc-test comment"
    assert all(block.commands for block in BLOCKS)


def _profiles(sim: SimulatorHandle) -> dict[str, dict[str, str]]:
    base = {
        "BTCTURK_BASE_URL": sim.base_url,
        "BTCTURK_GRAPH_URL": sim.graph_url,
        "BTCTURK_WS_URL": sim.ws_url,
        "STATE_DB_PATH": "var/btcbot_state.db",
        "UNIVERSE_SYMBOLS": "BTCTRY,ETHTRY",
        "HTTP_TIMEOUT_SECONDS": "3",
        "COOLDOWN_SECONDS": "0",
    }
    keys = {
        "BTCTURK_API_KEY": sim.api_key,
        "BTCTURK_API_SECRET": sim.api_secret,
        "BTCTURK_SECRET_ROTATED_AT": "2026-11-01",
    }
    armed = {
        **base,
        **keys,
        "STATE_DB_PATH": "var/btcbot_live.db",
        "BTCTURK_API_SCOPES": "read,trade",
        "SAFE_MODE": "false",
        "KILL_SWITCH": "false",
        "DRY_RUN": "false",
        "LIVE_TRADING": "true",
        "LIVE_TRADING_ACK": "I_UNDERSTAND",
    }
    return {
        "first-boot": base,
        "observe": {**base, **keys},
        "paper": {**base, **keys, "SAFE_MODE": "false", "KILL_SWITCH": "false"},
        "live": armed,
        "safe": {**armed, "SAFE_MODE": "true"},
    }


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=11, tick_interval_s=0.1) as handle:
        yield handle


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runbook")
    (path / "var").mkdir()
    return path


def _argv(command: str, flags: frozenset[str]) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "btcbot", command
    args = words[1:]
    if "loop-cap" in flags and args[:2] == ["run", "--loop"]:
        args += _CAP
    if "drill-cap" in flags and args[0] == "drill" and "--list" not in args:
        args += _CAP
    return [sys.executable, "-m", "btcbot_engine.cli", *args]


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_runbook_block_runs(block: Block, sim: SimulatorHandle, workdir: Path) -> None:
    profile = _profiles(sim)[block.profile]
    env_file = workdir / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in profile.items()))
    env_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["NO_COLOR"] = "1"
    for command in block.commands:
        out = subprocess.run(
            _argv(command, block.flags),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        detail = f"{command!r} exited {out.returncode}\n{out.stdout}\n{out.stderr}"
        assert out.returncode in block.exits, detail
        assert "Traceback" not in out.stderr, detail
        assert out.stdout.strip() or out.stderr.strip(), f"{command!r} printed nothing"
