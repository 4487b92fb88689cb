"""Helpers shared by the doctor tests (a uniquely named module, importable from any test file)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from btcbot_engine.config import Settings, load_settings
from btcbot_engine.doctor import DoctorReport
from btcbot_engine.domain.snapshot import DoctorCheckView
from btcbot_engine.exchange.simulator.harness import SimulatorHandle
from btcbot_engine.store.db import open_database

NETWORK_CHECKS = ("exchange", "clock_skew", "api_keys", "exchange_rules", "min_notional")


def sim_env(sim: SimulatorHandle, db: Path, **extra: Any) -> dict[str, str]:
    """Settings (as env names) for a healthy PAPER setup against the simulator, with its keys."""
    env = {
        "BTCTURK_BASE_URL": sim.base_url,
        "BTCTURK_GRAPH_URL": sim.graph_url,
        "BTCTURK_WS_URL": sim.ws_url,
        "BTCTURK_API_KEY": sim.api_key,
        "BTCTURK_API_SECRET": sim.api_secret,
        "BTCTURK_SECRET_ROTATED_AT": date.today().isoformat(),
        "STATE_DB_PATH": str(db),
        "SAFE_MODE": "false",
        "KILL_SWITCH": "false",
        "DRY_RUN": "true",
        "UNIVERSE_SYMBOLS": "BTCTRY,ETHTRY",
        "HTTP_TIMEOUT_SECONDS": "2",
    }
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return env


def sim_settings(sim: SimulatorHandle, db: Path, **extra: Any) -> Settings:
    """`sim_env` loaded as Settings (no .env file is read: tests run in an empty tmp dir)."""
    return load_settings(**{k.lower(): v for k, v in sim_env(sim, db, **extra).items()})


def by_name(report: DoctorReport) -> dict[str, DoctorCheckView]:
    """The report's checks keyed by name."""
    return {c.name: c for c in report.checks}


def seed_db(path: Path, *, account_key: str | None = None) -> None:
    """Create a current-schema database at `path` the way the engine does, then close it."""
    open_database(path, account_key=account_key).close()
