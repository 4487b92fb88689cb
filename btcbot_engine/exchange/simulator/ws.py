"""The WebSocket feed (reference section 6): welcome, subscriptions, public pushes, private login.

Every frame is `[model, {..., "type": model}]` (except 423, whose object has no `type`). Public
channels push once per market tick; private events (451, 441, 423, 452, 201) go to logged-in
connections as they happen. Protocol pings come from the websockets library (ping_interval).
Each connection has its own send queue so one slow client never delays the market tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from btcbot_engine.exchange.simulator.market import Levels
from btcbot_engine.exchange.simulator.pairs import PAIRS, PAIRS_BY_NAME, PairSpec
from btcbot_engine.exchange.simulator.rest_public import ticker_row
from btcbot_engine.exchange.simulator.wire import dumps, plain, scaled

if TYPE_CHECKING:
    from btcbot_engine.exchange.simulator.server import SimulatorServer

log = logging.getLogger(__name__)

PING_INTERVAL_S = 15  # the reference saw protocol pings about every 15 s ...
PING_TIMEOUT_S = 30  # ... and a silent client closed after ~45 s
MAX_QUEUED_FRAMES = 5000  # a client this far behind is disconnected, not buffered forever
WELCOME: list[Any] = [991, {"type": 991, "current": "6.0.0", "min": "2.3.0"}]
TRADE_BATCH = 50


class WsConn:
    """One client connection: its subscriptions, login and outgoing queue."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.subs: set[tuple[str, str]] = set()
        self.user_id: int | None = None
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None


class BookFeed:
    """The last published book of one pair and its change sequence (`CS`)."""

    def __init__(self, cs: int) -> None:
        self.cs = cs
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    @staticmethod
    def _diff(
        old: dict[Decimal, Decimal], new: dict[Decimal, Decimal], pair: PairSpec
    ) -> list[dict[str, Any]]:
        # CP 0 = amount at a price replaced, 1 = new price level, 3 = level removed.
        out: list[dict[str, Any]] = []
        ps, qs = pair.price_scale, pair.quantity_scale
        for price, amount in new.items():
            before = old.get(price)
            if before is None:
                out.append({"CP": 1, "P": scaled(price, ps), "A": scaled(amount, qs)})
            elif before != amount:
                out.append({"CP": 0, "P": scaled(price, ps), "A": scaled(amount, qs)})
        for price, amount in old.items():
            if price not in new:
                out.append({"CP": 3, "P": scaled(price, ps), "A": scaled(amount, qs)})
        return out

    def update(
        self, bids: Levels, asks: Levels, pair: PairSpec
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        """Publish a new book; returns (asks diff, bids diff), or None if nothing changed."""
        new_bids, new_asks = dict(bids), dict(asks)
        bo = self._diff(self.bids, new_bids, pair)
        ao = self._diff(self.asks, new_asks, pair)
        self.bids, self.asks = new_bids, new_asks
        if not bo and not ao:
            return None
        self.cs += 1
        return ao, bo

    def levels(self, pair: PairSpec) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """(AO, BO) of the full published book: asks ascending, bids descending."""
        ps, qs = pair.price_scale, pair.quantity_scale
        ao = [{"A": scaled(a, qs), "P": scaled(p, ps)} for p, a in sorted(self.asks.items())]
        bo = [
            {"A": scaled(a, qs), "P": scaled(p, ps)}
            for p, a in sorted(self.bids.items(), reverse=True)
        ]
        return ao, bo


class WsHub:
    """The WebSocket server and everything it pushes."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.connections: set[WsConn] = set()
        self._ws_server: Server | None = None
        self._books = {
            p.name: BookFeed(random.Random(f"cs:{server.seed}:{p.name}").randint(10**6, 9 * 10**6))
            for p in PAIRS
        }
        self._last_tid: dict[str, int] = {p.name: 0 for p in PAIRS}

    # ---- life cycle -----------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Listen for WebSocket connections."""
        self._ws_server = await serve(
            self._handle,
            host,
            port,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            compression=None,  # the reference saw no compression negotiated
        )

    async def stop(self) -> None:
        """Close every connection and the listening socket."""
        if self._ws_server is None:
            return
        self._ws_server.close()
        await self._ws_server.wait_closed()
        self._ws_server = None

    @property
    def port(self) -> int:
        """The bound WebSocket port."""
        assert self._ws_server is not None, "WS server not started"
        return int(next(iter(self._ws_server.sockets)).getsockname()[1])

    def publish_initial(self) -> None:
        """Take the first book snapshot and tape position, so later pushes are diffs of them."""
        for pair in PAIRS:
            bids, asks = self.server.book(pair)
            self._books[pair.name].update(bids, asks, pair)
            tape = self.server.market.pair(pair.name).tape
            self._last_tid[pair.name] = tape[-1].tid if tape else 0

    # ---- connections ----------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = WsConn(ws)
        self.connections.add(conn)
        self.server.counts["ws_connections"] += 1
        conn.writer = asyncio.create_task(self._writer(conn))
        self._send(conn, WELCOME)
        try:
            async for message in ws:
                self._on_message(conn, message)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.writer

    async def _writer(self, conn: WsConn) -> None:
        try:
            while True:
                text = await conn.queue.get()
                await conn.ws.send(text)
        except ConnectionClosed:
            pass

    def _send(self, conn: WsConn, frame: list[Any] | str) -> None:
        # A stalled feed keeps the socket (and protocol pings) alive but sends nothing at all.
        if self.server.faults.ws_stall:
            return
        if conn.queue.qsize() >= MAX_QUEUED_FRAMES:
            log.warning("WS client too slow; dropping its connection")
            self._abort(conn)
            return
        conn.queue.put_nowait(frame if isinstance(frame, str) else dumps(frame))

    def _abort(self, conn: WsConn) -> None:
        # An abrupt drop (no close frame), the way a network failure or a storm looks.
        transport = conn.ws.transport
        if transport is not None:
            transport.abort()

    def drop_all(self) -> int:
        """Abort every connection now; returns how many."""
        conns = list(self.connections)
        for conn in conns:
            self._abort(conn)
        self.server.counts["ws_drops"] += len(conns)
        return len(conns)

    # ---- inbound --------------------------------------------------------------------------------

    def _on_message(self, conn: WsConn, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return  # the feed ignores what it cannot read
        if not (isinstance(frame, list) and len(frame) == 2 and isinstance(frame[1], dict)):
            return
        model, body = frame
        if model == 151:
            self._subscribe(conn, body)
        elif model == 114:
            self._login(conn, body)

    def _subscribe(self, conn: WsConn, body: dict[str, Any]) -> None:
        channel, event, join = body.get("channel"), body.get("event"), body.get("join")
        if not isinstance(channel, str) or not isinstance(event, str) or not isinstance(join, bool):
            self._send(conn, [100, {"type": 100, "ok": False, "message": "invalid request"}])
            return
        key = (channel, event)
        verb = "join" if join else "leave"
        message = f"{verb}|{channel}:{event}"
        if join == (key in conn.subs):  # a duplicate join, or leaving what was never joined
            self._send(conn, [100, {"type": 100, "ok": False, "message": message}])
            return
        if join:
            conn.subs.add(key)
        else:
            conn.subs.discard(key)
        self._send(conn, [100, {"type": 100, "ok": True, "message": message}])
        # Unknown or lowercase pairs are acked and then stay silent (reference 6, P).
        pair = PAIRS_BY_NAME.get(event)
        if join and pair is not None:
            if channel == "obdiff":
                self._send(conn, self._book_frame(pair, "obdiff"))
            elif channel == "trade":
                self._send(conn, self._trade_batch(pair))

    def _login(self, conn: WsConn, body: dict[str, Any]) -> None:
        problem = self.server.credentials.check_ws_login(
            body.get("publicKey"), body.get("nonce"), body.get("signature")
        )
        if problem is not None:
            self._send(conn, [114, {"type": 114, "ok": False, "id": 0, "message": problem}])
            return
        conn.user_id = self.server.engine.user_id
        self._send(conn, [114, {"type": 114, "id": conn.user_id, "ok": True, "message": None}])

    # ---- outbound -------------------------------------------------------------------------------

    def private(self, model: int, body: dict[str, Any]) -> None:
        """Send one private event to every logged-in connection."""
        text = dumps([model, body])
        for conn in list(self.connections):
            if conn.user_id is not None:
                self._send(conn, text)

    def _ticker_body(self, pair: PairSpec) -> dict[str, Any]:
        row = ticker_row(self.server, pair)
        feed = self._books[pair.name]
        best_bid = max(feed.bids) if feed.bids else None
        best_ask = min(feed.asks) if feed.asks else None
        qs = pair.quantity_scale
        return {
            "B": plain(row["bid"]),
            "A": plain(row["ask"]),
            "BA": scaled(feed.bids[best_bid], qs) if best_bid is not None else "0",
            "AA": scaled(feed.asks[best_ask], qs) if best_ask is not None else "0",
            "PS": pair.name,
            "H": plain(row["high"]),
            "L": plain(row["low"]),
            "LA": plain(row["last"]),
            "O": plain(row["open"]),
            "V": plain(row["volume"]),
            "AV": plain(row["average"]),
            "D": plain(row["daily"]),
            "DP": plain(row["dailyPercent"]),
            "DS": pair.quote,
            "NS": pair.base,
            "PId": pair.id,
        }

    def _book_frame(self, pair: PairSpec, channel: str) -> list[Any]:
        feed = self._books[pair.name]
        ao, bo = feed.levels(pair)
        body = {"CS": feed.cs, "PS": pair.name, "AO": ao, "BO": bo}
        return [431, body | {"channel": channel, "event": pair.name, "type": 431}]

    def _trade_item(self, pair: PairSpec, trade: Any) -> dict[str, Any]:
        return {
            "D": trade.ts_ms,
            "I": str(trade.tid),
            "A": scaled(trade.amount, pair.quantity_scale),
            "P": scaled(trade.price, pair.price_scale),
            "S": 0 if trade.side == "buy" else 1,
            "PS": pair.name,
        }

    def _trade_batch(self, pair: PairSpec) -> list[Any]:
        tape = list(self.server.market.pair(pair.name).tape)[-TRADE_BATCH:]
        items = [self._trade_item(pair, t) for t in reversed(tape)]
        body = {"symbol": pair.name, "items": items}
        return [421, body | {"channel": "trade", "event": pair.name, "type": 421}]

    def publish_tick(self) -> None:
        """Push one tick of public data to every subscriber (called by the server's tick).

        Book feeds and tape positions advance every tick, subscribed or not, so `CS` keeps
        counting and a client that missed frames (stall, reconnect) sees the gap. Frames are
        only encoded for what someone subscribed to.
        """
        wanted = set().union(*(conn.subs for conn in self.connections))
        frames: dict[tuple[str, str], list[str]] = {}
        tickers: dict[str, dict[str, Any]] = {}
        want_all = ("ticker", "all") in wanted
        for pair in PAIRS:
            name = pair.name
            bids, asks = self.server.book(pair)
            diff = self._books[name].update(bids, asks, pair)
            if want_all or ("ticker", name) in wanted:
                tickers[name] = self._ticker_body(pair)
                extra = {"channel": "ticker", "event": name, "type": 402}
                frames[("ticker", name)] = [dumps([402, tickers[name] | extra])]
            if ("orderbook", name) in wanted:
                frames[("orderbook", name)] = [dumps(self._book_frame(pair, "orderbook"))]
            if diff is not None and ("obdiff", name) in wanted:
                ao, bo = diff
                body = {"CS": self._books[name].cs, "PS": name, "AO": ao, "BO": bo}
                extra = {"channel": "obdiff", "event": name, "type": 432}
                frames[("obdiff", name)] = [dumps([432, body | extra])]
            tape = self.server.market.pair(name).tape
            fresh = [t for t in tape if t.tid > self._last_tid[name]]
            if fresh:
                self._last_tid[name] = fresh[-1].tid
                if ("trade", name) in wanted:
                    extra = {"channel": "trade", "event": name, "type": 422}
                    frames[("trade", name)] = [
                        dumps([422, self._trade_item(pair, t) | extra]) for t in fresh
                    ]
        if want_all:
            body = {"items": list(tickers.values()), "channel": "ticker", "event": "all"}
            frames[("ticker", "all")] = [dumps([401, body | {"type": 401}])]
        for conn in list(self.connections):
            for key in sorted(conn.subs):
                for text in frames.get(key, ()):
                    self._send(conn, text)
