"""Market data for the universe, each quote judged fresh, stale, crossed or missing.

Fail closed: anything but FRESH means no new orders for that symbol, and the reason code
(`market_data:stale`, `market_data:crossed`, `market_data:missing`) reaches the operator.

A quote's age is the worse of two clocks: how long ago we received it, and how old the exchange
says it is (its own timestamp, moved onto our clock with the measured server offset). The second
catches an exchange that keeps answering with a frozen book.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from btcbot_engine.domain.market import Ticker
from btcbot_engine.exchange.port import ExchangeError, ExchangePort

log = logging.getLogger(__name__)


class QuoteStatus(StrEnum):
    """Whether a quote may be traded on."""

    FRESH = "fresh"
    STALE = "stale"
    CROSSED = "crossed"
    MISSING = "missing"

    @property
    def reason_code(self) -> str:
        return f"market_data:{self.value}"


_ZERO = Decimal(0)  # compared with a Decimal, cheaper than the int 0
# Statuses as module names: reading a member off its Enum class is several times slower than
# reading a global (Python 3.11), and these are read for every quote.
_FRESH, _STALE = QuoteStatus.FRESH, QuoteStatus.STALE
_CROSSED, _MISSING = QuoteStatus.CROSSED, QuoteStatus.MISSING


@dataclass(frozen=True, slots=True)
class Quote:
    """A ticker with its judged age and status (ticker is None when missing)."""

    symbol: str
    ticker: Ticker | None
    age_ms: int | None
    status: QuoteStatus

    @property
    def tradable(self) -> bool:
        return self.status is _FRESH

    @property
    def bid(self) -> Decimal | None:
        return self.ticker.bid if self.ticker else None

    @property
    def ask(self) -> Decimal | None:
        return self.ticker.ask if self.ticker else None


def quote_age_ms(ticker: Ticker, now_ms: int, server_offset_ms: int = 0) -> int:
    """Age on our clock: the worse of receive age and exchange-timestamp age."""
    received_age = now_ms - ticker.received_at_ms
    exchange_age = now_ms - (ticker.exchange_ts_ms - server_offset_ms)
    return max(received_age, exchange_age, 0)


def assess_quote(
    symbol: str,
    ticker: Ticker | None,
    *,
    now_ms: int,
    max_age_ms: int,
    server_offset_ms: int = 0,
) -> Quote:
    """Judge one quote. Pure."""
    if ticker is None:
        return Quote(symbol, None, None, _MISSING)
    age = quote_age_ms(ticker, now_ms, server_offset_ms)
    if age > max_age_ms:
        return Quote(symbol, ticker, age, _STALE)
    if ticker.bid <= _ZERO or ticker.ask <= _ZERO or ticker.crossed:
        return Quote(symbol, ticker, age, _CROSSED)
    return Quote(symbol, ticker, age, _FRESH)


class TickerSource(Protocol):
    """Where the latest tickers come from: the REST port, or the WebSocket feed's cache."""

    def latest_ticker(self, symbol: str) -> Ticker | None: ...


class MarketData:
    """Fetches tickers for a set of symbols and judges each one.

    In `ws` mode the feed's cached tickers are used first; a symbol whose feed quote is not fresh
    falls back to one REST call when `rest_fallback` is on. REST failures leave the symbol MISSING.
    """

    def __init__(
        self,
        rest: ExchangePort,
        *,
        max_age_ms: int,
        feed: TickerSource | None = None,
        rest_fallback: bool = True,
    ) -> None:
        self._rest = rest
        self._feed = feed
        self._max_age_ms = max_age_ms
        self._rest_fallback = rest_fallback
        self.last_error: str | None = None

    async def all_tickers(self) -> dict[str, Ticker]:
        """Every pair's ticker via REST (for universe selection); {} on failure."""
        try:
            return {t.symbol: t for t in await self._rest.tickers(None)}
        except ExchangeError as exc:
            self.last_error = f"tickers: {exc}"
            log.warning("ticker fetch failed: %s", exc)
            return {}

    async def quotes(
        self,
        symbols: Sequence[str],
        *,
        now_ms: int,
        server_offset_ms: int = 0,
        prefetched: Mapping[str, Ticker] | None = None,
    ) -> dict[str, Quote]:
        """Judge a quote for every symbol (MISSING when nothing usable could be had)."""
        judging = {
            "now_ms": now_ms,
            "max_age_ms": self._max_age_ms,
            "server_offset_ms": server_offset_ms,
        }
        feed = self._feed
        tickers: Mapping[str, Ticker]
        if feed is None:
            tickers = prefetched or {}
        else:
            tickers = {}
            for symbol in symbols:
                t = feed.latest_ticker(symbol)
                if t is not None:
                    tickers[symbol] = t
            if prefetched:
                for symbol in symbols:
                    if symbol in prefetched and symbol not in tickers:
                        tickers[symbol] = prefetched[symbol]
        # Each quote is judged once; only the symbols a REST read replaced are judged again.
        quotes: dict[str, Quote] = {}
        need_rest: list[str] = []
        for s in symbols:
            q = assess_quote(s, tickers.get(s), **judging)
            quotes[s] = q
            if q.status is not _FRESH:
                need_rest.append(s)
        if need_rest and (feed is None or self._rest_fallback):
            fetched = await self._fetch(need_rest)
            for s in need_rest:
                t = fetched.get(s)
                if t is not None:
                    quotes[s] = assess_quote(s, t, **judging)
        if feed is not None and prefetched:
            # A feed ticker has no exchange timestamp, so a frozen exchange that keeps pushing
            # the same prices looks fresh. The REST ticker read this cycle has one: when it says
            # the exchange's data is old, the feed's copy of that data is stale too.
            for s, q in quotes.items():
                rest = prefetched.get(s)
                if not q.tradable or rest is None or rest is q.ticker:
                    continue
                judged = assess_quote(s, rest, **judging)
                if judged.status is QuoteStatus.STALE:
                    quotes[s] = Quote(s, q.ticker, judged.age_ms, QuoteStatus.STALE)
        return quotes

    async def _fetch(self, symbols: Iterable[str]) -> dict[str, Ticker]:
        wanted = set(symbols)
        try:
            # One call for all pairs is cheaper on the rate limit than one per pair.
            fetched = await self._rest.tickers(None)
        except ExchangeError as exc:
            self.last_error = f"tickers: {exc}"
            log.warning("ticker fetch failed: %s", exc)
            return {}
        self.last_error = None
        return {t.symbol: t for t in fetched if t.symbol in wanted}
