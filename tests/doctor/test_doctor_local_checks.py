"""Doctor's settings, gates, .env, scopes, secret-age, SLO and dataset checks (real files)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from doctor_testkit import by_name, seed_db, sim_settings

from btcbot_engine.config import Settings
from btcbot_engine.doctor import (
    REJECT_RATE_FAIL,
    SUBMIT_P95_FAIL_MS,
    SUBMIT_P95_WARN_MS,
    run_doctor,
)
from btcbot_engine.domain.records import CycleRecord, MetricPoint
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import open_database


@pytest.fixture
def settings(healthy_sim: SimulatorHandle, tmp_path: Path) -> Settings:
    return sim_settings(healthy_sim, tmp_path / "state.db")


# --- .env file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status"), [(0o600, "PASS"), (0o640, "WARN"), (0o644, "WARN"), (0o664, "FAIL")]
)
def test_env_file_mode(settings: Settings, tmp_path: Path, mode: int, status: str) -> None:
    env = tmp_path / "bot.env"
    env.write_text("LOG_LEVEL=INFO\n")
    env.chmod(mode)
    check = by_name(run_doctor(settings, env_file=env))["env_file"]
    assert check.status == status
    assert f"mode {mode:04o}" in check.detail
    if status != "PASS":
        assert check.remedy == f"chmod 600 {env}"


def test_dot_env_in_the_working_directory_is_checked(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=INFO\n")
    (tmp_path / ".env").chmod(0o644)
    check = by_name(run_doctor(settings))["env_file"]
    assert check.status == "WARN" and "holds the API secret" in check.detail


# --- gates ----------------------------------------------------------------------------------


def test_live_armed_is_a_warning(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(
        healthy_sim,
        tmp_path / "state.db",
        dry_run="false",
        live_trading="true",
        live_trading_ack="I_UNDERSTAND",
        btcturk_api_scopes="read,trade",
    )
    checks = by_name(run_doctor(settings))
    assert checks["gates"].status == "WARN"
    assert checks["gates"].detail == "LIVE: real orders will be sent"
    assert checks["api_scopes"].status == "PASS"


def test_persisted_kill_says_killed(settings: Settings) -> None:
    store = open_database(settings.state_db_path)
    try:
        store.runtime.set_kill_switch(True)
    finally:
        store.close()
    check = by_name(run_doctor(settings))["gates"]
    assert check.status == "WARN" and check.detail.startswith("KILLED")
    assert "KILL_SWITCH=false" in check.remedy


def test_paper_and_observe_only_pass(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    paper = by_name(run_doctor(sim_settings(healthy_sim, tmp_path / "a.db")))["gates"]
    assert paper.status == "PASS" and paper.detail.startswith("PAPER")
    observe = sim_settings(healthy_sim, tmp_path / "b.db", safe_mode="true")
    check = by_name(run_doctor(observe))["gates"]
    assert check.status == "PASS" and check.detail.startswith("OBSERVE_ONLY")


# --- settings coherence and scopes ----------------------------------------------------------


def test_incoherent_caps_warn(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(
        healthy_sim,
        tmp_path / "s.db",
        notional_cap_try_per_cycle="50",
        max_orders_per_cycle="0",
    )
    check = by_name(run_doctor(settings))["settings"]
    assert check.status == "WARN"
    assert "NOTIONAL_CAP_TRY_PER_CYCLE=50 is below MIN_ORDER_NOTIONAL_TRY=100" in check.detail
    assert "MAX_ORDERS_PER_CYCLE=0" in check.detail


def test_plain_http_to_a_remote_host_with_keys_fails(settings: Settings) -> None:
    remote = settings.model_copy(update={"btcturk_graph_url": "http://graph.example.com"})
    check = by_name(run_doctor(remote))["settings"]
    assert check.status == "FAIL"
    assert "BTCTURK_GRAPH_URL is unencrypted" in check.detail and "https://" in check.remedy


def test_withdraw_scope_fails(settings: Settings) -> None:
    # The loader already refuses it (see the CLI test); the check itself refuses it as well.
    risky = settings.model_copy(update={"btcturk_api_scopes": ("read", "trade", "withdraw")})
    check = by_name(run_doctor(risky))["api_scopes"]
    assert check.status == "FAIL" and "withdraw" in check.detail


def test_live_without_trade_scope_fails(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(
        healthy_sim,
        tmp_path / "s.db",
        dry_run="false",
        live_trading="true",
        live_trading_ack="I_UNDERSTAND",
        btcturk_api_scopes="read",
    )
    check = by_name(run_doctor(settings))["api_scopes"]
    assert check.status == "FAIL" and "trade is missing" in check.detail


@pytest.mark.parametrize(
    ("age_days", "status", "text"),
    [(10, "PASS", "10 days old (limit 90)"), (80, "WARN", "close to"), (120, "WARN", "over")],
)
def test_secret_age(
    healthy_sim: SimulatorHandle, tmp_path: Path, age_days: int, status: str, text: str
) -> None:
    rotated = (date.today() - timedelta(days=age_days)).isoformat()
    settings = sim_settings(healthy_sim, tmp_path / "s.db", btcturk_secret_rotated_at=rotated)
    check = by_name(run_doctor(settings))["secret_age"]
    assert check.status == status and text in check.detail


def test_unknown_secret_rotation_date_warns(healthy_sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(healthy_sim, tmp_path / "s.db", btcturk_secret_rotated_at="")
    check = by_name(run_doctor(settings))["secret_age"]
    assert (check.status, check.detail) == ("WARN", "rotation date unknown")
    assert "BTCTURK_SECRET_ROTATED_AT" in check.remedy


# --- SLO figures from metrics ---------------------------------------------------------------


def _metrics(settings: Settings, points: list[MetricPoint], cycles: int = 0) -> None:
    store = open_database(settings.state_db_path)
    try:
        for i in range(cycles):
            store.cycles.start(CycleRecord(f"c-{i}", "run-1", 1_000 + i, "PAPER"))
        store.metrics.record_many(points)
    finally:
        store.close()


def _per_cycle(name: str, values: list[int | str]) -> list[MetricPoint]:
    return [MetricPoint(1_000 + i, name, Decimal(v)) for i, v in enumerate(values)]


def test_no_metrics_is_no_data_yet(settings: Settings) -> None:
    seed_db(settings.state_db_path)
    checks = by_name(run_doctor(settings))
    for name in ("slo_reject_rate", "slo_fill_rate", "slo_submit_latency", "slo_drawdown"):
        assert (checks[name].status, checks[name].detail) == ("PASS", "no data yet")


def test_reject_rate_thresholds(settings: Settings) -> None:
    # 16 acknowledged + 4 rejected = 20 attempts, 20% rejected: at the FAIL line, not over it.
    _metrics(
        settings,
        _per_cycle("orders_submitted", [2] * 8) + _per_cycle("orders_rejected", [1] * 4),
    )
    check = by_name(run_doctor(settings))["slo_reject_rate"]
    assert check.status == "WARN" and "reject rate 0.200 (4 of 20 submits)" in check.detail
    _metrics(settings, _per_cycle("orders_rejected", [1]))
    check = by_name(run_doctor(settings))["slo_reject_rate"]
    assert check.status == "FAIL" and f"> {REJECT_RATE_FAIL}" in check.detail


def test_too_few_submits_are_not_judged(settings: Settings) -> None:
    _metrics(settings, _per_cycle("orders_submitted", [1, 1]) + _per_cycle("orders_rejected", [2]))
    check = by_name(run_doctor(settings))["slo_reject_rate"]
    assert check.status == "PASS" and "too few to judge" in check.detail


def test_low_fill_rate_warns(settings: Settings) -> None:
    _metrics(settings, _per_cycle("orders_submitted", [5] * 10) + _per_cycle("fills", [0] * 10))
    check = by_name(run_doctor(settings))["slo_fill_rate"]
    assert check.status == "WARN" and "fill rate 0.000 (0 fills for 50 orders)" in check.detail


def test_submit_latency_p95(settings: Settings) -> None:
    # 100 submits: 94 fast ones and 6 slow ones put the p95 (the 95th value) among the slow.
    fast = [MetricPoint(1_000 + i, "order_submit_latency_ms", Decimal(80)) for i in range(94)]
    slow = [
        MetricPoint(2_000 + i, "order_submit_latency_ms", SUBMIT_P95_WARN_MS + 1) for i in range(6)
    ]
    _metrics(settings, fast + slow)
    check = by_name(run_doctor(settings))["slo_submit_latency"]
    assert check.status == "WARN" and "p95 1001 ms over 100 submits" in check.detail
    _metrics(
        settings,
        [
            MetricPoint(3_000 + i, "order_submit_latency_ms", SUBMIT_P95_FAIL_MS * 2)
            for i in range(6)
        ],
    )
    assert by_name(run_doctor(settings))["slo_submit_latency"].status == "FAIL"


def test_drawdown_against_max_drawdown_pct(settings: Settings) -> None:
    _metrics(settings, _per_cycle("drawdown_pct", ["0.5", "2.6", "1.0"]))
    check = by_name(run_doctor(settings))["slo_drawdown"]
    assert check.status == "WARN" and "max drawdown 2.6% (MAX_DRAWDOWN_PCT=5)" in check.detail
    _metrics(settings, _per_cycle("drawdown_pct", ["5.0"]))
    assert by_name(run_doctor(settings))["slo_drawdown"].status == "FAIL"


def test_slo_window_is_the_recent_cycles(settings: Settings) -> None:
    # Old rejections before the newest cycles' window are not counted.
    old = [MetricPoint(10 + i, "orders_rejected", Decimal(5)) for i in range(5)]
    _metrics(settings, old + _per_cycle("orders_submitted", [10, 10]), cycles=2)
    check = by_name(run_doctor(settings))["slo_reject_rate"]
    assert check.status == "PASS" and check.detail == "no data yet"


# --- dataset --------------------------------------------------------------------------------


def test_missing_dataset_fails(settings: Settings, tmp_path: Path) -> None:
    check = by_name(run_doctor(settings, dataset=tmp_path / "nope"))["dataset"]
    assert check.status == "FAIL" and "no such file" in check.detail


def test_dataset_absent_from_report_unless_asked(settings: Settings) -> None:
    assert "dataset" not in by_name(run_doctor(settings))


def test_invalid_dataset_fails_naming_file_and_problem(settings: Settings, tmp_path: Path) -> None:
    dataset = tmp_path / "ds"
    dataset.mkdir()
    (dataset / "manifest.json").write_text('{"schema_version": 1}')
    check = by_name(run_doctor(settings, dataset=dataset))["dataset"]
    assert check.status == "FAIL"
    assert "manifest.json: missing key 'symbols'" in check.detail
    assert check.detail.startswith("1 error(s), 0 warning(s)")
