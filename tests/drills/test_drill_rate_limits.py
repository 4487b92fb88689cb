"""429 storm: Retry-After honoured, the request rate held to RATE_LIMIT_SHARE, no cycle crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from drills_testkit import (
    drill_settings,
    opened_store,
    rate_report,
    record_figure,
    request_log,
    run_engine,
    status_counts,
)

from btcbot_engine.alerts import compute_alerts
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

STORM = 5  # consecutive 429 replies: one call gives up after its 4 retries, the next waits
RETRY_AFTER_S = 1
SHARE = 0.1  # a small share, so the drill's fast cycles press against the client's limits


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=11, tick_interval_s=0.05) as handle:
        yield handle


@pytest.mark.slow
def test_429_storm_is_waited_out_and_rates_stay_within_the_share(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(rate_limit_remaining=STORM, retry_after_s=RETRY_AFTER_S)
    settings = drill_settings(sim, tmp_path / "state.db", rate_limit_share=str(SHARE))
    engine = run_engine(settings, 8, cycle_seconds=0.05)

    log = request_log(sim)
    statuses = status_counts(log)
    assert statuses[429] == STORM, statuses
    # Retry-After honoured: after a 429 nothing goes to that endpoint before the wait is over.
    for i, refused in enumerate(log):
        if refused.status != 429:
            continue
        later = [r for r in log[i + 1 :] if r.path == refused.path and r.method == refused.method]
        if later:
            gap = later[0].at - refused.at
            assert gap >= RETRY_AFTER_S - 0.05, f"{refused.path} retried after {gap:.3f} s"

    # Measured from the server's own timestamps, per limiter group and quota window.
    report = rate_report(log, SHARE)
    assert report, "the drill made rate-limited requests"
    for key, (seen, allowed, _period) in report.items():
        assert seen <= allowed, f"{key}: {seen} requests in one window, share allows {allowed}"
    record_figure(
        "429 storm: max requests per window vs allowed at share 0.1",
        ", ".join(f"{k} {seen}/{allowed}" for k, (seen, allowed, _) in report.items()),
    )

    # No cycle crashed: every cycle finished and none was failed by an exception.
    assert engine.cycles_run == 8
    snap = engine.snapshot()
    assert snap is not None and snap.engine_error is None
    with opened_store(settings) as store:
        cycles = store.cycles.recent(limit=50)
        reasons = {d.reason_code for d in store.decisions.recent(limit=1000)}
        seen_429 = sum(p.value for p in store.metrics.recent("rest_429_rate", limit=100))
        alerts = {a.code: a for a in compute_alerts(store)}
    assert len(cycles) == 8
    assert all(c.finished_ms is not None and c.outcome in ("ok", "error") for c in cycles)
    assert "engine:cycle_failed" not in reasons
    # And the bot traded once the storm was over.
    assert sim.control.orders(), "no order placed after the storm"
    # The operator sees it: every 429 counted in the cycles' metrics, and the alert raised.
    assert seen_429 == STORM
    assert "rest_429" in alerts, alerts
    assert alerts["rest_429"].count == STORM and alerts["rest_429"].severity == "CRITICAL"
