"""Run the simulator in a background thread for tests and drills: `running_simulator()`.

The server gets its own event loop in a daemon thread, so a test running its own loop talks to
it over real sockets exactly as the live adapter talks to BTCTurk. `SimulatorControl` is the
thread-safe remote: every call is marshalled into the server's loop and waits for the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from btcbot_engine.exchange.simulator.auth import Credentials
from btcbot_engine.exchange.simulator.faults import Faults
from btcbot_engine.exchange.simulator.pairs import normalize_pair
from btcbot_engine.exchange.simulator.server import RequestLogEntry, SimulatorServer

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0


class SimulatorControl:
    """Thread-safe control of a running simulator (callable from any thread)."""

    def __init__(self, server: SimulatorServer, loop: asyncio.AbstractEventLoop) -> None:
        self._server = server
        self._loop = loop
        self._loop_thread_id: int | None = None

    def _bind_thread(self, thread_id: int) -> None:
        self._loop_thread_id = thread_id

    def _call(self, fn: Callable[[], T]) -> T:
        # Inside the server loop (a callback of the simulator itself) run directly: waiting
        # for the loop from the loop would deadlock.
        if threading.get_ident() == self._loop_thread_id:
            return fn()

        async def _in_loop() -> T:
            return fn()

        future = asyncio.run_coroutine_threadsafe(_in_loop(), self._loop)
        return future.result(CALL_TIMEOUT_S)

    def set_faults(self, **changes: Any) -> Faults:
        """Change fault switches (validated all-or-nothing); returns the new switches."""
        return self._call(lambda: self._server.set_faults(changes))

    @property
    def faults(self) -> Faults:
        """A copy of the current fault switches."""
        return self._call(lambda: self._server.faults.copy())

    def step(self, n: int = 1) -> None:
        """Advance the market n ticks (cancels, matching and WS pushes happen per tick)."""
        self._call(lambda: self._server.step(n))

    def orders(self) -> list[dict[str, Any]]:
        """Every order ever booked, as REST order objects (with orderClientId and status)."""
        return self._call(lambda: [o.to_wire() for o in self._server.engine.orders.values()])

    def trades(self) -> list[dict[str, Any]]:
        """Every user fill, oldest first, as users/transactions/trade rows."""
        return self._call(lambda: [f.to_wire() for f in self._server.engine.fills])

    def balances(self) -> dict[str, dict[str, Decimal]]:
        """{asset: {"total", "locked", "free"}} as Decimals."""
        return self._call(self._server.engine.account.snapshot)

    def request_log(self) -> list[RequestLogEntry]:
        """(monotonic time, method, path, HTTP status; 0 = dropped) of every REST request."""
        return self._call(lambda: list(self._server.request_log))

    def counts(self) -> dict[str, int]:
        """The server's counters: requests, rate_limited, server_errors, lost_submit_acks, ..."""
        return self._call(lambda: dict(self._server.counts))

    def in_flight(self, method: str, path: str) -> int:
        """How many `method path` REST requests the server is serving right now."""
        key = (method.upper(), path.lower().rstrip("/"))
        return self._call(lambda: self._server.in_flight[key])

    def cancel_requests(self) -> dict[int, int]:
        """{order id: accepted cancel requests} for every order that was asked to cancel."""
        return self._call(
            lambda: {
                o.id: o.cancel_requests
                for o in self._server.engine.orders.values()
                if o.cancel_requests
            }
        )

    def set_mid_price(self, symbol: str, price: Decimal, *, volume: Decimal | None = None) -> None:
        """Make the next tick move `symbol`'s mid to `price` (to force a cross in tests).

        `volume` (optional) is the base amount other participants trade at the new best price on
        that tick, replacing the random amount: use it to produce an exact partial fill.
        """
        self._call(lambda: self._server.set_mid_price(symbol, price, volume))

    def drop_ws_connections(self) -> None:
        """Abort every WebSocket connection now."""
        self._call(self._server.drop_ws_connections)

    def mid_price(self, symbol: str) -> Decimal:
        """The current mid price of a pair (tests use it to place orders near the market)."""
        return self._call(lambda: self._server.market.pair(normalize_pair(symbol)).mid)

    def best_prices(self, symbol: str) -> tuple[Decimal, Decimal]:
        """(best bid, best ask) of the synthetic book."""

        def read() -> tuple[Decimal, Decimal]:
            pm = self._server.market.pair(normalize_pair(symbol))
            return pm.best_bid(), pm.best_ask()

        return self._call(read)


@dataclass(frozen=True)
class SimulatorHandle:
    """Where a running simulator listens, its test key pair, and its control."""

    base_url: str  # "http://127.0.0.1:<port>"; REST at base_url + "/api/v2/..." and "/api/v1/..."
    graph_url: str  # == base_url (graph paths /v1/ohlcs, /v1/klines/history at the root)
    ws_url: str  # "ws://127.0.0.1:<ws_port>"
    api_key: str  # test public key
    api_secret: str  # test private key, base64 text
    control: SimulatorControl


@contextmanager
def running_simulator(
    *,
    seed: int = 1,
    balances: dict[str, Decimal] | None = None,
    faults: Faults | None = None,
    tick_interval_s: float = 0.25,
    port: int = 0,
    ws_port: int = 0,
    credentials: Credentials | None = None,
) -> Iterator[SimulatorHandle]:
    """Start a simulator on 127.0.0.1 in a daemon thread; stop it cleanly on exit.

    `tick_interval_s=0` means the market moves only on `control.step()` (deterministic tests).
    `credentials` replaces the test key pair (e.g. a recognisable one for leak checks).
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    async def _main() -> None:
        # The server is built inside its loop so every asyncio object binds to that loop.
        server = SimulatorServer(
            seed=seed,
            balances=balances,
            faults=faults,
            tick_interval_s=tick_interval_s,
            port=port,
            ws_port=ws_port,
            credentials=credentials,
        )
        stop = asyncio.Event()
        holder["server"], holder["stop"] = server, stop
        try:
            await server.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        try:
            await stop.wait()
        finally:
            await server.stop()

    def _run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=_run, name="btcbot-simulator", daemon=True)
    thread.start()
    ready.wait()
    if failure or "server" not in holder:
        thread.join(CALL_TIMEOUT_S)
        if failure:
            raise failure[0]
        raise RuntimeError("simulator thread ended before starting")
    server: SimulatorServer = holder["server"]
    control = SimulatorControl(server, loop)
    assert thread.ident is not None
    control._bind_thread(thread.ident)
    try:
        yield SimulatorHandle(
            base_url=server.base_url,
            graph_url=server.base_url,
            ws_url=server.ws_url,
            api_key=server.credentials.api_key,
            api_secret=server.credentials.api_secret,
            control=control,
        )
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(CALL_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError("simulator thread did not stop within 30 s")
