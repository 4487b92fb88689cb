"""BTCTurk REST adapter: `BtcturkExchange` implements ExchangePort over httpx.

Safety rules this module enforces (reference sections 2, 3, 5, 8):
- Writes (POST/DELETE) go through `write_guard(action)` immediately before sending; without a
  guard every write is refused (fail closed).
- A submit is never retried blindly. Only failures that provably happened before any byte was
  sent (connect refused, connect timeout, our own limiter, the guard) or a 429 (not executed) may
  be retried. A lost reply, a 5xx or an unreadable 2xx raises SubmitUncertain(client_id).
- A cancel whose reply is lost raises ExchangeUnavailable; the OMS confirms by order status.
- Reads retry 5xx, timeouts and transport errors with capped, jittered backoff, bounded by
  `max_retries` and `max_total_retry_wait_s`; 429s wait `Retry-After` (else 60 s).
- Stamps come from StampClock, corrected by the measured server clock offset (measured lazily
  at the first private call and every `clock_resync_s`).
- The API secret lives only inside a private credentials object; reprs, logs and error messages
  never carry the key, the secret, or the X-PCK/X-Signature headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx

from btcbot_engine.domain.account import Balance
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.market import OrderBook, Ticker
from btcbot_engine.domain.money import fmt
from btcbot_engine.domain.orders import (
    ExchangeOrder,
    OrderMethod,
    OrderRequest,
    SubmitAck,
)
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.exchange.btcturk import parse
from btcbot_engine.exchange.btcturk import ratelimit as rl
from btcbot_engine.exchange.btcturk.retry import RetryPolicy, RetryState, parse_retry_after
from btcbot_engine.exchange.btcturk.signing import SigningError, StampClock, sign
from btcbot_engine.exchange.port import (
    AuthFailed,
    ExchangeError,
    ExchangeUnavailable,
    MalformedResponse,
    OrderNotFound,
    RateLimited,
    Rejected,
    SubmitUncertain,
    WriteBlocked,
)

log = logging.getLogger("btcbot_engine.exchange.btcturk")

HealthStatus = Literal["OK", "WARN", "FAIL"]

SKEW_WARN_MS = 1_000  # doctor: WARN above 1 s of host clock skew
SKEW_FAIL_MS = 4_000  # doctor: FAIL above 4 s (the exchange refuses stamps beyond ±5 s)
EXCHANGE_INFO_TTL_S = 60.0
CLOCK_RESYNC_S = 600.0
CLOCK_RESYNC_RETRY_S = 60.0  # after a failed periodic re-measure, try again this much later

_NOT_FOUND_MESSAGES = frozenset({"order not found", "no order matches your request"})


def skew_status(offset_ms: int) -> HealthStatus:
    """Doctor verdict on a measured clock offset: OK <= 1 s < WARN <= 4 s < FAIL."""
    magnitude = abs(offset_ms)
    if magnitude > SKEW_FAIL_MS:
        return "FAIL"
    if magnitude > SKEW_WARN_MS:
        return "WARN"
    return "OK"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One line of a health report."""

    name: str
    status: HealthStatus
    detail: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What `btcbot health` shows about the exchange connection."""

    checks: tuple[HealthCheck, ...]
    reachable: bool
    server_time_ms: int | None
    clock_offset_ms: int | None
    rtt_ms: int | None

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(c.status != "FAIL" for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `btcbot health --json`."""
        result = asdict(self)
        result["ok"] = self.ok
        return result


class _Credentials:
    """Key and secret, kept out of reprs, pickles and the client's __dict__ listing."""

    __slots__ = ("_key", "_secret")

    def __init__(self, key: str, secret: str) -> None:
        self._key = key
        self._secret = secret

    def headers(self, stamp: int) -> dict[str, str]:
        return {
            "X-PCK": self._key,
            "X-Stamp": str(stamp),
            "X-Signature": sign(self._key, self._secret, stamp),
        }

    def redact(self, text: str) -> str:
        """Replace any occurrence of the key or secret (an echoing proxy, say) with ***."""
        for value in (self._key, self._secret):
            if value and value in text:
                text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return "<credentials redacted>"

    def __reduce__(self) -> Any:
        raise TypeError("credentials cannot be pickled")


Kind = Literal["read", "submit", "cancel"]


@dataclass(frozen=True, slots=True)
class _Spec:
    """One logical call: what to send and how failures may be handled."""

    method: str
    url: str
    endpoint: str  # label for logs and errors, e.g. "GET /api/v1/openOrders"
    group: str | None
    kind: Kind = "read"
    private: bool = False
    enveloped: bool = True
    params: dict[str, str] | None = None
    body: dict[str, str] | None = None
    client_id: str = ""


@dataclass(frozen=True, slots=True)
class RestStats:
    """Monotonically increasing counters of one client since it was made (never reset).

    `rate_limited` counts HTTP 429 replies; `retries` counts re-sent attempts of any kind
    (after a 429, a 5xx, a transport error or a stale nonce). Callers take deltas.
    """

    rate_limited: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class _Reply:
    """A decoded reply plus timing of the attempt that produced it."""

    payload: Any  # the envelope's `data` when enveloped, else the whole body
    status: int
    request_id: str
    sent_wall_s: float
    rtt_s: float


class BtcturkExchange:
    """ExchangePort for BTCTurk's REST API (or the bundled simulator at a 127.0.0.1 URL)."""

    def __init__(
        self,
        base_url: str,
        graph_url: str,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        write_guard: Callable[[str], None] | None = None,
        timeout_s: float = 10.0,
        rate_limit_share: float = 0.8,
        max_total_retry_wait_s: float = 30.0,
        max_retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_base_s: float = 0.25,
        clock_resync_s: float = CLOCK_RESYNC_S,
        limiter_clock: Callable[[], float] | None = None,
        limiter_sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._base_url = base_url.rstrip("/")
        self._graph_url = graph_url.rstrip("/")
        self._write_guard = write_guard
        self._timeout_s = timeout_s
        self._max_total_retry_wait_s = max_total_retry_wait_s
        self._policy = RetryPolicy(
            max_retries=max_retries,
            max_total_wait_s=max_total_retry_wait_s,
            base_s=retry_base_s,
            cap_s=max(retry_base_s, 8.0),
        )
        self._rng = random.Random()
        limiter_kwargs: dict[str, Any] = {}
        if limiter_clock is not None:
            limiter_kwargs["clock"] = limiter_clock
        if limiter_sleep is not None:
            limiter_kwargs["sleep"] = limiter_sleep
        self._limiter = rl.RateLimiter(rate_limit_share, **limiter_kwargs)
        self._stamps = StampClock()
        self._clock_resync_s = clock_resync_s
        self._offset_measured_at: float | None = None  # monotonic time of the last measurement
        self._offset_measured = False
        self._last_rtt_ms: int | None = None
        self._clock_lock = asyncio.Lock()
        self._info_cache: tuple[float, dict[str, SymbolRules]] | None = None
        self._count_429 = 0
        self._count_retries = 0

        self._credentials: _Credentials | None = None
        self._credential_problem: str | None = None
        if api_key and api_secret:
            try:
                sign(api_key, api_secret, 0)  # validates the secret's base64 once, up front
                self._credentials = _Credentials(api_key, api_secret)
            except SigningError:
                self._credential_problem = "API secret is not valid base64 text"
        else:
            self._credential_problem = "no API keys configured"

        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            follow_redirects=False,  # a redirect on a signed call is not something to follow
            headers={"User-Agent": "btcbot/0.1", "Accept": "application/json"},
        )

    # ----------------------------------------------------------------------------------------
    # Introspection

    def __repr__(self) -> str:
        keys = "configured" if self._credentials is not None else "none"
        return (
            f"BtcturkExchange(base_url={self._base_url!r}, graph_url={self._graph_url!r},"
            f" keys={keys})"
        )

    __str__ = __repr__

    @property
    def has_credentials(self) -> bool:
        """True when a key and a valid secret were given (private calls can be signed)."""
        return self._credentials is not None

    @property
    def clock_offset_ms(self) -> int | None:
        """Server clock - local clock, in ms, as last measured (None until measured)."""
        return self._stamps.offset_ms if self._offset_measured else None

    def budget_used(self) -> dict[str, float]:
        """Per endpoint group, the fraction of the client-side rate budget in use (0..1)."""
        return self._limiter.budget_used()

    def stats(self) -> RestStats:
        """429 replies and retries so far (monotonic; the cycle's metrics take deltas)."""
        return RestStats(rate_limited=self._count_429, retries=self._count_retries)

    @property
    def limiter(self) -> rl.RateLimiter:
        """The client-side rate limiter (read-only use: usage and limits)."""
        return self._limiter

    async def close(self) -> None:
        """Release connections."""
        await self._http.aclose()

    async def __aenter__(self) -> BtcturkExchange:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----------------------------------------------------------------------------------------
    # Clock

    async def measure_clock_offset(self) -> int:
        """Measure server - local clock in ms from /api/v2/server/time (RTT/2 corrected).

        The stamp clock is corrected at once, so later signed calls use the new offset.
        """
        reply = await self._call(self._public("GET", "/api/v2/server/time", None, enveloped=False))
        server_ms = parse.parse_server_time(reply.payload)
        # The server read its clock roughly halfway through the round trip.
        local_mid_ms = (reply.sent_wall_s + reply.rtt_s / 2) * 1000
        offset = round(server_ms - local_mid_ms)
        self._stamps.set_offset(offset)
        self._offset_measured = True
        self._offset_measured_at = time.monotonic()
        self._last_rtt_ms = round(reply.rtt_s * 1000)
        log.debug(
            "clock offset %d ms (rtt %d ms, req %s)", offset, self._last_rtt_ms, reply.request_id
        )
        return offset

    async def _ensure_clock(self) -> None:
        """Measure the offset before the first private call and every `clock_resync_s`."""
        if not self._clock_due():
            return
        async with self._clock_lock:
            if not self._clock_due():  # another task measured while we waited for the lock
                return
            try:
                await self.measure_clock_offset()
            except ExchangeError as exc:
                if not self._offset_measured:
                    raise ExchangeUnavailable(f"cannot measure the server clock: {exc}") from None
                # Keep the previous offset; it is still far better than none. Retry later.
                log.warning(
                    "clock re-measure failed, keeping %d ms: %s", self._stamps.offset_ms, exc
                )
                self._offset_measured_at = (
                    time.monotonic() - self._clock_resync_s + CLOCK_RESYNC_RETRY_S
                )

    def _clock_due(self) -> bool:
        return (
            self._offset_measured_at is None
            or time.monotonic() - self._offset_measured_at >= self._clock_resync_s
        )

    # ----------------------------------------------------------------------------------------
    # Public endpoints

    async def server_time_ms(self) -> int:
        """The exchange's clock, in Unix milliseconds."""
        reply = await self._call(self._public("GET", "/api/v2/server/time", None, enveloped=False))
        return parse.parse_server_time(reply.payload)

    async def exchange_info(self) -> dict[str, SymbolRules]:
        """Rules for every pair, keyed by symbol; cached for 60 s (rules change rarely)."""
        now = time.monotonic()
        if self._info_cache is not None and now - self._info_cache[0] < EXCHANGE_INFO_TTL_S:
            return dict(self._info_cache[1])
        reply = await self._call(self._public("GET", "/api/v2/server/exchangeinfo", None))
        rules = parse.parse_exchange_info(reply.payload)
        self._info_cache = (time.monotonic(), rules)
        return dict(rules)

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        """Tickers for the given pairs, or every pair when None (unknown pairs are skipped)."""
        wanted = None if symbols is None else {parse.normalize_symbol(s) for s in symbols}
        if wanted is not None and not wanted:
            return []
        params = None
        if wanted is not None and len(wanted) == 1:
            # One pair: ask for just it. Several: one call for all pairs beats N calls.
            params = {"pairSymbol": next(iter(wanted))}
        reply = await self._call(self._public("GET", "/api/v2/ticker", rl.TICKER, params=params))
        tickers = parse.parse_tickers(reply.payload, _now_ms())
        if wanted is None:
            return tickers
        return [t for t in tickers if t.symbol in wanted]

    async def order_book(self, symbol: str, limit: int = 100) -> OrderBook:
        """The top `limit` levels per side of one pair's book."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        pair = parse.normalize_symbol(symbol)
        reply = await self._call(
            self._public(
                "GET",
                "/api/v2/orderbook",
                rl.ORDERBOOK,
                params={"pairSymbol": pair, "limit": str(limit)},
            )
        )
        return parse.parse_order_book(reply.payload, pair, _now_ms())

    async def klines(
        self, symbol: str, resolution_min: int, from_s: int, to_s: int
    ) -> list[parse.Candle]:
        """Candles from the graph API (`resolution_min` in minutes; times in Unix seconds)."""
        spec = _Spec(
            method="GET",
            url=f"{self._graph_url}/v1/klines/history",
            endpoint=parse.EP_KLINES,
            group=rl.GRAPH,
            enveloped=False,
            params={
                "symbol": parse.normalize_symbol(symbol),
                "resolution": str(resolution_min),
                "from": str(from_s),
                "to": str(to_s),
            },
        )
        reply = await self._call(spec)
        return parse.parse_klines(reply.payload)

    # ----------------------------------------------------------------------------------------
    # Private reads

    async def balances(self) -> list[Balance]:
        """Every asset's balance (needs keys)."""
        reply = await self._call(self._private("GET", "/api/v1/users/balances", rl.BALANCES))
        return parse.parse_balances(reply.payload)

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Our open orders, for one pair or all."""
        pair = parse.normalize_symbol(symbol) if symbol else None
        params = {"pairSymbol": pair} if pair else None
        reply = await self._call(
            self._private("GET", "/api/v1/openOrders", rl.OPEN_ORDERS, params=params)
        )
        orders = parse.parse_open_orders(reply.payload)
        return [o for o in orders if pair is None or o.symbol == pair]

    async def all_orders(
        self, symbol: str, *, start_ms: int | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        """Our orders of any status for one pair, as the exchange returns them.

        `startTime` is sent in ms (BtcTurk.Net does; ccxt sends seconds; the unit is unverified).
        """
        pair = parse.normalize_symbol(symbol)
        params = {"pairSymbol": pair, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        reply = await self._call(
            self._private("GET", "/api/v1/allOrders", rl.ALL_ORDERS, params=params)
        )
        return [o for o in parse.parse_order_list(reply.payload) if o.symbol == pair]

    async def order(self, order_id: int) -> ExchangeOrder:
        """One order by exchange id; raises OrderNotFound."""
        spec = self._private("GET", f"/api/v1/order/{int(order_id)}", rl.ORDER_GET)
        reply = await self._call(spec)
        return parse.parse_single_order(reply.payload)

    async def orders_by_client_id(self, symbol: str, client_id: str) -> list[ExchangeOrder]:
        """Orders carrying our client id: open orders first, then the recent all-orders list.

        No time filter is sent to allOrders: its time unit is unverified, and a wrong unit would
        silently hide the very order we are looking for.
        """
        matches = [o for o in await self.open_orders(symbol) if o.client_id == client_id]
        if matches:
            return matches
        recent = await self.all_orders(symbol, limit=1000)
        seen: set[int] = set()
        result: list[ExchangeOrder] = []
        for o in recent:
            if o.client_id == client_id and o.order_id not in seen:
                seen.add(o.order_id)
                result.append(o)
        return result

    async def fills(self, symbol: str | None, *, since_ms: int | None = None) -> list[Fill]:
        """Our fills for one pair (None: every pair) at or after `since_ms`, oldest first."""
        pair = parse.normalize_symbol(symbol) if symbol is not None else None
        params = {"pairSymbol": pair} if pair is not None else {}
        if since_ms is not None:
            params["startDate"] = str(since_ms)
        reply = await self._call(
            self._private("GET", "/api/v1/users/transactions/trade", rl.USER_TRADES, params=params)
        )
        fills = [
            f
            for f in parse.parse_fills(reply.payload)
            if (pair is None or f.symbol == pair)
            and (since_ms is None or f.timestamp_ms >= since_ms)
        ]
        fills.sort(key=lambda f: (f.timestamp_ms, f.trade_id))
        return fills

    # ----------------------------------------------------------------------------------------
    # Writes

    async def submit(self, request: OrderRequest) -> SubmitAck:
        """Send one order. Raises SubmitUncertain if the reply was lost; never retries blindly.

        Limit orders send price and quantity; a market BUY's `quantity` is the quote amount to
        spend (BTCTurk's rule, carried as such by OrderRequest). Stop orders are not supported:
        OrderRequest has no stop price.
        """
        body = _submit_body(request)
        spec = _Spec(
            method="POST",
            url=f"{self._base_url}/api/v1/order",
            endpoint=parse.EP_SUBMIT,
            group=rl.ORDER_SUBMIT,
            kind="submit",
            private=True,
            body=body,
            client_id=request.client_id,
        )
        reply = await self._call(spec)
        try:
            ack = parse.parse_submit_ack(reply.payload, _now_ms())
        except MalformedResponse as exc:
            # The server said yes but we cannot read what it created: the order may exist.
            log.warning(
                "submit ack unreadable (client id %s, req %s): %s",
                request.client_id,
                reply.request_id,
                exc,
            )
            raise SubmitUncertain(request.client_id, f"unreadable acknowledgement: {exc}") from None
        if ack.client_id is not None and ack.client_id != request.client_id:
            log.warning(
                "submit ack echoes client id %r, sent %r (req %s)",
                ack.client_id,
                request.client_id,
                reply.request_id,
            )
        return ack

    async def cancel(self, order_id: int) -> None:
        """Ask to cancel. On BTCTurk success means accepted; confirm by order status."""
        spec = _Spec(
            method="DELETE",
            url=f"{self._base_url}/api/v1/order",
            endpoint=parse.EP_CANCEL,
            group=rl.ORDER_CANCEL,
            kind="cancel",
            private=True,
            params={"id": str(int(order_id))},
        )
        await self._call(spec)

    # ----------------------------------------------------------------------------------------
    # Health

    async def health(self) -> HealthReport:
        """Reachability, clock skew, exchange info and (with keys) a signed read. Never raises."""
        checks: list[HealthCheck] = []
        reachable = False
        server_ms: int | None = None
        offset: int | None = None
        try:
            reply = await self._call(
                self._public("GET", "/api/v2/server/time", None, enveloped=False)
            )
            server_ms = parse.parse_server_time(reply.payload)
            reachable = True
            checks.append(
                HealthCheck(
                    "reachable",
                    "OK",
                    f"{self._base_url} answered in {round(reply.rtt_s * 1000)} ms",
                )
            )
            offset = await self.measure_clock_offset()
            checks.append(
                HealthCheck(
                    "clock_skew",
                    skew_status(offset),
                    f"server - local = {offset} ms (WARN > {SKEW_WARN_MS}, FAIL > {SKEW_FAIL_MS};"
                    " signed stamps are corrected by it)",
                )
            )
        except ExchangeError as exc:
            if not reachable:
                checks.append(HealthCheck("reachable", "FAIL", self._safe(str(exc))))
            checks.append(
                HealthCheck("clock_skew", "FAIL", "not measured: server time unavailable")
            )
        if reachable:
            try:
                rules = await self.exchange_info()
                trading = sum(1 for r in rules.values() if r.trading)
                checks.append(
                    HealthCheck("exchange_info", "OK", f"{len(rules)} pairs, {trading} trading")
                )
            except ExchangeError as exc:
                checks.append(HealthCheck("exchange_info", "FAIL", self._safe(str(exc))))
        if self._credentials is None:
            checks.append(
                HealthCheck("auth", "WARN", f"{self._credential_problem}: public endpoints only")
            )
        elif reachable:
            try:
                balances = await self.balances()
                checks.append(
                    HealthCheck("auth", "OK", f"signed call accepted ({len(balances)} assets)")
                )
            except ExchangeError as exc:
                checks.append(HealthCheck("auth", "FAIL", self._safe(str(exc))))
        return HealthReport(
            checks=tuple(checks),
            reachable=reachable,
            server_time_ms=server_ms,
            clock_offset_ms=offset,
            rtt_ms=self._last_rtt_ms,
        )

    # ----------------------------------------------------------------------------------------
    # The request engine

    def _public(
        self,
        method: str,
        path: str,
        group: str | None,
        *,
        params: dict[str, str] | None = None,
        enveloped: bool = True,
    ) -> _Spec:
        return _Spec(
            method=method,
            url=f"{self._base_url}{path}",
            endpoint=f"{method} {path}",
            group=group,
            params=params,
            enveloped=enveloped,
        )

    def _private(
        self, method: str, path: str, group: str, *, params: dict[str, str] | None = None
    ) -> _Spec:
        endpoint = parse.EP_ORDER if path.startswith("/api/v1/order/") else f"{method} {path}"
        return _Spec(
            method=method,
            url=f"{self._base_url}{path}",
            endpoint=endpoint,
            group=group,
            private=True,
            params=params,
        )

    def _safe(self, text: str) -> str:
        return self._credentials.redact(text) if self._credentials is not None else text

    def _check_guard(self, action: str) -> None:
        if self._write_guard is None:
            raise WriteBlocked(action, ["NO_WRITE_GUARD"])
        try:
            self._write_guard(action)
        except WriteBlocked:
            raise
        except Exception as exc:
            # A broken guard must not let a write through: fail closed.
            raise WriteBlocked(action, ["GUARD_ERROR"]) from exc

    async def _call(self, spec: _Spec) -> _Reply:
        """Send `spec` with limiter, guard, signing and the retry rules; return the reply."""
        credentials: _Credentials | None = None
        if spec.kind != "read" and self._write_guard is None:
            # Fail closed before any traffic at all (not even a clock measurement).
            raise WriteBlocked(spec.kind, ["NO_WRITE_GUARD"])
        if spec.private:
            if self._credentials is None:
                raise AuthFailed(self._credential_problem or "no API keys configured")
            credentials = self._credentials
            await self._ensure_clock()
        state = self._policy.start(self._rng)
        nonce_retry_used = False
        # Endpoints without a quota (server time, exchangeinfo) still honour a 429's Retry-After
        # on their next call: the limiter holds them under their own name.
        limiter_key = spec.group or spec.endpoint
        content = json.dumps(spec.body, separators=(",", ":")).encode() if spec.body else None
        while True:
            await self._limiter.acquire(limiter_key, max_wait_s=self._max_total_retry_wait_s)
            if spec.kind != "read":
                # After the limiter's wait: a kill switch set meanwhile still stops this write.
                self._check_guard(spec.kind)
            request_id = uuid.uuid4().hex
            headers = {"X-Request-ID": request_id, "Content-Type": "application/json"}
            if credentials is not None:
                headers.update(credentials.headers(self._stamps.next_stamp()))
            sent_wall = time.time()
            started = time.monotonic()
            try:
                # httpx's timeout is per phase; this caps the whole attempt (a trickling body).
                async with asyncio.timeout(self._timeout_s * 2):
                    response = await self._http.request(
                        spec.method, spec.url, params=spec.params, content=content, headers=headers
                    )
            except (
                httpx.ConnectError,
                httpx.ConnectTimeout,
                httpx.PoolTimeout,
                httpx.UnsupportedProtocol,
            ) as exc:
                # Raised before any byte of the request left us: safe to retry, even a submit.
                detail = f"{type(exc).__name__}: {self._safe(str(exc)) or 'no detail'}"
                await self._retry_or_raise(spec, state, request_id, detail, sent=False)
                continue
            except (httpx.TransportError, TimeoutError) as exc:
                # The request may have reached the server: reads retry, writes must not.
                detail = f"{type(exc).__name__}: {self._safe(str(exc)) or 'no detail'}"
                if isinstance(exc, TimeoutError | httpx.TimeoutException):
                    detail = f"no reply within {self._timeout_s:g} s ({type(exc).__name__})"
                await self._retry_or_raise(spec, state, request_id, detail, sent=True)
                continue
            rtt = time.monotonic() - started
            status = response.status_code
            log.debug(
                "%s -> HTTP %d in %.0f ms (req %s, retries %d)",
                spec.endpoint,
                status,
                rtt * 1000,
                request_id,
                state.retries,
            )
            text = response.text

            if status == 429:
                self._count_429 += 1
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                self._limiter.block(limiter_key, retry_after)
                wait = state.next_wait(retry_after)
                if wait is None:
                    log.warning(
                        "%s rate limited, giving up (req %s): %s",
                        spec.endpoint,
                        request_id,
                        state.last_refusal,
                    )
                    raise RateLimited(retry_after, f"({spec.endpoint}: {state.last_refusal})")
                # A 429 was not executed, so even a submit may be sent again after the wait.
                log.warning(
                    "%s rate limited; retrying in %.1f s (req %s)", spec.endpoint, wait, request_id
                )
                self._count_retries += 1
                await asyncio.sleep(wait)
                continue

            if status == 401:
                message = self._server_text(text)
                if (
                    "invalid nonce" in message.lower()
                    and spec.kind == "read"
                    and not nonce_retry_used
                ):
                    # Our stamp was outside the window: re-measure and retry this read once.
                    nonce_retry_used = True
                    log.warning(
                        "%s: %s; re-measuring the clock and retrying once (req %s)",
                        spec.endpoint,
                        message,
                        request_id,
                    )
                    await self.measure_clock_offset()
                    self._count_retries += 1
                    continue
                log.warning("%s -> 401 %s (req %s)", spec.endpoint, message, request_id)
                raise AuthFailed(f"{spec.endpoint}: HTTP 401: {message}")

            if status >= 500:
                detail = f"HTTP {status}: {self._server_text(text)}"
                await self._retry_or_raise(spec, state, request_id, detail, sent=True)
                continue

            if 200 <= status < 300:
                return self._decode_success(spec, status, text, request_id, sent_wall, rtt)

            if 400 <= status < 500:
                raise self._client_error(spec, status, text, request_id)

            # 1xx/3xx: not a documented answer. A submit may or may not have been booked.
            detail = f"unexpected HTTP {status}: {self._server_text(text)}"
            if spec.kind == "submit":
                raise SubmitUncertain(spec.client_id, f"{spec.endpoint}: {detail}")
            raise ExchangeUnavailable(f"{spec.endpoint}: {detail}")

    async def _retry_or_raise(
        self, spec: _Spec, state: RetryState, request_id: str, detail: str, *, sent: bool
    ) -> None:
        """After a failed attempt: sleep before the next one, or raise the right error."""
        if sent and spec.kind == "submit":
            log.warning(
                "%s outcome unknown for client id %s (req %s): %s",
                spec.endpoint,
                spec.client_id,
                request_id,
                detail,
            )
            raise SubmitUncertain(spec.client_id, f"{spec.endpoint}: {detail}")
        if sent and spec.kind == "cancel":
            log.warning("%s reply lost (req %s): %s", spec.endpoint, request_id, detail)
            raise ExchangeUnavailable(
                f"{spec.endpoint}: {detail}; the cancel may or may not have been accepted"
            )
        wait = state.next_wait()
        if wait is None:
            log.warning("%s failed, giving up (req %s): %s", spec.endpoint, request_id, detail)
            raise ExchangeUnavailable(
                f"{spec.endpoint}: {detail}; gave up after {state.retries} retries"
                f" ({state.last_refusal})"
            )
        log.warning(
            "%s failed (%s); retry %d in %.2f s (req %s)",
            spec.endpoint,
            detail,
            state.retries,
            wait,
            request_id,
        )
        self._count_retries += 1
        await asyncio.sleep(wait)

    def _server_text(self, text: str) -> str:
        """The server's message from a JSON error body, else the body's first 200 characters."""
        try:
            payload = parse.loads(text, "error body")
        except MalformedResponse:
            payload = None
        message = parse.error_message(payload)
        if message is None:
            message = f"non-JSON body: {parse.snippet(text)!r}" if text.strip() else "empty body"
        return self._safe(message)

    def _decode_success(
        self,
        spec: _Spec,
        status: int,
        text: str,
        request_id: str,
        sent_wall: float,
        rtt: float,
    ) -> _Reply:
        try:
            try:
                payload = parse.loads(text, spec.endpoint)
            except MalformedResponse:
                raise MalformedResponse(
                    f"{spec.endpoint}: HTTP {status} with a non-JSON body: "
                    f"{self._safe(parse.snippet(text))!r}"
                ) from None
            if spec.enveloped:
                envelope = parse.parse_envelope(payload, spec.endpoint)
                if not envelope.success:
                    raise self._rejection(spec, envelope, status)
                payload = envelope.data
        except MalformedResponse as exc:
            if spec.kind == "submit":
                # A 2xx we cannot read: the order may well have been booked.
                log.warning(
                    "%s unreadable 2xx for client id %s (req %s): %s",
                    spec.endpoint,
                    spec.client_id,
                    request_id,
                    exc,
                )
                raise SubmitUncertain(spec.client_id, str(exc)) from None
            log.warning("%s malformed reply (req %s): %s", spec.endpoint, request_id, exc)
            raise
        return _Reply(payload, status, request_id, sent_wall, rtt)

    def _client_error(self, spec: _Spec, status: int, text: str, request_id: str) -> ExchangeError:
        """Map a 4xx (other than 401/429) to Rejected/OrderNotFound/ExchangeUnavailable.

        A 4xx means the request was refused, so even for a submit the outcome is known: no order.
        """
        try:
            payload = parse.loads(text, spec.endpoint)
        except MalformedResponse:
            payload = None
        if status == 403 or not isinstance(payload, dict):
            # Cloudflare blocks and other error pages: not a business answer from the exchange.
            log.warning("%s -> HTTP %d (req %s)", spec.endpoint, status, request_id)
            return ExchangeUnavailable(f"{spec.endpoint}: HTTP {status}: {self._server_text(text)}")
        try:
            envelope = parse.parse_envelope(payload, spec.endpoint)
            code, message = envelope.code, envelope.message
        except MalformedResponse:
            code, message = parse.parse_code(payload.get("code")), parse.error_message(payload)
        log.info(
            "%s -> HTTP %d %s (code %s, req %s)", spec.endpoint, status, message, code, request_id
        )
        return self._rejection(spec, parse.Envelope(False, message, code, None), status)

    def _rejection(self, spec: _Spec, envelope: parse.Envelope, status: int) -> Rejected:
        reason = self._safe(envelope.message or f"HTTP {status} without a message")
        normalized = reason.replace("_", " ").strip().lower()
        if normalized in _NOT_FOUND_MESSAGES:
            return OrderNotFound(reason, code=envelope.code, http_status=status)
        return Rejected(reason, code=envelope.code, http_status=status)


def _submit_body(request: OrderRequest) -> dict[str, str]:
    """Validate an OrderRequest and build the POST /api/v1/order body (all values strings)."""
    if not request.client_id or not request.client_id.strip():
        raise ValueError("a submit needs a client id (it is how a lost reply is resolved)")
    if request.method in (OrderMethod.STOP_LIMIT, OrderMethod.STOP_MARKET):
        raise ValueError("stop orders need a stop price, which OrderRequest does not carry")
    if request.quantity <= 0 or not request.quantity.is_finite():
        raise ValueError(f"quantity must be a positive finite decimal, got {request.quantity}")
    body = {
        "pairSymbol": parse.normalize_symbol(request.symbol),
        "orderType": request.side.value,
        "orderMethod": request.method.value,
        # Market BUY: the quote amount to spend (OrderRequest already carries it that way).
        "quantity": fmt(request.quantity),
        "newOrderClientId": request.client_id,
    }
    if request.method is OrderMethod.LIMIT:
        if request.price is None or not request.price.is_finite() or request.price <= 0:
            raise ValueError(f"a limit order needs a positive price, got {request.price}")
        body["price"] = fmt(request.price)
    return body


def _now_ms() -> int:
    return int(time.time() * 1000)
