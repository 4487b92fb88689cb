"""Fixtures of the drills: a clean environment per test, and the figures summary at the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from drills_testkit import FIGURES

from btcbot_engine.config import Settings
from btcbot_engine.exchange.btcturk import ratelimit as rl


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No btcbot variable from the host and no .env: each drill states every setting it uses."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the drills recorded (kills survived, examples tried, rates...)."""
    if not FIGURES:
        return
    terminalreporter.section("drill figures")
    for name, value in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def lifted_read_quotas(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the client's per-minute read quotas for drills that run many fast cycles.

    Each cycle reads fills once per pair, plus balances and tickers, so at drill speed (tens of
    cycles a second) the limiter would pace or fail the reads and the engine would back off.
    Rates are the 429 drill's subject; the other drills are about what happens between reads.
    Write quotas (submit, cancel) stay as they are.
    """
    for group in (rl.USER_TRADES, rl.BALANCES, rl.TICKER, rl.OPEN_ORDERS, rl.ALL_ORDERS):
        monkeypatch.setitem(rl.DEFAULT_QUOTAS, group, (rl.Quota(1_000_000, 60.0),))
    monkeypatch.setitem(
        rl.DEFAULT_QUOTAS, rl.ORDER_GET, (rl.Quota(10_000, 1.0), rl.Quota(1_000_000, 60.0))
    )
