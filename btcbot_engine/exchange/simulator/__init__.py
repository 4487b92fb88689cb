"""A BTCTurk-compatible exchange simulator on 127.0.0.1 (REST, graph, WebSocket, fault switches).

Faithful to the reference document (/work/shared/btcturk-api.md), not to any client: demo mode,
adapter tests and incident drills run against it. Start it with `running_simulator()` (tests),
`SimulatorServer` (inside an event loop) or `btcbot sim-exchange` (command line).
"""

from btcbot_engine.exchange.simulator.faults import Faults, FaultSpecError, parse_faults
from btcbot_engine.exchange.simulator.harness import (
    SimulatorControl,
    SimulatorHandle,
    running_simulator,
)
from btcbot_engine.exchange.simulator.server import SimulatorServer

__all__ = [
    "FaultSpecError",
    "Faults",
    "SimulatorControl",
    "SimulatorHandle",
    "SimulatorServer",
    "parse_faults",
    "running_simulator",
]
