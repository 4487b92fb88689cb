"""Fixtures for store tests: real SQLite files under tmp_path (never ':memory:')."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import FakeClock

from btcbot_engine.store.db import Store, database_proxy, open_database


@pytest.fixture(autouse=True)
def _release_proxy() -> Iterator[None]:
    # A failing test must not leave the process-wide proxy bound for the next one.
    yield
    db = database_proxy.obj
    if db is not None:
        if not db.is_closed():
            db.close()
        database_proxy.initialize(None)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database path whose parent directory does not exist yet."""
    return tmp_path / "var" / "btcbot_state.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[Store]:
    opened = open_database(db_path, clock_ms=clock)
    try:
        yield opened
    finally:
        opened.close()
