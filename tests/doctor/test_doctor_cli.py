"""`btcbot doctor` as an operator runs it: exit codes 0/1/2, one JSON document, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from doctor_testkit import seed_db, sim_env

from btcbot_engine.cli import main
from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator


def _write_env(path: Path, values: dict[str, str], mode: int = 0o600) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(mode)
    return path


def _btcbot(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exit_codes_0_1_2(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    env_file = _write_env(tmp_path / "sim.env", sim_env(healthy_sim, db))

    missing_db = _btcbot(["--env-file", str(env_file), "doctor"], tmp_path)
    assert missing_db.returncode == 1, missing_db.stdout + missing_db.stderr
    assert missing_db.stdout.startswith("doctor WARN")
    assert "WARN  db_file" in missing_db.stdout
    assert "fix: nothing to do if this is a first run" in missing_db.stdout

    seed_db(db)
    healthy = _btcbot(["--env-file", str(env_file), "doctor"], tmp_path)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.startswith("doctor PASS")
    assert "  WARN  " not in healthy.stdout and "  FAIL  " not in healthy.stdout
    assert healthy_sim.api_secret not in healthy.stdout + healthy.stderr

    with running_simulator(seed=2, tick_interval_s=0) as gone:
        down_env = sim_env(gone, db, http_timeout_seconds="1")
    _write_env(env_file, down_env)
    down = _btcbot(["--env-file", str(env_file), "doctor"], tmp_path)
    assert down.returncode == 2
    assert "FAIL  exchange" in down.stdout


def test_json_is_exactly_one_document(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    seed_db(db)
    env_file = _write_env(tmp_path / "sim.env", sim_env(healthy_sim, db), mode=0o644)
    done = _btcbot(["--env-file", str(env_file), "doctor", "--json"], tmp_path)
    assert done.returncode == 1
    document = json.loads(done.stdout)  # raises if anything else shares stdout
    assert document["status"] == "WARN" and document["exit_code"] == 1
    env_check = next(c for c in document["checks"] if c["name"] == "env_file")
    assert env_check == {
        "name": "env_file",
        "status": "WARN",
        "detail": f"{env_file} is mode 0644: group/world readable, and it holds the API secret",
        "remedy": f"chmod 600 {env_file}",
    }
    assert sum(document["counts"].values()) == len(document["checks"])


def test_withdraw_scope_is_a_settings_failure(
    healthy_sim: SimulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = sim_env(healthy_sim, tmp_path / "state.db", btcturk_api_scopes="read,trade,withdraw")
    env_file = _write_env(tmp_path / "sim.env", values)
    code = main(["--env-file", str(env_file), "doctor", "--json"])
    out = capsys.readouterr().out
    assert code == 2
    document = json.loads(out)
    settings_check = document["checks"][0]
    assert settings_check["name"] == "settings" and settings_check["status"] == "FAIL"
    assert "withdraw permission must never be given" in settings_check["detail"]
    assert "\n" not in settings_check["detail"]


def test_missing_env_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--env-file", str(tmp_path / "nope.env"), "doctor"])
    out = capsys.readouterr().out
    assert code == 2
    assert out.startswith("doctor FAIL  (1 PASS, 1 FAIL)  settings not loaded")
    assert f"--env-file {tmp_path / 'nope.env'}: no such file" in out


def test_db_and_dataset_options(
    healthy_sim: SimulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = _write_env(tmp_path / "sim.env", sim_env(healthy_sim, tmp_path / "state.db"))
    other = tmp_path / "elsewhere.db"
    seed_db(other)
    args = ["--env-file", str(env_file), "doctor", "--json", "--db", str(other)]
    code = main([*args, "--dataset", str(tmp_path / "no-such-dataset")])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["db_file"]["detail"] == f"{other} opens read-only"
    assert checks["dataset"]["status"] == "FAIL"
    assert code == 2
