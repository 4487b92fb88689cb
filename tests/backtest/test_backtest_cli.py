"""`btcbot backtest` and `btcbot parity` as an operator runs them: real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from backtest_testkit import cli_env, small_dataset

from btcbot_engine.store.db import open_readonly

__all__ = ["small_dataset"]

BENCH_ARGS = ["--param", "taker_bps=500", "--balance", "TRY=10000000", "--fee-taker", "0.001",
              "--tax-share", "0", "--no-progress"]  # fmt: skip


def _btcbot(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", *args],
        cwd=cwd, env=cli_env(cwd), capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_backtest_twice_gives_the_same_fingerprint(small_dataset: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("one", "two"):
        result = _btcbot(
            ["backtest", "--dataset", str(small_dataset), "--out", str(tmp_path / f"{name}.db"),
             "--json", *BENCH_ARGS],
            tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout))
    assert runs[0]["fingerprint"] == runs[1]["fingerprint"]
    assert runs[0]["summary"]["trades"] > 100
    assert Path(runs[0]["svg"]).read_text().startswith("<svg")
    text = _btcbot(
        ["backtest", "--dataset", str(small_dataset), "--out", str(tmp_path / "three.db"),
         *BENCH_ARGS],
        tmp_path,
    )  # fmt: skip
    assert f"fingerprint {runs[0]['fingerprint']}" in text.stdout
    assert "drawdown" in text.stdout and "sharpe" in text.stdout


def test_ctrl_c_stops_cleanly_with_a_consistent_database(
    small_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "interrupted.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "btcbot_engine.cli", "backtest", "--dataset", str(small_dataset),
         "--out", str(out), "--every-step", *BENCH_ARGS],
        cwd=tmp_path, env=cli_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for the file, not waiting for a state by time
    assert out.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted at step" in stdout and "consistent" in stdout
    assert "stopping after the current step" in stderr
    store = open_readonly(out)
    try:
        assert store.integrity_check() == ["ok"]
        cycles = store.cycles.recent(limit=100_000)
        assert cycles and all(c.finished_ms is not None for c in cycles)
        meta = json.loads(store.meta.get("backtest") or "{}")
        assert meta["summary"]["interrupted"] is True
        assert meta["summary"]["steps"] < meta["summary"]["steps_planned"]
        # Every fill the exchange made before the stop is booked in the ledger.
        refs = {e.ref for e in store.ledger.all() if e.kind.value == "FILL"}
        assert refs == {str(f.trade_id) for f in store.fills.all()}
    finally:
        store.close()


def test_parity_command(small_dataset: Path, tmp_path: Path) -> None:
    result = _btcbot(
        ["parity", "--dataset", str(small_dataset), "--start", "2024-01-01T01:00Z",
         "--end", "2024-01-02T00:00Z", *BENCH_ARGS],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "IDENTICAL" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "fingerprint" in line]
    assert len(lines) == 2 and lines[0].split()[-1] == lines[1].split()[-1]
