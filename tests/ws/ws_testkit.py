"""Test kit for the WebSocket feed: a scripted BTCTurk-like server on 127.0.0.1 and wait helpers.

The scripted server behaves like the reference (section 6) by default: 991 on connect, a 100 ack
for every 151, a 114 reply that checks the signature. Tests then push exact frames through
`Peer.send` to provoke gaps, crossed books, malformed frames, silences and drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.btcturk.ws import BtcturkFeed

# Made-up keys from the reference's worked example (section 2).
API_KEY = "11111111-2222-3333-4444-555555555555"
API_SECRET = "ZmFrZS1idGN0dXJrLXNlY3JldC1mb3ItdGVzdHMtMzI="
WRONG_SECRET = "d3Jvbmctc2VjcmV0LWJ1dC12YWxpZC1iYXNlNjQtISE="

# The scripted server's own frame dumps would show the login it receives; keep them out of the
# logs so secret-leak tests see only what the client logs.
_SERVER_LOGGER = logging.getLogger("tests.ws.scripted_server")
_SERVER_LOGGER.setLevel(logging.INFO)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll `predicate` every 10 ms until true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


@dataclass
class Peer:
    """The server side of one client connection."""

    ws: ServerConnection
    index: int
    connected_at: float
    received: list[list[Any]] = field(default_factory=list)

    async def send(self, model: int, body: dict[str, Any]) -> None:
        """Send one `[model, body]` frame."""
        await self.ws.send(json.dumps([model, body]))

    async def send_raw(self, text: str) -> None:
        """Send text as is (malformed frames)."""
        await self.ws.send(text)

    def frames(self, model: int) -> list[dict[str, Any]]:
        """Bodies of the frames of one model the client sent on this connection."""
        return [f[1] for f in self.received if f[0] == model]

    def subscriptions(self) -> list[tuple[str, str, bool]]:
        """(channel, event, join) for every 151 received, in order."""
        return [(b["channel"], b["event"], b["join"]) for b in self.frames(151)]


Script = Callable[[Peer], Awaitable[None]]


class ScriptedServer:
    """websockets server on 127.0.0.1, port 0, running `script(peer)` for each connection.

    When the script returns, the connection stays open until the client closes it, unless the
    script closed it. `login_ok` decides the 114 reply from the signature (None = never reply).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        welcome: bool = True,
        auto_ack: bool = True,
        login_reply: bool = True,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        ping_interval: float | None = None,
    ) -> None:
        self._script = script
        self._welcome = welcome
        self._auto_ack = auto_ack
        self._login_reply = login_reply
        self._api_key = api_key
        self._api_secret = api_secret
        self._ping_interval = ping_interval
        self.peers: list[Peer] = []
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ping_interval=self._ping_interval,
            close_timeout=0.5,
            logger=_SERVER_LOGGER,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def last(self) -> Peer:
        """The newest connection."""
        return self.peers[-1]

    async def _handle(self, ws: ServerConnection) -> None:
        peer = Peer(ws=ws, index=len(self.peers), connected_at=time.monotonic())
        self.peers.append(peer)
        reader = asyncio.create_task(self._read(peer))
        try:
            if self._welcome:
                await peer.send(991, {"type": 991, "current": "6.0.0", "min": "2.3.0"})
            if self._script is not None:
                await self._script(peer)
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _read(self, peer: Peer) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in peer.ws:
                frame = json.loads(raw)
                peer.received.append(frame)
                model, body = frame
                if model == 151 and self._auto_ack:
                    verb = "join" if body["join"] else "leave"
                    message = f"{verb}|{body['channel']}:{body['event']}"
                    await peer.send(100, {"type": 100, "ok": True, "message": message})
                elif model == 114 and self._login_reply:
                    good = body.get("publicKey") == self._api_key and body.get("signature") == sign(
                        self._api_key, self._api_secret, 3000
                    )
                    if good:
                        await peer.send(114, {"type": 114, "id": 5869906, "ok": True})
                    else:
                        await peer.send(
                            114,
                            {
                                "type": 114,
                                "ok": False,
                                "id": 0,
                                "message": "Unauthorized - Invalid Signature",
                            },
                        )


class FakeClock:
    """Wall-clock ms under test control."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@contextlib.asynccontextmanager
async def running(feed: BtcturkFeed, stop_within_s: float = 2.0) -> AsyncIterator[asyncio.Event]:
    """Run `feed` in a task; on exit set stop and require the task to end promptly."""
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, timeout=stop_within_s)
        assert time.monotonic() - started < stop_within_s


def ticker_body(symbol: str = "BTCTRY", **overrides: Any) -> dict[str, Any]:
    """A 402 body in the shape of the reference example."""
    body: dict[str, Any] = {
        "B": "3100000",
        "A": "3100500",
        "BA": "0.1",
        "AA": "0.2",
        "PS": symbol,
        "H": "3200000",
        "L": "3000000",
        "LA": "3100250",
        "O": "3050000",
        "V": "16.43392495",
        "AV": "3101000.604090120000",
        "D": "1240",
        "DP": "1.53",
        "DS": "TRY",
        "NS": "BTC",
        "PId": 1,
        "channel": "ticker",
        "event": symbol,
        "type": 402,
    }
    body.update(overrides)
    return body


def levels(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """[(price, amount), ...] -> 431 levels."""
    return [{"P": p, "A": a} for p, a in pairs]


def snapshot_body(
    cs: int,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    symbol: str = "BTCTRY",
) -> dict[str, Any]:
    """A 431 body."""
    return {
        "CS": cs,
        "PS": symbol,
        "BO": levels(*bids),
        "AO": levels(*asks),
        "channel": "obdiff",
        "event": symbol,
        "type": 431,
    }


def diff_body(
    cs: int,
    bids: Sequence[tuple[int, str, str]] = (),
    asks: Sequence[tuple[int, str, str]] = (),
    symbol: str = "BTCTRY",
) -> dict[str, Any]:
    """A 432 body from [(CP, price, amount), ...]."""
    return {
        "CS": cs,
        "PS": symbol,
        "BO": [{"CP": cp, "P": p, "A": a} for cp, p, a in bids],
        "AO": [{"CP": cp, "P": p, "A": a} for cp, p, a in asks],
        "channel": "obdiff",
        "event": symbol,
        "type": 432,
    }
