"""`compute_alerts`: each code from a real engine run where the simulator can cause it, and the
thresholds on a real database written through the store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from reports_testkit import await_stale_ticker, reader, run_engine, sim_settings

from btcbot_engine import alerts as a
from btcbot_engine import metrics as m
from btcbot_engine.alerts import compute_alerts, worst_severity
from btcbot_engine.domain.records import CycleRecord, Decision, DecisionStage, MetricPoint
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import open_database


def _codes(path: Path, last: int | None = None) -> dict[str, a.Alert]:
    with reader(path) as store:
        return {x.code: x for x in compute_alerts(store, last_cycles=last)}


def test_lost_acknowledgements_raise_unknown_orders(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(lost_submit_ack_remaining=1)
    settings = sim_settings(sim, tmp_path, live=True)
    run_engine(settings, 2)
    alert = _codes(settings.state_db_path)["unknown_orders"]
    assert alert.severity == "WARN" and alert.count == 1
    assert "0 still UNKNOWN" in alert.detail  # resolved by client id on the next cycle


def test_server_clock_skew_is_critical(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(clock_skew_ms=8000)
    settings = sim_settings(sim, tmp_path, live=True)
    run_engine(settings, 2)
    alert = _codes(settings.state_db_path)["clock_skew"]
    assert alert.severity == "CRITICAL" and alert.count == 2
    assert "79" in alert.detail or "80" in alert.detail  # ~8000 ms


def test_stale_then_fresh_market_is_a_risk_mode_change(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    sim.control.set_faults(freeze_market=True)
    settings = sim_settings(sim, tmp_path, live=False, max_market_data_age_ms="200")
    await_stale_ticker(sim, "BTCTRY", 400)
    run_engine(settings, 1)
    sim.control.set_faults(freeze_market=False)
    sim.control.step(1)
    run_engine(settings, 1)
    alerts = _codes(settings.state_db_path)
    change = alerts["risk_mode_change"]
    assert (change.severity, change.count) == ("WARN", 1)
    assert "OBSERVE_ONLY->NORMAL" in change.detail and change.detail.endswith("now NORMAL")
    assert "stale_data" not in alerts  # one stale cycle is below the threshold


def _synthetic(path: Path, per_cycle: list[dict[str, int]], decisions: int = 0) -> None:
    """Cycles with chosen metric values (and invariant decisions in the last one)."""
    store = open_database(path, account_key="test")
    try:
        for i, values in enumerate(per_cycle):
            cid, start = f"run-{i:05d}", 1_700_000_000_000 + i * 10_000
            store.cycles.start(CycleRecord(cid, "run", start, "PAPER"))
            store.metrics.record_many(
                MetricPoint(start + 5, name, Decimal(v)) for name, v in values.items()
            )
            if i == len(per_cycle) - 1:
                store.decisions.insert_many(
                    Decision("run", cid, start + 1, DecisionStage.RISK, "invariant_failed", code)
                    for code in ["ledger:balance_mismatch"] * decisions
                )
            store.cycles.finish(
                cid, finished_ms=start + 5, outcome="ok", summary={"risk_mode": "NORMAL"}
            )
    finally:
        store.close()


def test_thresholds_and_the_window(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    quiet = {m.ORDERS_REJECTED: 0, m.REST_RETRY_RATE: 0, m.WS_RECONNECT_RATE: 0}
    _synthetic(
        db,
        [
            {m.ORDERS_REJECTED: 2, m.REST_RETRY_RATE: 12, m.WS_RECONNECT_RATE: 2},  # oldest
            {m.ORDERS_REJECTED: 1, m.REST_RETRY_RATE: 9, m.WS_RECONNECT_RATE: 8},
            quiet,
        ],
        decisions=2,
    )
    alerts = _codes(db)
    assert alerts["reject_spike"].severity == "WARN" and alerts["reject_spike"].count == 3
    assert alerts["retry_storm"].count == 21 and alerts["retry_storm"].severity == "WARN"
    assert alerts["ws_reconnect_storm"].severity == "CRITICAL"  # 10 reconnects
    inv = alerts["invariant_failure"]
    assert (inv.severity, inv.count) == (
        "CRITICAL",
        2,
    ) and "ledger:balance_mismatch x2" in inv.detail
    assert alerts["reject_spike"].first_seen_ms == 1_700_000_000_005
    assert alerts["reject_spike"].last_seen_ms == 1_700_000_010_005
    ordered = list(alerts)
    assert ordered[:2] == ["invariant_failure", "ws_reconnect_storm"]  # CRITICAL first
    # The last two cycles only: the oldest cycle falls out of the window, and what is left
    # (1 reject, 9 retries) is below the thresholds.
    recent = _codes(db, last=2)
    assert "reject_spike" not in recent and "retry_storm" not in recent
    assert recent["ws_reconnect_storm"].severity == "WARN"  # 8 reconnects
    assert worst_severity(list(recent.values())) == "CRITICAL"
    assert _codes(db, last=1).keys() == {"invariant_failure"}


def test_no_cycles_no_alerts(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    open_database(db, account_key="test").close()
    assert _codes(db) == {}
    assert worst_severity([]) is None
