"""The prometheus exporter over loopback HTTP, fed by the real engine against the simulator."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from reports_testkit import sim_settings

from btcbot_engine.cli import main
from btcbot_engine.engine import Engine, RunOptions
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.metrics_http import ExporterError, PrometheusExporter, is_loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)  # polling interval of a condition with a deadline
    raise AssertionError(f"timed out waiting for {what}")


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _scrape(port: int) -> dict[str, float]:
    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    reply.raise_for_status()
    return _samples(reply.text)


def _serving(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _exporter_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "serve_forever" in t.name]


def test_engine_serves_its_metrics_on_loopback_and_stops_with_it(
    sim: SimulatorHandle, tmp_path: Path
) -> None:
    port = _free_port()
    settings = sim_settings(
        sim,
        tmp_path,
        live=True,
        observability_metrics_exporter="prometheus",
        observability_prometheus_port=str(port),
    )
    assert settings.observability_prometheus_host == "127.0.0.1"  # the default
    engine = Engine(settings)
    runner = threading.Thread(
        target=engine.run, args=(RunOptions(loop=True, cycle_seconds=0.05),), daemon=True
    )
    runner.start()
    try:
        _wait_for(
            lambda: _serving(port) and _scrape(port).get("btcbot_cycles_total", 0) >= 2,
            "two cycles on the exporter",
        )
        exporter = engine.metrics_exporter
        assert exporter is not None and exporter.bound == ("127.0.0.1", port)
        samples = _scrape(port)
    finally:
        engine.stop()
        runner.join(timeout=15)
    assert not runner.is_alive()
    for name in (
        "btcbot_cycle_duration_ms",
        "btcbot_equity_try",
        "btcbot_stale_market_data_rate",
        "btcbot_circuit_breaker_state",
        "btcbot_reconcile_lag_ms",
        "btcbot_clock_skew_ms",
        "btcbot_risk_mode",
        "btcbot_open_orders",
        "btcbot_rest_429_rate_total",
        "btcbot_rest_retry_rate_total",
        "btcbot_ws_reconnect_rate_total",
        "btcbot_orders_submitted_total",
    ):
        assert name in samples, name
    assert samples["btcbot_risk_mode"] == 0 and samples["btcbot_circuit_breaker_state"] == 0
    submits = [k for k in samples if k.startswith("btcbot_order_submit_latency_ms_count")]
    assert submits and sum(samples[k] for k in submits) == samples["btcbot_orders_submitted_total"]
    assert not _serving(port), "the port must be released when the engine stops"
    assert _exporter_threads() == []


def test_exporter_off_by_default(sim: SimulatorHandle, tmp_path: Path) -> None:
    settings = sim_settings(sim, tmp_path, live=False)
    assert settings.observability_metrics_exporter == "none"
    engine = Engine(settings)
    engine.run(RunOptions(loop=True, max_cycles=1, cycle_seconds=0.01))
    assert engine.metrics_exporter is None
    assert not _serving(9464)


def test_a_non_loopback_host_binds_only_when_configured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert PrometheusExporter().host == "127.0.0.1"
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.1", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.1.2.3", "example.org", ""))
    exporter = PrometheusExporter("0.0.0.0", _free_port())
    with caplog.at_level(logging.WARNING, logger="btcbot_engine.metrics_http"):
        exporter.start()
    try:
        assert exporter.bound[0] == "0.0.0.0"
        assert "beyond this machine" in caplog.text
        assert "btcbot_cycles_total" in _scrape(exporter.bound[1])  # scraped over loopback
    finally:
        exporter.stop()
    assert _exporter_threads() == []


def test_port_in_use_stops_the_run_with_one_line(
    sim: SimulatorHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = sim_settings(
            sim,
            tmp_path,
            live=False,
            observability_metrics_exporter="prometheus",
            observability_prometheus_port=str(port),
        )
        with pytest.raises(ExporterError, match=f"127.0.0.1:{port}"):
            Engine(settings).run(RunOptions(loop=True, max_cycles=1, cycle_seconds=0.01))
        code = main(["run", "--once", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 2
    plain = [line for line in err.splitlines() if not line.startswith("{")]  # not JSON logs
    assert len(plain) == 1 and "cannot listen" in plain[0] and str(port) in plain[0]
    assert f"metrics http://127.0.0.1:{port}/metrics" in out  # the start banner said where


def test_run_banner_names_the_gates_and_logs_arm_check(
    sim: SimulatorHandle, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    sim_settings(sim, tmp_path, live=False)
    assert main(["run", "--once", "--dry-run"]) == 0
    out, err = capfd.readouterr()
    assert "btcbot run: mode PAPER blocked_by [DRY_RUN, LIVE_TRADING" in out
    assert "live submit blocked, live cancel blocked" in out
    assert "not exported" in out
    arm = [line for line in err.splitlines() if '"arm_check"' in line]
    assert len(arm) == 1 and '"mode": "PAPER"' in arm[0].replace('":"', '": "')
