"""The engine's RunDoctor command runs the real checks in the engine thread and publishes them."""

from __future__ import annotations

from pathlib import Path

from doctor_testkit import NETWORK_CHECKS, sim_settings

from btcbot_engine.commands import RunDoctor
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle


def test_run_doctor_publishes_checks_in_the_snapshot(
    healthy_sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(healthy_sim, tmp_path / "state.db")
    published: list[int] = []
    engine = Engine(settings, on_snapshot=lambda snap: published.append(len(snap.doctor)))
    engine.submit(RunDoctor())
    engine.run(RunOptions(loop=True, max_cycles=1, cycle_seconds=0.01))
    snap = engine.snapshot()
    assert snap is not None
    checks = {c.name: c for c in snap.doctor}
    # Inside the engine the lock and the open store are its own: no false alarms.
    assert checks["lock"].status == "PASS" and "held by this engine" in checks["lock"].detail
    assert checks["db_file"].detail == f"{settings.state_db_path} open in this engine"
    assert checks["db_integrity"].status == "PASS" and checks["db_wal"].status == "PASS"
    for name in NETWORK_CHECKS:
        assert checks[name].status == "PASS", checks[name]
    assert any(m.startswith("doctor: PASS") for m in snap.messages)
    assert published and published[-1] == len(snap.doctor) > 0  # kept after the next cycle


def test_run_doctor_checks_the_env_file_the_engine_was_started_with(
    healthy_sim: SimulatorHandle, tmp_path: Path
) -> None:
    env_file = tmp_path / "operator.env"
    env_file.write_text("# the operator's settings\n")
    env_file.chmod(0o644)
    settings = sim_settings(healthy_sim, tmp_path / "state.db")
    engine = Engine(settings, env_file=env_file)
    engine.submit(RunDoctor())
    engine.run(RunOptions(loop=True, max_cycles=1, cycle_seconds=0.01))
    snap = engine.snapshot()
    assert snap is not None
    check = {c.name: c for c in snap.doctor}["env_file"]
    assert check.status == "WARN" and "operator.env" in check.detail
