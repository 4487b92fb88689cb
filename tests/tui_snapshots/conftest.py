"""Snapshot tests run with a frozen wall clock: any pane that read the viewer's clock instead of
the snapshot's own timestamp would draw the same picture every run only by luck."""

from __future__ import annotations

import time

import pytest

from btcbot_tui.canned import CANNED_TS_MS


@pytest.fixture(autouse=True)
def _frozen_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = CANNED_TS_MS / 1000 + 3600  # an hour after the canned snapshots
    monkeypatch.setattr(time, "time", lambda: frozen)
    monkeypatch.setattr(time, "time_ns", lambda: int(frozen * 1e9))
