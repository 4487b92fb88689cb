"""BTCTurk WebSocket feed: public tickers and diff books, optional private hints.

One task (`BtcturkFeed.run`) owns the connection and all mutable state; readers call the accessors
from the same event loop, so no locks are needed.

Life cycle of one connection: connect -> (991 welcome, ignored) -> 151 subscribe, one frame per
channel+pair -> optional 114 login -> read frames until the socket closes, the data watchdog
fires, or `stop` is set. Then reconnect with exponential backoff and jitter, never opening more
than `max_connects_per_minute` connections in any window (BTCTurk blocks an IP for 60 s past 15
connects a minute, reference section 6), subscribing and logging in again each time.

Safety rules:
- A book is served only while we can vouch for it (see ws_book); otherwise `latest_book` is None.
- Private frames are hints to reconcile through REST, never a source of truth: the reference reports
  logins that never receive them, so losing one (full queue) is tolerated and counted.
- The API secret, and the login signature (a replayable credential, since the nonce is fixed), never
  reach a log line, an error text or a repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from btcbot_engine.domain.market import OrderBook, Ticker
from btcbot_engine.exchange.btcturk.signing import SigningError, sign
from btcbot_engine.exchange.btcturk.ws_book import BookOutcome, DiffBook
from btcbot_engine.exchange.btcturk.ws_parse import (
    PRIVATE_MODELS,
    FrameError,
    Model,
    PrivateHint,
    decode_frame,
    normalize_symbol,
    parse_book_diff,
    parse_book_snapshot,
    parse_private_hint,
    parse_ticker,
    parse_ticker_all,
)

__all__ = ["BtcturkFeed", "FeedStatus", "PrivateHint"]

logger = logging.getLogger(__name__)
# websockets logs every frame at DEBUG ("> TEXT '[114,{...signature...}]'"), which would put the
# login signature in a debug log. Its connections get this logger, pinned to INFO so a root DEBUG
# setting cannot turn frame dumps on.
_wire_logger = logging.getLogger(f"{__name__}.wire")
_wire_logger.setLevel(logging.INFO)

LOGIN_NONCE = 3000  # the documented fixed nonce; ms-timestamp nonces were refused (reference 6.1)
# Consecutive refused logins after which we stop trying: the same keys will be refused again, and
# runs of unauthorized requests can get the IP blocked (reference section 2).
MAX_LOGIN_REFUSALS = 3
_MALFORMED_LOG_FIRST = 50  # log every malformed frame up to this many, then one in 1000


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """A point-in-time copy of the feed's health counters.

    `logged_in` is None when no keys were given, False while a login is pending, refused or the
    socket is down, True after the server's `114 ok:true` on the current connection. After
    MAX_LOGIN_REFUSALS refusals in a row the feed stops sending 114 (public data continues).
    `resubscribes` counts every re-sent subscription: the full set after a reconnect and each
    single-pair book resync (`book_resyncs`). `gaps` counts sequence breaks (a CS jump or a 432
    with no 431 before it); `book_invalidations` counts every book thrown away for any reason.
    """

    connected: bool
    logged_in: bool | None
    connects: int
    reconnects: int
    resubscribes: int
    last_message_ms: int | None
    last_error: str | None
    gaps: int
    connect_attempts: int = 0
    book_resyncs: int = 0
    book_invalidations: int = 0
    malformed: int = 0
    hints_dropped: int = 0
    watchdog_timeouts: int = 0
    rate_limit_waits: int = 0
    login_refusals: int = 0  # consecutive; reset by a successful login


class _Secret:
    """Holds the API secret so that no repr, traceback-locals dump or f-string can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


class _SilenceTimeout(TimeoutError):
    """No frame arrived for `silence_timeout_s`: the connection may be stalled without closing."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class BtcturkFeed:
    """Keeps the latest tickers and order books of some pairs, plus private hints when logged in.

    Call `await feed.run(stop)` in a task; read `latest_ticker`, `latest_book`, `status` and the
    `hints` queue from the same event loop. `clock` returns wall-clock ms and stamps
    `received_at_ms` (and the login timestamp). `connect_window_s` exists so tests can shrink the
    60 s connect-rate window; production code leaves it alone.
    """

    def __init__(
        self,
        ws_url: str,
        symbols: Sequence[str],
        *,
        channels: Sequence[str] = ("ticker", "obdiff"),
        api_key: str | None = None,
        api_secret: str | None = None,
        silence_timeout_s: float = 20.0,
        max_connects_per_minute: int = 15,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Callable[[], int] | None = None,
        ping_interval_s: float = 15.0,
        ping_timeout_s: float = 15.0,
        hints_maxsize: int = 1000,
        connect_window_s: float = 60.0,
        open_timeout_s: float = 10.0,
    ) -> None:
        parts = urlsplit(ws_url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("ws_url must be a ws:// or wss:// URL")
        if isinstance(symbols, str):
            raise TypeError("symbols must be a sequence of pair names, not one string")
        self._symbols: tuple[str, ...] = tuple(dict.fromkeys(normalize_symbol(s) for s in symbols))
        if not self._symbols or any(not s for s in self._symbols):
            raise ValueError("symbols must name at least one pair")
        self._channels: tuple[str, ...] = tuple(dict.fromkeys(channels))
        if not self._channels or any(not c or not isinstance(c, str) for c in self._channels):
            raise ValueError("channels must name at least one channel")
        if (api_key is None) != (api_secret is None):
            raise ValueError("give both api_key and api_secret, or neither")
        if api_key == "" or api_secret == "":
            raise ValueError("api_key and api_secret must not be empty (use None for no login)")
        if silence_timeout_s <= 0 or backoff_initial_s < 0 or backoff_max_s < backoff_initial_s:
            raise ValueError("timeouts must be positive and backoff_max_s >= backoff_initial_s")
        if max_connects_per_minute < 1 or connect_window_s <= 0:
            raise ValueError("max_connects_per_minute must be >= 1")

        self._url = ws_url
        self._api_key = api_key
        self._secret = _Secret(api_secret) if api_secret is not None else None
        self._silence_s = silence_timeout_s
        self._max_connects = max_connects_per_minute
        self._window_s = connect_window_s
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._clock = clock or _wall_ms
        self._ping_interval = ping_interval_s
        self._ping_timeout = ping_timeout_s
        self._open_timeout = open_timeout_s
        self._rng = random.Random()
        # The pair channel we leave and join again to repair a book, if any book channel is used.
        self._book_channel = next((c for c in ("obdiff", "orderbook") if c in self._channels), None)
        # Retry a resync whose 431 never came, but not on every stale 432 still in flight.
        self._resync_retry_s = min(self._silence_s, 5.0)

        self.hints: asyncio.Queue[PrivateHint] = asyncio.Queue(maxsize=hints_maxsize)
        """Private-model hints (bounded; when full the oldest is dropped and counted)."""

        self._tickers: dict[str, Ticker] = {}
        self._books: dict[str, DiffBook] = {s: DiffBook(s) for s in self._symbols}
        self._resync_pending: dict[str, float] = {}
        self._connect_times: deque[float] = deque()
        self._running = False

        self._connected = False
        self._logged_in: bool | None = None if api_key is None else False
        self._session_healthy = False
        self._connects = 0
        self._connect_attempts = 0
        self._reconnects = 0
        self._resubscribes = 0
        self._book_resyncs = 0
        self._book_invalidations = 0
        self._gaps = 0
        self._malformed = 0
        self._hints_dropped = 0
        self._watchdog_timeouts = 0
        self._rate_limit_waits = 0
        self._last_message_ms: int | None = None
        self._last_error: str | None = None
        self._login_refusals = 0

    # ------------------------------------------------------------------ accessors

    @property
    def symbols(self) -> tuple[str, ...]:
        """The pairs this feed subscribes to, normalized (`BTCTRY`)."""
        return self._symbols

    def latest_ticker(self, symbol: str) -> Ticker | None:
        """The last ticker received for a pair, or None. Judge its age by `received_at_ms`."""
        return self._tickers.get(normalize_symbol(symbol))

    def latest_book(self, symbol: str) -> OrderBook | None:
        """The pair's book, or None while it cannot be trusted (no snapshot, gap, crossed, down)."""
        book = self._books.get(normalize_symbol(symbol))
        return book.order_book() if book is not None else None

    @property
    def status(self) -> FeedStatus:
        """Health counters as an immutable snapshot."""
        return FeedStatus(
            connected=self._connected,
            logged_in=self._logged_in,
            connects=self._connects,
            reconnects=self._reconnects,
            resubscribes=self._resubscribes,
            last_message_ms=self._last_message_ms,
            last_error=self._last_error,
            gaps=self._gaps,
            connect_attempts=self._connect_attempts,
            book_resyncs=self._book_resyncs,
            book_invalidations=self._book_invalidations,
            malformed=self._malformed,
            hints_dropped=self._hints_dropped,
            watchdog_timeouts=self._watchdog_timeouts,
            rate_limit_waits=self._rate_limit_waits,
            login_refusals=self._login_refusals,
        )

    def __repr__(self) -> str:
        return (
            f"BtcturkFeed(ws_url={self._url!r}, symbols={list(self._symbols)!r}, "
            f"channels={list(self._channels)!r}, private={self._secret is not None})"
        )

    # ------------------------------------------------------------------ run loop

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, read and reconnect until `stop` is set; returns promptly after it is."""
        if self._running:
            raise RuntimeError("BtcturkFeed.run is already running")
        self._running = True
        failures = 0
        try:
            while not stop.is_set():
                if not await self._await_connect_slot(stop):
                    break
                self._session_healthy = False
                try:
                    await _until_stopped(self._session(), stop)
                except _SilenceTimeout:
                    pass  # already recorded when it fired
                except Exception as exc:
                    self._record_error(exc)
                finally:
                    self._on_disconnect()
                if stop.is_set():
                    break
                # A connection that delivered data resets the backoff; one that failed grows it.
                failures = 0 if self._session_healthy else failures + 1
                if await _wait_or_stop(stop, self._backoff_delay(failures)):
                    break
        finally:
            self._on_disconnect()
            self._running = False

    def _backoff_delay(self, failures: int) -> float:
        base = min(self._backoff_max, self._backoff_initial * (2 ** min(failures, 30)))
        # "Equal jitter": never less than half the delay, so a storm still spreads out.
        return base / 2 + self._rng.uniform(0, base / 2)

    async def _await_connect_slot(self, stop: asyncio.Event) -> bool:
        """Wait until one more connect fits the rate window; False if stop was set meanwhile."""
        while not stop.is_set():
            now = time.monotonic()
            while self._connect_times and now - self._connect_times[0] >= self._window_s:
                self._connect_times.popleft()
            if len(self._connect_times) < self._max_connects:
                self._connect_times.append(now)
                return True
            wait = self._connect_times[0] + self._window_s - now
            self._rate_limit_waits += 1
            logger.warning(
                "ws connect rate cap reached (%d in %.0f s); waiting %.1f s",
                self._max_connects,
                self._window_s,
                wait,
            )
            if await _wait_or_stop(stop, wait):
                return False
        return False

    async def _session(self) -> None:
        """One connection, from handshake to close. Always ends by an exception."""
        self._connect_attempts += 1
        async with connect(
            self._url,
            open_timeout=self._open_timeout,
            # The server pings every ~15 s and websockets answers; our own pings find a dead peer.
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            close_timeout=1.0,
            logger=_wire_logger,
        ) as ws:
            self._connects += 1
            if self._connects > 1:
                self._reconnects += 1
                self._resubscribes += 1
            self._connected = True
            logger.info("ws connected to %s (connect #%d)", self._url, self._connects)
            await self._subscribe_all(ws)
            if self._api_key is not None and self._secret is not None:
                if self._login_refusals < MAX_LOGIN_REFUSALS:
                    await self._login(ws, self._api_key, self._secret)
                else:
                    logger.info("ws login skipped: refused %d times in a row", self._login_refusals)
            while True:
                try:
                    async with asyncio.timeout(self._silence_s):
                        raw = await ws.recv()
                except TimeoutError:
                    # Recorded now, not after the close handshake, so status is never half-updated.
                    error = _SilenceTimeout(f"no frame for {self._silence_s:g} s; reconnecting")
                    self._watchdog_timeouts += 1
                    self._record_error(error)
                    raise error from None
                await self._handle(ws, raw)

    async def _subscribe_all(self, ws: ClientConnection) -> None:
        for channel in self._channels:
            for symbol in self._symbols:
                await self._send_subscription(ws, channel, symbol, join=True)

    @staticmethod
    async def _send_subscription(
        ws: ClientConnection, channel: str, symbol: str, *, join: bool
    ) -> None:
        # One channel+event per frame; events are uppercase pairs (lowercase is acked, then silent).
        body = {"type": int(Model.SUBSCRIPTION), "channel": channel, "event": symbol, "join": join}
        await ws.send(json.dumps([int(Model.SUBSCRIPTION), body]))

    async def _login(self, ws: ClientConnection, api_key: str, secret: _Secret) -> None:
        try:
            signature = sign(api_key, secret.reveal(), LOGIN_NONCE)
        except SigningError as exc:
            # A bad secret is a configuration error; public data still flows without a login.
            self._logged_in = False
            self._last_error = f"login not sent: {exc}"
            logger.error("ws login not sent: %s", exc)
            return
        body = {
            "type": int(Model.LOGIN),
            "publicKey": api_key,
            "timestamp": self._clock(),  # not part of the signed text (reference 6.1)
            "nonce": LOGIN_NONCE,
            "signature": signature,
        }
        await ws.send(json.dumps([int(Model.LOGIN), body]))

    def _on_disconnect(self) -> None:
        if self._connected:
            logger.info("ws disconnected")
        self._connected = False
        if self._logged_in is not None:
            self._logged_in = False
        # Diffs cannot continue across connections: every book waits for a fresh 431.
        for book in self._books.values():
            book.invalidate()
        self._resync_pending.clear()

    def _record_error(self, exc: BaseException) -> None:
        if isinstance(exc, ConnectionClosed):
            text = f"connection closed: {exc}"
        else:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self._last_error = self._redact(text)
        logger.warning("ws session ended: %s", self._last_error)

    def _redact(self, text: str) -> str:
        # Defence in depth: nothing we build contains them, but server text is echoed.
        if self._secret is not None and self._api_key is not None:
            text = text.replace(self._secret.reveal(), "***")
            with contextlib.suppress(SigningError):
                text = text.replace(sign(self._api_key, self._secret.reveal(), LOGIN_NONCE), "***")
        return text

    # ------------------------------------------------------------------ frames

    async def _handle(self, ws: ClientConnection, raw: str | bytes) -> None:
        now = self._clock()
        self._last_message_ms = now
        model: int | None = None
        try:
            model, body = decode_frame(raw)
            await self._dispatch(ws, model, body, now)
        except FrameError as exc:
            self._count_malformed(exc.model if exc.model is not None else model, exc.reason)
        except ConnectionClosed:
            raise
        except Exception as exc:  # a bug or a shape we did not foresee must not kill the feed
            self._count_malformed(model, f"unexpected {type(exc).__name__}")
            logger.exception("ws frame handling failed (model=%s)", model)

    def _count_malformed(self, model: int | None, reason: str) -> None:
        self._malformed += 1
        n = self._malformed
        if n <= _MALFORMED_LOG_FIRST or n % 1000 == 0:
            # Model and reason only: frame text may carry account data.
            logger.warning("ws malformed frame #%d model=%s reason=%s", n, model, reason)

    async def _dispatch(
        self, ws: ClientConnection, model: int, body: dict[str, Any], now: int
    ) -> None:
        if model == Model.WELCOME:
            return
        if model == Model.RESULT:
            self._on_result(body)
        elif model == Model.LOGIN:
            self._on_login(body)
        elif model == Model.TICKER_PAIR:
            self._store_ticker(parse_ticker(body, now))
        elif model == Model.TICKER_ALL:
            for ticker in parse_ticker_all(body, now):
                self._store_ticker(ticker)
        elif model == Model.ORDERBOOK_FULL:
            await self._on_book_snapshot(ws, body, now)
        elif model == Model.ORDERBOOK_DIFF:
            await self._on_book_diff(ws, body, now)
        elif model in PRIVATE_MODELS:
            self._on_private(model, body)
        else:
            logger.debug("ws model %s ignored", model)

    def _on_result(self, body: dict[str, Any]) -> None:
        if body.get("ok") is False:
            # e.g. a duplicate join; the subscription we need is still in place.
            logger.info("ws request refused: %s", self._redact(str(body.get("message"))))

    def _on_login(self, body: dict[str, Any]) -> None:
        ok = body.get("ok")
        if not isinstance(ok, bool):
            raise FrameError(Model.LOGIN, "field ok is not a bool")
        if self._logged_in is None:
            logger.info("ws login reply ignored: no keys configured")
            return
        self._logged_in = ok
        if ok:
            self._login_refusals = 0
            logger.info("ws private login ok")
        else:
            self._login_refusals += 1
            message = self._redact(str(body.get("message") or "no message"))
            self._last_error = f"login refused: {message}"
            logger.error(
                "ws private login refused (%d in a row): %s", self._login_refusals, message
            )

    def _store_ticker(self, ticker: Ticker) -> None:
        self._tickers[ticker.symbol] = ticker
        self._session_healthy = True

    async def _on_book_snapshot(self, ws: ClientConnection, body: dict[str, Any], now: int) -> None:
        frame = parse_book_snapshot(body)
        book = self._books.get(frame.symbol)
        if book is None:
            logger.debug("ws book for unsubscribed pair %s ignored", frame.symbol)
            return
        self._session_healthy = True
        self._resync_pending.pop(frame.symbol, None)
        outcome = book.apply_snapshot(frame, now)
        if outcome is not BookOutcome.OK:
            await self._book_failed(ws, frame.symbol, outcome, frame.cs)

    async def _on_book_diff(self, ws: ClientConnection, body: dict[str, Any], now: int) -> None:
        frame = parse_book_diff(body)
        book = self._books.get(frame.symbol)
        if book is None:
            logger.debug("ws diff for unsubscribed pair %s ignored", frame.symbol)
            return
        self._session_healthy = True
        asked = self._resync_pending.get(frame.symbol)
        if asked is not None:
            # Diffs of the old subscription still in flight: drop them until the new 431 comes,
            # unless it is overdue, in which case ask again.
            if time.monotonic() - asked >= self._resync_retry_s:
                await self._resync(ws, frame.symbol)
            return
        outcome = book.apply_diff(frame, now)
        if outcome is not BookOutcome.OK:
            await self._book_failed(ws, frame.symbol, outcome, frame.cs)

    async def _book_failed(
        self, ws: ClientConnection, symbol: str, outcome: BookOutcome, cs: int
    ) -> None:
        self._book_invalidations += 1
        if outcome in (BookOutcome.GAP, BookOutcome.NO_SNAPSHOT):
            self._gaps += 1
        logger.warning("ws book %s invalid (%s at CS %d); resubscribing", symbol, outcome, cs)
        await self._resync(ws, symbol)

    async def _resync(self, ws: ClientConnection, symbol: str) -> None:
        if self._book_channel is None:
            return
        self._resync_pending[symbol] = time.monotonic()
        self._book_resyncs += 1
        self._resubscribes += 1
        # Leave then join: the server answers a fresh join with a new 431 snapshot.
        await self._send_subscription(ws, self._book_channel, symbol, join=False)
        await self._send_subscription(ws, self._book_channel, symbol, join=True)

    def _on_private(self, model: int, body: dict[str, Any]) -> None:
        if self._logged_in is not True:
            logger.debug("ws private model %s ignored: not logged in", model)
            return
        hint = parse_private_hint(model, body)
        self._session_healthy = True
        if self.hints.full():
            # Hints only trigger REST reconciliation, so the oldest is the cheapest to lose.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.hints.get_nowait()
                self._hints_dropped += 1
        self.hints.put_nowait(hint)


async def _wait_or_stop(stop: asyncio.Event, timeout: float) -> bool:
    """Sleep up to `timeout` s; True if `stop` was set (then return at once)."""
    if timeout <= 0:
        return stop.is_set()
    try:
        async with asyncio.timeout(timeout):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def _until_stopped(coro: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run `coro` until it ends (its exception propagates) or `stop` is set (it is cancelled)."""
    work = asyncio.create_task(coro)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not work.done():
            work.cancel()
            # gather, not `await work` under suppress(): an outer cancel must still propagate.
            await asyncio.gather(work, return_exceptions=True)
    if work.done() and not work.cancelled():
        work.result()
