"""Doctor's exchange checks against the real simulator over loopback: healthy, down, faults."""

from __future__ import annotations

import json
import time
from pathlib import Path

from doctor_testkit import NETWORK_CHECKS, by_name, seed_db, sim_settings

from btcbot_engine.doctor import EXCHANGE_BUDGET_TIMEOUTS, run_checks, run_doctor
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator


def test_healthy_simulator_passes_every_check(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    seed_db(db)
    report = run_doctor(sim_settings(healthy_sim, db))
    failing = [c for c in report.checks if c.status != "PASS"]
    assert failing == []
    assert report.worst == "PASS" and report.exit_code == 0
    checks = by_name(report)
    assert checks["api_keys"].detail.startswith("signed call accepted")
    assert checks["exchange_rules"].detail == "rules for all 2 universe symbols"


def test_secrets_never_appear_in_the_report(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    report = run_doctor(sim_settings(healthy_sim, tmp_path / "state.db"))
    text = json.dumps(report.to_json())
    assert healthy_sim.api_key not in text and healthy_sim.api_secret not in text


def test_simulator_down_fails_network_checks_fast_and_others_still_run(tmp_path: Path) -> None:
    with running_simulator(seed=1, tick_interval_s=0) as gone:
        settings = sim_settings(gone, tmp_path / "state.db", http_timeout_seconds="1")
    # The context has exited: nothing listens on that port any more.
    started = time.monotonic()
    report = run_doctor(settings)
    elapsed = time.monotonic() - started
    checks = by_name(report)
    for name in NETWORK_CHECKS:
        assert checks[name].status == "FAIL", name
        assert checks[name].remedy
    assert "ConnectError" in checks["exchange"].detail
    assert checks["clock_skew"].detail == "not checked: exchange unreachable"
    assert checks["settings"].status == "PASS"
    assert checks["db_file"].status == "WARN"  # the local checks still ran
    assert report.exit_code == 2
    assert elapsed < EXCHANGE_BUDGET_TIMEOUTS * 1.0


def test_a_slow_exchange_is_cut_off_by_the_budget(sim: SimulatorHandle, tmp_path: Path) -> None:
    sim.control.set_faults(slow_reply_s=5.0)
    settings = sim_settings(sim, tmp_path / "state.db", http_timeout_seconds="0.3")
    started = time.monotonic()
    report = run_doctor(settings)
    elapsed = time.monotonic() - started
    assert elapsed < 0.3 * EXCHANGE_BUDGET_TIMEOUTS + 1.0
    checks = by_name(report)
    assert checks["exchange"].status == "FAIL"
    assert report.exit_code == 2
    assert checks["unknown_orders"].status == "PASS"  # checks after the network part still ran


async def test_a_patient_client_is_still_cut_off_by_the_budget(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    # The engine's adapter retries more than the doctor's own client: the budget still holds.
    sim.control.set_faults(slow_reply_s=5.0)
    settings = sim_settings(sim, tmp_path / "state.db", http_timeout_seconds="0.3")
    patient = BtcturkExchange(sim.base_url, sim.graph_url, timeout_s=0.3, max_retries=10)
    started = time.monotonic()
    try:
        report = await run_checks(settings, exchange=patient)
    finally:
        await patient.close()
    elapsed = time.monotonic() - started
    budget = 0.3 * EXCHANGE_BUDGET_TIMEOUTS
    assert budget <= elapsed < budget + 1.0
    checks = by_name(report)
    for name in NETWORK_CHECKS:
        assert checks[name].status == "FAIL"
        assert checks[name].detail.startswith(f"no answer within {budget:g} s")
    assert checks["lock"].status == "PASS"


def test_wrong_key_fails_the_keys_check_only(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    seed_db(db)
    wrong_secret = "d3JvbmctYnV0LXZhbGlkLWJhc2U2NA=="
    report = run_doctor(sim_settings(healthy_sim, db, btcturk_api_secret=wrong_secret))
    checks = by_name(report)
    assert checks["api_keys"].status == "FAIL"
    assert "401" in checks["api_keys"].detail
    assert "BTCTURK_API_KEY" in checks["api_keys"].remedy
    assert checks["exchange"].status == "PASS"
    assert wrong_secret not in json.dumps(report.to_json())
    assert report.exit_code == 2


def test_secret_that_is_not_base64_is_named(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    report = run_doctor(sim_settings(healthy_sim, tmp_path / "s.db", btcturk_api_secret="%%%%"))
    assert by_name(report)["api_keys"].status == "FAIL"
    assert "not valid base64" in by_name(report)["api_keys"].detail


def test_clock_skew_fault_warns_then_fails(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(sim, tmp_path / "state.db")
    sim.control.set_faults(clock_skew_ms=2500)
    skew = by_name(run_doctor(settings))["clock_skew"]
    assert skew.status == "WARN" and "server - local" in skew.detail
    assert "clock" in skew.remedy
    sim.control.set_faults(clock_skew_ms=-6000)
    checks = by_name(run_doctor(settings))
    assert checks["clock_skew"].status == "FAIL"
    # Signed stamps are corrected by the measured offset, so the key still works.
    assert checks["api_keys"].status == "PASS"


def test_no_keys_is_fine_for_paper(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(
        healthy_sim, tmp_path / "s.db", btcturk_api_key="", btcturk_api_secret=""
    )
    checks = by_name(run_doctor(settings))
    assert checks["api_keys"].status == "PASS"
    assert checks["api_keys"].detail == "no keys: PAPER/observe only"
    assert checks["secret_age"].status == "PASS"


def test_min_order_notional_below_a_symbol_minimum_fails_naming_it(
    healthy_sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(healthy_sim, tmp_path / "s.db", min_order_notional_try="50")
    check = by_name(run_doctor(settings))["min_notional"]
    assert check.status == "FAIL"
    assert "BTCTRY needs 99.91 TRY" in check.detail and "ETHTRY" in check.detail
    assert "MIN_ORDER_NOTIONAL_TRY >= 99.91" in check.remedy


def test_usdt_pair_minimum_is_converted_to_try(
    healthy_sim: SimulatorHandle, tmp_path: Path
) -> None:
    # BTCUSDT's minimum is 10 USDT: about 345 TRY at the simulator's USDTTRY price.
    settings = sim_settings(healthy_sim, tmp_path / "s.db", universe_symbols="BTCUSDT")
    check = by_name(run_doctor(settings))["min_notional"]
    assert check.status == "FAIL" and "BTCUSDT needs" in check.detail
    enough = sim_settings(
        healthy_sim, tmp_path / "s.db", universe_symbols="BTCUSDT", min_order_notional_try="400"
    )
    assert by_name(run_doctor(enough))["min_notional"].status == "PASS"


def test_universe_symbol_unknown_to_the_exchange_fails(
    healthy_sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(healthy_sim, tmp_path / "s.db", universe_symbols="BTCTRY,XYZTRY")
    check = by_name(run_doctor(settings))["exchange_rules"]
    assert check.status == "FAIL"
    assert check.detail == "no exchange rules for XYZTRY"


def test_discovery_universe_counts_candidates(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(healthy_sim, tmp_path / "s.db", universe_symbols="")
    checks = by_name(run_doctor(settings))
    assert checks["exchange_rules"].status == "PASS"
    assert "discovery candidates" in checks["exchange_rules"].detail
    assert checks["min_notional"].status == "PASS"  # every TRY pair's minimum is 99.91


async def test_a_given_exchange_is_reused_and_left_open(
    healthy_sim: SimulatorHandle, tmp_path: Path
) -> None:
    settings = sim_settings(healthy_sim, tmp_path / "s.db")
    exchange = BtcturkExchange(healthy_sim.base_url, healthy_sim.graph_url, timeout_s=2)
    try:
        report = await run_checks(settings, exchange=exchange)
        # The engine's paper adapter holds no keys: the doctor signs with its own client.
        assert by_name(report)["api_keys"].status == "PASS"
        assert exchange.clock_offset_ms is not None  # it really went through this client
        assert await exchange.server_time_ms() > 0  # and did not close it
    finally:
        await exchange.close()
