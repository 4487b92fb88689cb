"""Fixtures for the ops tests: a clean environment, simulators, the store proxy released."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.store.db import database_proxy


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _release_proxy() -> Iterator[None]:
    # A failing test must not leave the process-wide store proxy bound for the next one.
    yield
    db = database_proxy.obj
    if db is not None:
        if not db.is_closed():
            db.close()
        database_proxy.initialize(None)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A simulator that ticks every 50 ms, so accepted cancels take effect promptly."""
    with running_simulator(seed=5, tick_interval_s=0.05) as handle:
        yield handle


@pytest.fixture
def frozen_sim() -> Iterator[SimulatorHandle]:
    """A simulator that only ticks on control.step(): accepted cancels stay pending."""
    with running_simulator(seed=5, tick_interval_s=0) as handle:
        yield handle


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the state database lives (its directory exists; the file does not yet)."""
    (tmp_path / "var").mkdir()
    return tmp_path / "var" / "state.db"
