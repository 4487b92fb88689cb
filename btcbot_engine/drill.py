"""Operator drills: the bundled simulator with a fault scenario, and settings that point at it.

`btcbot drill SCENARIO` and `btcbot-tui --demo --drill SCENARIO` use this to let an operator
rehearse the runbook's incident playbooks on 127.0.0.1, with nothing real reachable. The faults
come and go in waves (a `FaultPulser` thread), so the operator sees the incident, the bot's
reaction, and the recovery.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from btcbot_engine.config import LIVE_ACK_PHRASE, Settings, load_settings
from btcbot_engine.exchange.simulator.faults import Faults
from btcbot_engine.exchange.simulator.harness import (
    SimulatorControl,
    SimulatorHandle,
    running_simulator,
)

DEMO_SYMBOLS = "BTCTRY,ETHTRY,USDTTRY,AVAXTRY"


class DrillError(ValueError):
    """An unknown scenario or a drill that cannot start; the message says which."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named incident: which faults, in what rhythm, and which runbook playbook it rehearses."""

    name: str
    description: str
    playbook: str  # heading in docs/RUNBOOK.md
    faults: Mapping[str, Any] = field(default_factory=dict)
    period_s: float = 30.0  # one wave every period_s ...
    on_s: float = 12.0  # ... lasting on_s (on_s >= period_s: the fault stays on)
    settings: Mapping[str, Any] = field(default_factory=dict)
    live_sim: bool = False  # submits must reach the simulator for the fault to mean anything


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "429-storm",
            "the exchange answers HTTP 429 to a burst of requests, with Retry-After",
            "429 storm",
            {"rate_limit_remaining": 40, "retry_after_s": 2},
        ),
        Scenario(
            "ws-storm",
            "the WebSocket feed is closed by the server every 1.5 s",
            "WebSocket reconnect storm",
            {"ws_disconnect_every_s": 1.5},
            settings={"market_data_mode": "ws"},
        ),
        Scenario(
            "stale-data",
            "prices and timestamps stop moving for a while, then resume",
            "Stale market data",
            {"freeze_market": True},
            period_s=40.0,
            on_s=20.0,
        ),
        Scenario(
            "lost-ack",
            "order submits are booked by the exchange but the reply never arrives",
            "UNKNOWN orders",
            {"lost_submit_ack_remaining": 2},
            period_s=20.0,
            on_s=1.0,
            live_sim=True,
        ),
        Scenario(
            "clock-skew",
            "the exchange's clock runs 8 s ahead of ours",
            "Clock skew",
            {"clock_skew_ms": 8000},
            period_s=1.0,
            on_s=1.0,
        ),
    )
}


def scenario(name: str) -> Scenario:
    """The scenario called `name`, or DrillError listing the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise DrillError(
            f"unknown drill scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        ) from None


# Arming live trading against the simulator (lost-ack drills: submits must reach it).
_LIVE_SIM: dict[str, Any] = {
    "dry_run": False,
    "live_trading": True,
    "live_trading_ack": LIVE_ACK_PHRASE,
    "btcturk_api_scopes": "read,trade",
}
# How `btcbot drill` runs: a few pairs, a short cycle, orders that come and go.
DRILL_TUNING: dict[str, Any] = {
    "btcturk_api_scopes": "read,trade",
    "universe_symbols": DEMO_SYMBOLS,
    "cycle_seconds": 2.0,
    "ttl_seconds": 30,
    "min_profit_bps": "5",
}


def drill_overrides(drill: Scenario) -> dict[str, Any]:
    """Setting changes a scenario needs on top of simulator settings (the TUI demo uses this)."""
    values: dict[str, Any] = dict(drill.settings)
    if drill.live_sim:
        values.update(_LIVE_SIM)
    return values


def simulated_settings(sim: SimulatorHandle, state_db_path: Path, **overrides: Any) -> Settings:
    """Settings that can reach only the simulator: its URLs, its test keys, a throwaway DB.

    PAPER by default; `overrides` tune the rest (the drill's and the TUI demo's own tuning).
    A scenario's live values (`drill_overrides`) arm live trading, which is safe only because
    every URL is the simulator's on 127.0.0.1 (checked here) and the keys are its test keys.
    """
    for url in (sim.base_url, sim.ws_url):
        if urlparse(url).hostname != "127.0.0.1":
            raise DrillError(f"refusing to arm against {url}: drills run on 127.0.0.1 only")
    values: dict[str, Any] = {
        "btcturk_base_url": sim.base_url,
        "btcturk_graph_url": sim.graph_url,
        "btcturk_ws_url": sim.ws_url,
        "btcturk_api_key": sim.api_key,
        "btcturk_api_secret": sim.api_secret,
        "state_db_path": str(state_db_path),
        "safe_mode": False,
        "kill_switch": False,
        "dry_run": True,
        "live_trading": False,
        "live_trading_ack": "",
        "paper_balances": "TRY=20000",
        "http_timeout_seconds": 2.0,
        "cooldown_seconds": 0,
    }
    values.update(overrides)
    # No env file: an operator's .env (real keys, real URLs) must never leak into a drill.
    return load_settings(None, _env_file=None, **values)


class FaultPulser:
    """Switches a scenario's faults on and off in waves on a daemon thread; stop() ends it."""

    def __init__(self, control: SimulatorControl, drill: Scenario) -> None:
        self._control = control
        self._drill = drill
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="btcbot-drill-faults", daemon=True)
        self.waves = 0

    def start(self) -> None:
        """Begin the first wave now."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the waves and clear the faults; returns when the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        drill = self._drill
        calm = {name: getattr(Faults(), name) for name in drill.faults}
        steady = drill.on_s >= drill.period_s
        while not self._stop.is_set():
            self._control.set_faults(**drill.faults)
            self.waves += 1
            if steady:
                self._stop.wait()
                break
            if self._stop.wait(drill.on_s):
                break
            self._control.set_faults(**calm)
            self._stop.wait(drill.period_s - drill.on_s)
        # The simulator may already be stopping; then there is nothing to clear.
        with contextlib.suppress(Exception):
            self._control.set_faults(**calm)


@contextmanager
def drill_environment(
    name: str | None, state_dir: Path, *, seed: int = 7, **overrides: Any
) -> Iterator[tuple[SimulatorHandle, Settings, Scenario | None]]:
    """Run the simulator (with the scenario's fault waves, if any) and yield settings for it.

    `name=None` is the plain demo: the simulator with no faults.
    """
    drill = scenario(name) if name is not None else None
    with running_simulator(seed=seed, tick_interval_s=0.25) as sim:
        settings = simulated_settings(
            sim,
            state_dir / "btcbot_state.db",
            **{**DRILL_TUNING, **(drill_overrides(drill) if drill else {}), **overrides},
        )
        pulser = FaultPulser(sim.control, drill) if drill else None
        if pulser is not None:
            pulser.start()
        try:
            yield sim, settings, drill
        finally:
            if pulser is not None:
                pulser.stop()
