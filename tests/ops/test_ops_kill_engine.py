"""A kill request trips a real running engine against the simulator."""

from __future__ import annotations

import threading
from pathlib import Path

from ops_helpers import LIVE, open_order_ids, run_cli, settings_from, sim_env, wait_until

from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.kill_request import pending_kill, request_kill
from btcbot_engine.store.readonly import read_runtime_flags


def _posts(sim: SimulatorHandle) -> int:
    return sum(1 for _, m, p, _ in sim.control.request_log() if m == "POST" and "order" in p)


def test_btcbot_kill_trips_a_running_engine_and_cancels_its_orders(
    sim: SimulatorHandle, db: Path, tmp_path: Path
) -> None:
    env = sim_env(sim, db, **LIVE)
    settings = settings_from(env)
    engine = Engine(settings)
    runner = threading.Thread(
        target=engine.run, args=(RunOptions(loop=True, cycle_seconds=0.05),), daemon=True
    )
    runner.start()
    try:
        wait_until(lambda: open_order_ids(sim), what="the engine's passive orders")
        ours = open_order_ids(sim)

        done = run_cli(["kill", "--reason", "drill", "--wait", "10"], env, tmp_path)

        assert done.returncode == 0, done.stdout + done.stderr
        assert "tripped its kill switch" in done.stdout
        assert engine.flags.killed
        assert pending_kill(db) is None  # consumed by the engine
        wait_until(lambda: not (open_order_ids(sim) & ours), what="our orders cancelled")
        posts = _posts(sim)
        cycles = engine.cycles_run
        wait_until(lambda: engine.cycles_run >= cycles + 3, what="three more cycles")
        assert _posts(sim) == posts, "a killed engine must not submit"
        snap = engine.snapshot()
        assert snap is not None and snap.gates.mode.value == "KILLED"
        assert any("KILLED" in m for m in snap.messages)
    finally:
        engine.stop()
        runner.join(10)
    assert not runner.is_alive()
    assert read_runtime_flags(db).kill_switch is True


def test_a_request_left_before_start_keeps_the_engine_from_ever_submitting(
    sim: SimulatorHandle, db: Path
) -> None:
    settings = settings_from(sim_env(sim, db, **LIVE))
    request_kill(db, "panic while stopped")
    engine = Engine(settings)
    engine.run(RunOptions(loop=True, max_cycles=2, cycle_seconds=0.01))
    assert _posts(sim) == 0
    assert pending_kill(db) is None
    assert read_runtime_flags(db).kill_switch is True
