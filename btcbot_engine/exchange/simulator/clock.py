"""The simulator's wall clock: real time shifted by the clock-skew fault."""

from __future__ import annotations

import time

from btcbot_engine.exchange.simulator.faults import Faults


class ServerClock:
    """Unix time as the simulated exchange sees it (real clock + `faults.clock_skew_ms`).

    The skew is read on every call, so changing the fault at run time moves the clock at once:
    server/time, every timestamp and the ±5 s nonce window all follow it.
    """

    def __init__(self, faults: Faults) -> None:
        self._faults = faults

    def now_ms(self) -> int:
        """Milliseconds since the epoch, skewed."""
        return time.time_ns() // 1_000_000 + self._faults.clock_skew_ms
