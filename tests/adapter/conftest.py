"""Fixtures for the BTCTurk adapter tests."""

from __future__ import annotations

import pytest
from btcturk_testkit import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
