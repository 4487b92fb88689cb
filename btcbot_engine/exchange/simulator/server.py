"""The simulator as one object: market, matching, REST and WebSocket servers on one event loop.

Everything runs on the loop that called `start()`; nothing here is thread-safe on purpose (the
harness marshals calls from other threads into the loop). One market tick: carry out accepted
cancels, move the market and fill resting orders (unless frozen), then push WS frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Mapping
from decimal import Decimal

from btcbot_engine.domain.money import to_decimal, to_non_negative
from btcbot_engine.exchange.simulator.auth import Credentials
from btcbot_engine.exchange.simulator.clock import ServerClock
from btcbot_engine.exchange.simulator.faults import Faults, apply_fault_changes
from btcbot_engine.exchange.simulator.history import PriceHistory
from btcbot_engine.exchange.simulator.http import HttpServer
from btcbot_engine.exchange.simulator.market import Levels, Market, merge_book
from btcbot_engine.exchange.simulator.matching import MatchingEngine
from btcbot_engine.exchange.simulator.pairs import PAIRS, PairSpec, find_pair
from btcbot_engine.exchange.simulator.rest import RestApp
from btcbot_engine.exchange.simulator.ws import WsHub

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # the simulator never listens beyond loopback
DEFAULT_BALANCES: dict[str, Decimal] = {
    "TRY": Decimal("100000"),
    "USDT": Decimal("5000"),
    "BTC": Decimal("0.05"),
    "ETH": Decimal("1"),
}

RequestLogEntry = tuple[float, str, str, int]
REQUEST_LOG_SIZE = 100_000


class SimulatorServer:
    """A BTCTurk-compatible exchange on 127.0.0.1: REST + graph on one port, WS on another."""

    def __init__(
        self,
        *,
        seed: int = 1,
        balances: Mapping[str, Decimal] | None = None,
        faults: Faults | None = None,
        tick_interval_s: float = 0.25,
        port: int = 0,
        ws_port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        if tick_interval_s < 0:
            raise ValueError("tick_interval_s must be >= 0 (0 = move only on step())")
        self.seed = seed
        self.faults = faults.copy() if faults is not None else Faults()
        self.clock = ServerClock(self.faults)
        self.credentials = credentials or Credentials()
        now_ms = self.clock.now_ms()
        self.market = Market(seed, now_ms, PAIRS)
        self.history = PriceHistory(seed, PAIRS, now_ms // 1000)
        start_balances = dict(DEFAULT_BALANCES if balances is None else balances)
        self.engine = MatchingEngine(self.market, self.clock, start_balances, seed, self._emit)
        self.tick_interval_s = tick_interval_s
        # Bounded so a demo left running for days does not grow without limit.
        self.request_log: deque[RequestLogEntry] = deque(maxlen=REQUEST_LOG_SIZE)
        # REST requests being served right now, by (method, lower-case path).
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.counts: dict[str, int] = {
            "requests": 0,
            "rate_limited": 0,
            "server_errors": 0,
            "lost_submit_acks": 0,
            "malformed": 0,
            "ws_connections": 0,
            "ws_drops": 0,
        }
        self.rest = RestApp(self)
        self.ws = WsHub(self)
        self._http = HttpServer(self.rest.handle, HOST, port)
        self._ws_port_wanted = ws_port
        self._tasks: list[asyncio.Task[None]] = []
        self._faults_changed = asyncio.Event()
        self._started = False

    # ---- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind both ports on 127.0.0.1 and start the tick and fault loops."""
        await self._http.start()
        try:
            await self.ws.start(HOST, self._ws_port_wanted)
        except BaseException:
            await self._http.stop()
            raise
        self.ws.publish_initial()
        self._started = True
        if self.tick_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._tick_loop(), name="sim-ticks"))
        self._tasks.append(asyncio.create_task(self._storm_loop(), name="sim-ws-storm"))

    async def stop(self) -> None:
        """Stop the loops, close every connection and release both ports."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.ws.stop()
        await self._http.stop()
        self._started = False

    @property
    def port(self) -> int:
        """The REST (and graph) port."""
        return self._http.port

    @property
    def ws_port(self) -> int:
        """The WebSocket port."""
        return self.ws.port

    @property
    def base_url(self) -> str:
        """REST base URL: `base_url + "/api/v2/..."`; the graph paths live at the same root."""
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        """WebSocket URL."""
        return f"ws://{HOST}:{self.ws_port}"

    # ---- the market clock -----------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval_s)
            try:
                self.tick()
            except Exception:  # a bug in one tick must not stop the market for good
                log.exception("simulator tick failed")

    def tick(self) -> None:
        """One market tick: cancels, market move and fills (unless frozen), WS pushes."""
        self.engine.process_cancels()
        if not self.faults.freeze_market:
            now_ms = self.clock.now_ms()
            trades = self.market.advance(now_ms)
            self.engine.match_resting(trades)
            for name, printed in trades.items():
                pm = self.market.pair(name)
                volume = sum((t.amount for t in printed), Decimal(0))
                self.history.record(name, now_ms, pm.last, volume)
        self.ws.publish_tick()

    def step(self, n: int = 1) -> None:
        """Advance the market `n` ticks now (tests with tick_interval_s=0 rely on this)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        for _ in range(n):
            self.tick()

    def book(self, pair: PairSpec) -> tuple[Levels, Levels]:
        """The public book of a pair: synthetic liquidity plus the user's resting orders."""
        user_bids, user_asks = self.engine.resting_levels(pair)
        return merge_book(self.market.pair(pair.name), user_bids, user_asks)

    # ---- faults and control ---------------------------------------------------------------------

    def set_faults(self, changes: Mapping[str, object]) -> Faults:
        """Change fault switches (all-or-nothing) and return a copy of the result."""
        apply_fault_changes(self.faults, changes)
        self._faults_changed.set()
        return self.faults.copy()

    def drop_ws_connections(self) -> int:
        """Abort every WebSocket connection now; returns how many were dropped."""
        return self.ws.drop_all()

    def set_mid_price(self, symbol: str, price: Decimal, volume: Decimal | None = None) -> None:
        """Force the next tick's mid price (and optionally the volume traded through)."""
        spec = find_pair(symbol)
        if spec is None:
            raise KeyError(f"unknown pair {symbol!r}")
        price = to_decimal(price, field="price")
        if price <= 0:
            raise ValueError(f"price {price} must be positive")
        traded = None if volume is None else to_non_negative(volume, field="volume")
        self.market.pair(spec.name).force_mid(price, traded)

    def state(self) -> dict[str, object]:
        """Faults, counters and market clock, for `GET /_sim/state`."""
        return {
            "faults": self.faults.as_dict(),
            "counts": dict(self.counts)
            | {
                "ticks": self.market.ticks,
                "orders": len(self.engine.orders),
                "fills": len(self.engine.fills),
                "ws_open": len(self.ws.connections),
            },
            "seed": self.seed,
            "serverTime": self.clock.now_ms(),
            "tickIntervalSeconds": str(self.tick_interval_s),
        }

    def log_request(self, started: float, method: str, path: str, status: int) -> None:
        """Remember one REST request (status 0 = connection dropped with no reply)."""
        self.request_log.append((started, method, path, status))

    def _emit(self, model: int, body: dict[str, object]) -> None:
        # Private events go to logged-in WS clients as they happen, not at tick cadence.
        if self._started:
            self.ws.private(model, body)

    async def _storm_loop(self) -> None:
        # Re-read the switch whenever it changes, so a storm can start or stop at run time.
        last_drop = time.monotonic()
        while True:
            self._faults_changed.clear()
            interval = self.faults.ws_disconnect_every_s
            if interval <= 0:
                await self._faults_changed.wait()
                last_drop = time.monotonic()
                continue
            wait = max(0.0, last_drop + interval - time.monotonic())
            try:
                await asyncio.wait_for(self._faults_changed.wait(), wait)
                continue
            except TimeoutError:
                pass
            self.ws.drop_all()
            last_drop = time.monotonic()
