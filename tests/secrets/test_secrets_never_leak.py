"""Run every operator command with a recognisable key pair, then grep everything they left.

Logs at DEBUG, stdout and stderr of every command, the database and its WAL, a backup, exports,
and the repository's snapshot and screenshot SVGs: the key, the secret, and the secret's decoded
bytes must appear nowhere. A wrong secret is tried too, because error paths are where secrets
usually slip out.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.auth import (
    TEST_API_KEY,
    TEST_API_SECRET,
    Credentials,
)
from btcbot_engine.exchange.simulator.harness import running_simulator

REPO = Path(__file__).resolve().parents[2]
KEY = "LEAKCANARY-PUBLIC-KEY-7f3a9c2e"
SECRET_TEXT = b"LEAKCANARY-PRIVATE-SECRET-d41e8b77"
SECRET = base64.b64encode(SECRET_TEXT).decode()
WRONG_SECRET = base64.b64encode(b"LEAKCANARY-WRONG-SECRET-0000").decode()
NEEDLES = [KEY.encode(), SECRET.encode(), SECRET_TEXT, WRONG_SECRET.encode()]

COMMANDS = [
    ["gates", "--json"],
    ["health", "--json"],
    ["account", "--json"],
    ["doctor", "--json"],
    ["run", "--loop", "--max-cycles", "4", "--cycle-seconds", "0.3"],
    ["canary", "once", "--symbol", "BTCTRY", "--notional-try", "150", "--ttl-seconds", "1"],
    ["safe-mode", "off", "--yes"],
    ["report", "--json"],
    ["alerts", "--json"],
    ["export", "--last", "50", "--format", "csv", "--out", "out/export.csv"],
    ["export", "--last", "50", "--format", "jsonl", "--out", "out/export.jsonl"],
    ["db", "backup", "--out", "out/backup.db"],
    ["db", "check", "--json"],
    ["kill", "--reason", "leak check"],
    ["panic", "--yes-cancel-all"],
    ["kill", "--clear", "--yes"],
]


def _hits(data: bytes) -> list[str]:
    return [n.decode() for n in NEEDLES if n in data]


@pytest.mark.slow
def test_no_command_leaves_the_key_or_secret_anywhere(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    outputs: dict[str, bytes] = {}
    with running_simulator(
        seed=4, tick_interval_s=0.05, credentials=Credentials(KEY, SECRET)
    ) as sim:
        env_text = "".join(
            f"{k}={v}\n"
            for k, v in {
                "BTCTURK_BASE_URL": sim.base_url,
                "BTCTURK_GRAPH_URL": sim.graph_url,
                "BTCTURK_WS_URL": sim.ws_url,
                "BTCTURK_API_KEY": KEY,
                "BTCTURK_API_SECRET": SECRET,
                "BTCTURK_API_SCOPES": "read,trade",
                "SAFE_MODE": "false",
                "KILL_SWITCH": "false",
                "DRY_RUN": "false",
                "LIVE_TRADING": "true",
                "LIVE_TRADING_ACK": "I_UNDERSTAND",
                "STATE_DB_PATH": "var/state.db",
                "UNIVERSE_SYMBOLS": "BTCTRY,ETHTRY",
                "COOLDOWN_SECONDS": "0",
                "LOG_LEVEL": "DEBUG",
            }.items()
        )
        (tmp_path / ".env").write_text(env_text)
        (tmp_path / ".env").chmod(0o600)
        (tmp_path / "wrong.env").write_text(env_text.replace(SECRET, WRONG_SECRET))
        (tmp_path / "wrong.env").chmod(0o600)
        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        env["NO_COLOR"] = "1"
        runs = [(c, []) for c in COMMANDS] + [
            (c, ["--env-file", "wrong.env"]) for c in (["account"], ["doctor"], ["run", "--once"])
        ]
        codes = {}
        for command, extra in runs:
            name = " ".join([*extra, *command])
            out = subprocess.run(
                [sys.executable, "-m", "btcbot_engine.cli", *extra, *command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                timeout=120,
            )
            codes[name] = out.returncode
            outputs[name] = out.stdout + out.stderr
            assert b"Traceback" not in out.stderr, (name, out.stderr.decode()[-2000:])
    # The commands did real work: a run logged at DEBUG, the canary traded, exports exist.
    assert codes["run --loop --max-cycles 4 --cycle-seconds 0.3"] == 0, outputs
    assert b'"level": "DEBUG"' in outputs["run --loop --max-cycles 4 --cycle-seconds 0.3"]
    assert (tmp_path / "out" / "backup.db").stat().st_size > 0
    assert list((tmp_path / "out").glob("export.*.csv"))
    assert codes["--env-file wrong.env account"] == 1

    leaks = {name: _hits(data) for name, data in outputs.items() if _hits(data)}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in (".env", "wrong.env"):
            found = _hits(path.read_bytes())
            if found:
                leaks[str(path.relative_to(tmp_path))] = found
    assert leaks == {}, leaks
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 8, files  # database, WAL, backup, exports...


def test_snapshots_and_screenshots_show_no_credentials() -> None:
    svgs = list((REPO / "screenshots").glob("*.svg")) + list((REPO / "tests").rglob("*.svg"))
    assert len(svgs) >= 10
    needles = [TEST_API_KEY.encode(), TEST_API_SECRET.encode(), *NEEDLES]
    leaks = {
        str(p.relative_to(REPO)): [n.decode() for n in needles if n in p.read_bytes()] for p in svgs
    }
    assert {k: v for k, v in leaks.items() if v} == {}
