"""The real engine against the simulator stores the METRICS CONTRACT's points every cycle."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from reports_testkit import await_stale_ticker, push_through, reader, run_engine, sim_settings

from btcbot_engine import metrics as m
from btcbot_engine.alerts import compute_alerts
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.metrics import CounterDeltas, TransportCounters, read_transport_counters
from btcbot_engine.reports import load_window

PER_CYCLE = [n for n in m.ALL_METRICS if n not in m.LATENCY_METRICS]


def test_paper_cycles_store_every_contract_metric(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(sim, tmp_path, live=False)
    run_engine(settings, 1)
    push_through(sim, "BTCTRY")
    push_through(sim, "USDTTRY")
    run_engine(settings, 2)
    with reader(settings.state_db_path) as store:
        w = load_window(store, 10)
        fills = store.fills.all()
    assert len(w.cycles) == 3
    names = Counter(p.name for p in w.metrics)
    # Paper mode measures no server clock (no signed calls) and cancels nothing here.
    for name in PER_CYCLE:
        if name != m.CLOCK_SKEW_MS:
            assert names[name] == 3, (name, names[name])
    finished = {c.finished_ms for c in w.cycles}
    assert {p.ts_ms for p in w.metrics if p.name in PER_CYCLE} == finished
    submits = [d for d in w.decisions if d.stage == "oms" and d.action == "submit"]
    latency = w.points(m.ORDER_SUBMIT_LATENCY_MS)
    assert submits and len(latency) == len(submits)
    assert {p.labels["symbol"] for p in latency} <= {"BTCTRY", "USDTTRY"}
    assert all(p.value >= 0 for p in latency)
    assert fills, "the push-through must fill the paper bids"
    assert sum(w.values(m.FILLS)) == len(fills)
    assert sum(w.values(m.ORDERS_SUBMITTED)) == len(submits)
    assert w.values(m.FEES_TRY)[-1] > 0
    assert all(Decimal(0) <= v <= 1 for v in w.values(m.STALE_MARKET_DATA_RATE))
    modes = w.points(m.RISK_MODE)
    assert all(m.RISK_MODE_VALUES[p.labels["mode"]] == p.value for p in modes)
    assert all(isinstance(p.value, Decimal) for p in w.metrics)


def test_live_run_records_clock_skew_and_cancel_latency(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(sim, tmp_path, live=True)
    run_engine(settings, 1)
    open_on_exchange = [o for o in sim.control.orders() if o["status"] in ("Untouched", "Partial")]
    assert open_on_exchange
    run_engine(settings, 1, kill=True)  # the kill cancels our orders before the cycle
    with reader(settings.state_db_path) as store:
        w = load_window(store, 10)
    cancels = w.points(m.CANCEL_LATENCY_MS)
    assert len(cancels) == len(open_on_exchange)
    assert {p.labels["symbol"] for p in cancels} == {o["pairSymbol"] for o in open_on_exchange}
    skew = w.values(m.CLOCK_SKEW_MS)
    assert len(skew) == 2 and all(abs(v) < 1000 for v in skew)
    assert w.values(m.OPEN_ORDERS)[0] == len(open_on_exchange)


def test_429_replies_show_in_rest_429_rate_and_raise_the_alert(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(rate_limit_remaining=3, retry_after_s=0)
    settings = sim_settings(sim, tmp_path, live=True)
    run_engine(settings, 2)
    with reader(settings.state_db_path) as store:
        w = load_window(store, 10)
        alerts = {a.code: a for a in compute_alerts(store, last_cycles=10)}
    assert sum(w.values(m.REST_429_RATE)) == 3
    assert sum(w.values(m.REST_RETRY_RATE)) >= 3  # each 429 was waited out and retried
    alert = alerts["rest_429"]
    assert (alert.severity, alert.count) == ("WARN", 3)
    hit = [p.ts_ms for p in w.points(m.REST_429_RATE) if p.value > 0]
    assert (alert.first_seen_ms, alert.last_seen_ms) == (hit[0], hit[-1])


def test_frozen_market_is_stale_and_opens_the_breaker(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(freeze_market=True)
    settings = sim_settings(sim, tmp_path, live=False, max_market_data_age_ms="200")
    await_stale_ticker(sim, "BTCTRY", 400)
    run_engine(settings, 2)
    with reader(settings.state_db_path) as store:
        w = load_window(store, 10)
        alerts = {a.code: a for a in compute_alerts(store, last_cycles=10)}
    assert w.values(m.STALE_MARKET_DATA_RATE) == [Decimal(1), Decimal(1)]
    assert w.values(m.CIRCUIT_BREAKER_STATE) == [Decimal(1), Decimal(1)]
    assert [p.labels["mode"] for p in w.points(m.RISK_MODE)] == ["OBSERVE_ONLY"] * 2
    assert alerts["stale_data"].count == 2 and alerts["stale_data"].severity == "WARN"


class _Rest:
    def __init__(self) -> None:
        self.rate_limited = 0
        self.retries = 0

    def stats(self) -> _Rest:
        return self


class _FeedStatus:
    def __init__(self) -> None:
        self.reconnects = 0


class _Feed:
    def __init__(self) -> None:
        self.status = _FeedStatus()


def test_counter_deltas_count_since_the_previous_cycle() -> None:
    public, live, feed = _Rest(), _Rest(), _Feed()
    public.rate_limited = 5  # before the engine started: not this run's
    deltas = CounterDeltas(lambda: read_transport_counters([public, live], feed))
    public.rate_limited += 2
    live.retries += 3
    feed.status.reconnects += 1
    assert deltas.take() == TransportCounters(2, 3, 1)
    assert deltas.take() == TransportCounters(0, 0, 0)
    live.retries += 1
    assert deltas.take() == TransportCounters(0, 1, 0)
