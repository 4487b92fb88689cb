"""Demo mode: the bundled simulator on 127.0.0.1, paper trading against it, throwaway state.

`btcbot-tui --demo` needs no keys, no network and no configuration: the simulator runs in a
daemon thread of this process, the engine paper-trades its universe with a short cycle, and the
state database lives in a temporary directory removed on exit. The user's environment and `.env`
cannot arm anything here: every safety-relevant setting is given explicitly.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator

DEMO_PORT = 18181  # the simulator's usual port; any free port when it is taken
DEMO_SEED = 7
DEMO_SYMBOLS = ("BTCTRY", "ETHTRY", "USDTTRY", "AVAXTRY", "ARBTRY")
DEMO_SWING_SYMBOLS = ("BTCTRY", "ETHTRY", "AVAXTRY")
SWING_PERIOD_S = 1.5
SWING_DOWN = Decimal("0.996")  # through our resting bids: paper buys fill
SWING_UP = Decimal("1.006")  # back up through the take-profit sells


@dataclass(frozen=True)
class DemoEnvironment:
    """A running simulator, settings that point the engine at it, and where logs go."""

    settings: Settings
    simulator: SimulatorHandle
    state_dir: Path

    @property
    def log_path(self) -> Path:
        """The engine's log file (inside the throwaway directory)."""
        return self.state_dir / "btcbot-tui.log"


# How the demo runs: every pane moves within seconds. The simulator binding and the safety
# switches (PAPER, nothing armed, a user's .env ignored) come from `simulated_settings`.
DEMO_TUNING: dict[str, Any] = {
    # The simulator's public test key is shown as the key hint; paper mode never signs.
    "btcturk_api_scopes": "read",
    "universe_symbols": ",".join(DEMO_SYMBOLS),
    "market_data_mode": "ws",
    "cycle_seconds": 1.0,
    "ttl_seconds": 8,
    "max_open_orders_per_symbol": 2,
    "log_level": "INFO",
}


def demo_settings(sim: SimulatorHandle, state_dir: Path, **overrides: Any) -> Settings:
    """Paper trading against the simulator, tuned so every pane moves within seconds;
    `overrides` (a drill scenario's) win over the tuning."""
    from btcbot_engine.drill import simulated_settings

    return simulated_settings(sim, state_dir / "demo_state.db", **{**DEMO_TUNING, **overrides})


@contextlib.contextmanager
def _simulator(port: int) -> Iterator[SimulatorHandle]:
    try:
        sim_cm = running_simulator(seed=DEMO_SEED, port=port, ws_port=port + 1 if port else 0)
        handle = sim_cm.__enter__()
    except OSError:
        if port == 0:
            raise
        sim_cm = running_simulator(seed=DEMO_SEED, port=0, ws_port=0)  # the port is taken
        handle = sim_cm.__enter__()
    try:
        yield handle
    finally:
        sim_cm.__exit__(None, None, None)


class DemoMarket:
    """Swings one symbol at a time down then up through the book, so the demo's resting paper
    orders actually fill within seconds (the seeded random walk alone can drift away for a
    while). Runs in its own thread, waiting on a stop event between swings."""

    def __init__(self, sim: SimulatorHandle, symbols: tuple[str, ...], period_s: float) -> None:
        self._sim = sim
        self._symbols = symbols
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="btcbot-demo-market", daemon=True)
        self.swings = 0

    def start(self) -> None:
        """Start swinging."""
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():  # never started when the demo runs without swings
            self._thread.join(5)

    def _run(self) -> None:
        step = 0
        while not self._stop.wait(self._period_s):
            symbol = self._symbols[step % len(self._symbols)]
            down = (step // len(self._symbols)) % 2 == 0
            with contextlib.suppress(Exception):  # the simulator is shutting down
                mid = self._sim.control.mid_price(symbol)
                self._sim.control.set_mid_price(symbol, mid * (SWING_DOWN if down else SWING_UP))
                self.swings += 1
            step += 1


@contextlib.contextmanager
def demo_environment(
    port: int = DEMO_PORT, *, swing: bool = True, drill: str | None = None
) -> Iterator[DemoEnvironment]:
    """Start the simulator (and its market swings) and a temporary state directory; tear all
    of it down on exit. `drill` names a scenario of btcbot_engine.drill whose faults come and
    go in waves (DrillError, before anything starts, for an unknown name)."""
    from btcbot_engine.drill import FaultPulser, drill_overrides, scenario

    chosen = scenario(drill) if drill is not None else None
    with (
        tempfile.TemporaryDirectory(prefix="btcbot-demo-") as tmp,
        _simulator(port) as sim,
    ):
        market = DemoMarket(sim, DEMO_SWING_SYMBOLS, SWING_PERIOD_S)
        pulser = FaultPulser(sim.control, chosen) if chosen is not None else None
        if swing:
            market.start()
        if pulser is not None:
            pulser.start()
        try:
            state_dir = Path(tmp)
            extra = drill_overrides(chosen) if chosen is not None else {}
            settings = demo_settings(sim, state_dir, **extra)
            yield DemoEnvironment(settings, sim, state_dir)
        finally:
            if pulser is not None:
                pulser.stop()
            market.stop()
