"""Settings for tests that run the engine against the bundled simulator (paper or armed live).

Importable from any test folder (pyproject sets pytest's pythonpath to tests/).
"""

from __future__ import annotations

import os
from pathlib import Path

from btcbot_engine.config import Settings, load_settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle


def sim_settings(sim: SimulatorHandle, tmp_path: Path, *, live: bool, **extra: str) -> Settings:
    """Settings for the simulator (paper, or armed live with its keys); also set in os.environ
    so in-process CLI calls read the same values."""
    env = {
        "btcturk_base_url": sim.base_url,
        "btcturk_graph_url": sim.graph_url,
        "btcturk_ws_url": sim.ws_url,
        "state_db_path": str(tmp_path / "state.db"),
        "safe_mode": "false",
        "kill_switch": "false",
        "dry_run": "true",
        "universe_symbols": "BTCTRY,USDTTRY",
        "paper_balances": "TRY=20000",
        "http_timeout_seconds": "2",
        "cooldown_seconds": "0",
        "ttl_seconds": "3600",
    }
    if live:
        env.update(
            dry_run="false",
            live_trading="true",
            live_trading_ack="I_UNDERSTAND",
            btcturk_api_key=sim.api_key,
            btcturk_api_secret=sim.api_secret,
            btcturk_api_scopes="read,trade",
        )
    env.update(extra)
    for key, value in env.items():
        os.environ[key.upper()] = value
    return load_settings()
