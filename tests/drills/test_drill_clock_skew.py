"""The exchange's clock far outside the ±5 s stamp window: stamps follow the server's clock.

The simulator refuses any X-Stamp more than 5 s from its (skewed) clock with 401 "invalid
nonce", as BTCTurk does. The adapter measures the server clock before its first signed call and
again after such a refusal, so signed calls keep working, the skew is visible in the snapshot
and the metrics, and a skew change costs one 401, never a storm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from drills_testkit import drill_settings, opened_store, record_figure, request_log

from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

AHEAD_MS = 8_000
BEHIND_MS = -9_000
TOLERANCE_MS = 1_000  # measured offsets carry half a loopback round trip of error


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=61, tick_interval_s=0.05) as handle:
        yield handle


@pytest.mark.usefixtures("lifted_read_quotas")
def test_skewed_server_clock_is_followed_without_a_401_storm(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(clock_skew_ms=AHEAD_MS)
    settings = drill_settings(
        sim, tmp_path / "state.db", universe_symbols="BTCTRY,USDTTRY,ARBTRY", ttl_seconds="1"
    )
    seen: dict[int, Any] = {}

    def on_snapshot(snap: Any) -> None:
        cycle = snap.status.cycle_count
        seen[cycle] = snap.status.clock_skew_ms
        posts = [r for r in request_log(sim) if r.method == "POST"]
        if cycle >= 4 and posts and sim.control.faults.clock_skew_ms == AHEAD_MS:
            posts_before.extend(posts)
            sim.control.set_faults(clock_skew_ms=BEHIND_MS)  # the exchange's clock jumps 17 s
        elif posts_before and len(posts) > len(posts_before) + 1:
            engine.stop()  # two signed submits went through on the new clock

    posts_before: list[Any] = []
    engine = Engine(settings, on_snapshot=on_snapshot)
    engine.run(RunOptions(loop=True, max_cycles=200, cycle_seconds=0.1))

    log = request_log(sim)
    refused = [r for r in log if r.status == 401]
    assert posts_before, "signed submits worked with the server 8 s ahead"
    assert len(refused) <= 1, f"a 401 storm: {len(refused)} refusals"
    posts_after = [r for r in log if r.method == "POST"][len(posts_before) :]
    assert len(posts_after) >= 2 and all(r.status == 200 for r in posts_after), "9 s behind"
    last = max(seen)
    assert abs(seen[3] - AHEAD_MS) <= TOLERANCE_MS, seen
    assert abs(seen[last] - BEHIND_MS) <= TOLERANCE_MS, seen
    with opened_store(settings) as store:
        skews = [p.value for p in store.metrics.recent("clock_skew_ms", limit=50)]
    assert skews and abs(skews[0] - BEHIND_MS) <= TOLERANCE_MS, "the metric shows the skew"
    record_figure(
        "clock skew: measured offsets (ms) / 401 replies",
        f"{seen[3]} then {seen[last]} / {len(refused)} (over {last} cycles)",
    )
