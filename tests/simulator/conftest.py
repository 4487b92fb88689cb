"""Fixtures for the simulator tests: a running simulator, signed clients, WS frame helpers.

Tests talk to the simulator over real sockets with httpx and websockets directly (never through
our adapter), so they check the wire, not a client's reading of it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.simulator import SimulatorHandle, running_simulator

FRAME_TIMEOUT_S = 5.0


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A simulator whose market moves only on control.step()."""
    with running_simulator(seed=7, tick_interval_s=0) as handle:
        yield handle


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one per client costs ~0.1 s (CA bundle)."""
    return ssl.create_default_context()


@pytest.fixture
def client(sim: SimulatorHandle, tls_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    """A plain (unsigned) HTTP client on the simulator (plain http; TLS is never used)."""
    with httpx.Client(base_url=sim.base_url, timeout=10, verify=tls_context) as http:
        yield http


def auth_headers(
    sim: SimulatorHandle,
    *,
    stamp: int | None = None,
    secret: str | None = None,
    key: str | None = None,
) -> dict[str, str]:
    """X-PCK / X-Stamp / X-Signature for the test key (or deliberately wrong parts)."""
    stamp_ms = stamp if stamp is not None else time.time_ns() // 1_000_000
    public = key if key is not None else sim.api_key
    return {
        "X-PCK": public,
        "X-Stamp": str(stamp_ms),
        "X-Signature": sign(public, secret if secret is not None else sim.api_secret, stamp_ms),
    }


def exact(response: httpx.Response) -> Any:
    """Parse a reply keeping non-integer numbers exact (Decimal), ints as ints."""
    return json.loads(response.text, parse_float=Decimal)


class Api:
    """Signed calls to the private API, returning the parsed body and the status."""

    def __init__(self, sim: SimulatorHandle, http: httpx.Client) -> None:
        self.sim = sim
        self.http = http

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params or None, headers=auth_headers(self.sim))

    def submit(self, **body: Any) -> httpx.Response:
        return self.http.post("/api/v1/order", json=body, headers=auth_headers(self.sim))

    def cancel(self, order_id: int) -> httpx.Response:
        return self.http.delete(
            "/api/v1/order", params={"id": order_id}, headers=auth_headers(self.sim)
        )

    def order(self, order_id: int) -> dict[str, Any]:
        reply = self.get(f"/api/v1/order/{order_id}")
        assert reply.status_code == 200, reply.text
        return exact(reply)["data"]

    def limit(self, side: str, price: str, quantity: str, symbol: str = "BTCTRY", **extra: Any):
        return self.submit(
            pairSymbol=symbol,
            orderType=side,
            orderMethod="limit",
            price=price,
            quantity=quantity,
            **extra,
        )


@pytest.fixture
def api(sim: SimulatorHandle, client: httpx.Client) -> Api:
    """Signed private-API helper."""
    return Api(sim, client)


async def next_frame(ws: Any, model: int | None = None, timeout: float = FRAME_TIMEOUT_S) -> list:
    """The next frame (of `model`, skipping others), or fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"no frame of model {model} within {timeout} s")
        frame = json.loads(await asyncio.wait_for(ws.recv(), left), parse_float=Decimal)
        if model is None or frame[0] == model:
            return frame
