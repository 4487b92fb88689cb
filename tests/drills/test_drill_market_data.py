"""Frozen market data, a silent WebSocket stall and a disconnect storm (MARKET_DATA_MODE=ws).

What must hold: no order is priced off data older than MAX_MARKET_DATA_AGE_MS (whichever source
delivered it), the feed reconnects within BTCTurk's connect limit, REST stands in for a quiet
feed, and trading resumes by itself once data is fresh again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from drills_testkit import (
    await_condition,
    drill_settings,
    opened_store,
    record_figure,
    request_log,
    run_engine,
)

from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

MAX_AGE_MS = 400
WS_CONNECTS_PER_MINUTE = 15  # BTCTurk blocks an IP past this (the feed's own cap)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=51, tick_interval_s=0.05) as handle:
        yield handle


def _exchange_ticker_age_ms(sim: SimulatorHandle, symbol: str) -> int:
    with httpx.Client(base_url=sim.base_url) as client:
        stamp = client.get("/api/v2/ticker", params={"pairSymbol": symbol}).json()["data"][0]
        now = client.get("/api/v2/server/time").json()["serverTime"]
    return int(now) - int(stamp["timestamp"])


def _submits_by_cycle(settings: Any) -> list[tuple[str, int, set[str]]]:
    """(cycle id, orders submitted, symbols judged not fresh) per cycle, oldest first."""
    rows = []
    with opened_store(settings) as store:
        for c in sorted(store.cycles.recent(limit=500), key=lambda c: c.started_ms):
            decisions = store.decisions.recent(limit=500, cycle_id=c.cycle_id)
            submitted = [d for d in decisions if d.reason_code == "oms:submitted"]
            not_fresh = {
                d.symbol for d in decisions if d.reason_code.startswith("market_data:") and d.symbol
            }
            assert not {d.symbol for d in submitted} & not_fresh, "an order on a stale quote"
            rows.append((c.cycle_id, len(submitted), not_fresh))
    return rows


@pytest.mark.usefixtures("lifted_read_quotas")
@pytest.mark.parametrize("mode", ["rest", "ws"])
def test_frozen_market_places_nothing_until_data_is_fresh(
    sim: SimulatorHandle, tmp_path: Path, mode: str
) -> None:
    sim.control.set_faults(freeze_market=True)
    settings = drill_settings(
        sim, tmp_path / "state.db", market_data_mode=mode, max_market_data_age_ms=str(MAX_AGE_MS)
    )
    await_condition(
        lambda: _exchange_ticker_age_ms(sim, "BTCTRY") > 2 * MAX_AGE_MS,
        timeout_s=10,
        what="the frozen ticker to age",
    )
    # In ws mode the simulator keeps pushing the frozen prices: fresh by arrival, stale in fact.
    frozen = run_engine(settings, 6, cycle_seconds=0.05)
    assert sim.control.orders() == [], f"{mode}: an order was placed on frozen data"
    snap = frozen.snapshot()
    assert snap is not None
    assert {u.quote_status for u in snap.universe if u.included} == {"stale"}

    sim.control.set_faults(freeze_market=False)
    run_engine(settings, 6, cycle_seconds=0.1)
    assert sim.control.orders(), f"{mode}: trading did not resume on fresh data"
    cycles = _submits_by_cycle(settings)
    assert sum(n for _, n, _ in cycles[:6]) == 0
    assert all(stale == {"BTCTRY", "USDTTRY"} for _, _, stale in cycles[:6])


@pytest.mark.usefixtures("lifted_read_quotas")
def test_ws_stall_falls_back_to_rest_or_fails_closed(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = drill_settings(
        sim, tmp_path / "state.db", market_data_mode="ws", max_market_data_age_ms=str(MAX_AGE_MS)
    )
    sim.control.set_faults(ws_stall=True)  # connected, pings answered, not one data frame
    stalled = run_engine(settings, 5, cycle_seconds=0.15)
    snap = stalled.snapshot()
    assert snap is not None
    rest_tickers = sum(1 for r in request_log(sim) if r.path == "/api/v2/ticker")
    assert rest_tickers >= 5, "the quiet feed was replaced by REST reads"
    assert sim.control.orders(), "fresh REST quotes stand in for the stalled feed"
    assert {u.quote_status for u in snap.universe if u.included} == {"fresh"}

    # Stalled feed and unreadable REST tickers too: nothing to price an order on.
    sim.control.set_faults(malformed_path="/api/v2/ticker", malformed_remaining=10_000)
    placed = len(sim.control.orders())
    blind = run_engine(settings, 3, cycle_seconds=0.05)
    assert len(sim.control.orders()) == placed, "an order without any fresh quote"
    snap = blind.snapshot()
    assert snap is not None and snap.status.last_error and "ticker" in snap.status.last_error
    _submits_by_cycle(settings)


@pytest.mark.slow
@pytest.mark.usefixtures("lifted_read_quotas")
def test_ws_disconnect_storm_reconnects_within_the_connect_limit(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(ws_disconnect_every_s=0.1)
    settings = drill_settings(
        sim, tmp_path / "state.db", market_data_mode="ws", max_market_data_age_ms=str(MAX_AGE_MS)
    )
    capped: list[int] = []

    def on_snapshot(snap: Any) -> None:
        # Run on for a while after the feed reached the cap, to see it hold.
        if sim.control.counts()["ws_connections"] >= WS_CONNECTS_PER_MINUTE:
            capped.append(1)
            if len(capped) > 20:
                engine.stop()

    engine = Engine(settings, on_snapshot=on_snapshot)
    engine.run(RunOptions(loop=True, max_cycles=400, cycle_seconds=0.1))

    counts = sim.control.counts()
    assert counts["ws_drops"] >= 10, counts
    # The whole drill is well inside one minute: at most the cap's worth of connections.
    assert counts["ws_connections"] == WS_CONNECTS_PER_MINUTE, counts
    snap = engine.snapshot()
    assert snap is not None and snap.engine_error is None
    cycles = _submits_by_cycle(settings)  # also: no order on a quote judged stale
    assert sum(n for _, n, _ in cycles) > 0, "REST kept trading going through the storm"
    with opened_store(settings) as store:
        reconnects = sum(p.value for p in store.metrics.recent("ws_reconnect_rate", limit=1000))
        statuses = Counter(c.outcome for c in store.cycles.recent(limit=500))
    assert reconnects >= WS_CONNECTS_PER_MINUTE - 2, "the reconnects are in the metrics"
    assert statuses["abandoned"] == 0
    record_figure(
        "ws storm: drops / connections (cap 15/min) / cycles",
        f"{counts['ws_drops']} / {counts['ws_connections']} / {len(cycles)}",
    )
