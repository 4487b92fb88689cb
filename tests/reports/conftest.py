"""Fixtures for tests/reports: a clean environment and a simulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=3, tick_interval_s=0) as handle:
        yield handle
