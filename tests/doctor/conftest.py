"""Fixtures for the doctor tests: a clean environment, an empty cwd, a healthy simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.store.db import database_proxy


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./.env
    yield
    db = database_proxy.obj  # a failing test must not leave the proxy bound for the next one
    if db is not None:
        if not db.is_closed():
            db.close()
        database_proxy.initialize(None)


@pytest.fixture(scope="session")
def healthy_sim() -> Iterator[SimulatorHandle]:
    """One fault-free simulator shared by tests that never change its faults."""
    with running_simulator(seed=5, tick_interval_s=0) as handle:
        yield handle


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A simulator of this test's own, for tests that switch faults on."""
    with running_simulator(seed=6, tick_interval_s=0) as handle:
        yield handle
