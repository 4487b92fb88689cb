"""MarketData.quotes: each quote judged once, REST asked only for symbols that are not fresh,
and every failure still fails closed with its status."""

from __future__ import annotations

from decimal import Decimal

from btcbot_engine.domain.market import Ticker
from btcbot_engine.exchange.port import ExchangeUnavailable
from btcbot_engine.market import MarketData, QuoteStatus, assess_quote

NOW = 1_700_000_000_000


def tick(symbol: str, bid: str, ask: str, ts: int = NOW, received: int = NOW) -> Ticker:
    b, a = Decimal(bid), Decimal(ask)
    return Ticker(symbol, b, a, b, a, b, Decimal(1), b, ts, received)


class RestPort:
    """Just the `tickers` call MarketData makes; counts calls, can fail."""

    def __init__(self, tickers: list[Ticker], fail: bool = False) -> None:
        self.result = tickers
        self.fail = fail
        self.calls = 0

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        self.calls += 1
        if self.fail:
            raise ExchangeUnavailable("down")
        return self.result


class Feed:
    def __init__(self, tickers: dict[str, Ticker]) -> None:
        self.tickers = tickers

    def latest_ticker(self, symbol: str) -> Ticker | None:
        return self.tickers.get(symbol)


async def test_fresh_prefetched_quotes_need_no_rest_call() -> None:
    rest = RestPort([])
    md = MarketData(rest, max_age_ms=5000)  # type: ignore[arg-type]
    pre = {"BTCTRY": tick("BTCTRY", "100", "101"), "ETHTRY": tick("ETHTRY", "10", "9")}
    quotes = await md.quotes(["ETHTRY", "BTCTRY"], now_ms=NOW + 10, prefetched=pre)
    assert list(quotes) == ["ETHTRY", "BTCTRY"]  # the caller's order
    assert quotes["BTCTRY"].status is QuoteStatus.FRESH and quotes["BTCTRY"].age_ms == 10
    assert quotes["ETHTRY"].status is QuoteStatus.CROSSED
    # ETHTRY is not fresh, so REST was asked once (and had nothing better).
    assert rest.calls == 1
    assert quotes["ETHTRY"] == assess_quote(
        "ETHTRY", pre["ETHTRY"], now_ms=NOW + 10, max_age_ms=5000
    )


async def test_stale_quote_is_replaced_by_a_fresh_rest_ticker_only_for_that_symbol() -> None:
    fresh_btc = tick("BTCTRY", "200", "201", ts=NOW + 9000, received=NOW + 9000)
    rest = RestPort([fresh_btc, tick("ETHTRY", "1", "2", ts=NOW + 9000, received=NOW + 9000)])
    md = MarketData(rest, max_age_ms=5000)  # type: ignore[arg-type]
    pre = {
        "BTCTRY": tick("BTCTRY", "100", "101"),
        "ETHTRY": tick("ETHTRY", "10", "11", NOW + 8000, NOW + 8000),
    }
    quotes = await md.quotes(["BTCTRY", "ETHTRY"], now_ms=NOW + 9000, prefetched=pre)
    assert rest.calls == 1
    assert quotes["BTCTRY"].ticker is fresh_btc and quotes["BTCTRY"].tradable
    assert quotes["ETHTRY"].ticker is pre["ETHTRY"]  # fresh already: the REST copy is not used
    assert md.last_error is None


async def test_rest_failure_keeps_the_first_judgment_and_says_why() -> None:
    rest = RestPort([], fail=True)
    md = MarketData(rest, max_age_ms=5000)  # type: ignore[arg-type]
    pre = {"BTCTRY": tick("BTCTRY", "100", "101")}
    quotes = await md.quotes(["BTCTRY", "XRPTRY"], now_ms=NOW + 6000, prefetched=pre)
    assert quotes["BTCTRY"].status is QuoteStatus.STALE and quotes["BTCTRY"].age_ms == 6000
    assert quotes["BTCTRY"].status.reason_code == "market_data:stale"
    assert quotes["XRPTRY"].status is QuoteStatus.MISSING and quotes["XRPTRY"].ticker is None
    assert md.last_error is not None and md.last_error.startswith("tickers:")


async def test_feed_quote_goes_stale_when_the_rest_ticker_says_the_exchange_is_frozen() -> None:
    feed_btc = tick("BTCTRY", "100", "101", ts=NOW + 9000, received=NOW + 9000)
    feed = Feed({"BTCTRY": feed_btc})
    rest = RestPort([])
    md = MarketData(rest, max_age_ms=5000, feed=feed, rest_fallback=False)  # type: ignore[arg-type]
    pre = {"BTCTRY": tick("BTCTRY", "100", "101", ts=NOW, received=NOW + 9000)}
    quotes = await md.quotes(["BTCTRY", "ETHTRY"], now_ms=NOW + 9000, prefetched=pre)
    assert quotes["BTCTRY"].status is QuoteStatus.STALE
    assert quotes["BTCTRY"].ticker is feed_btc and quotes["BTCTRY"].age_ms == 9000
    assert quotes["ETHTRY"].status is QuoteStatus.MISSING
    assert rest.calls == 0  # rest_fallback off: no REST read for the missing symbol


async def test_exchange_clock_offset_and_worse_of_two_ages() -> None:
    md = MarketData(RestPort([]), max_age_ms=5000)  # type: ignore[arg-type]
    # Received just now, but the exchange stamped it 7 s ago (after moving onto our clock).
    pre = {"BTCTRY": tick("BTCTRY", "100", "101", ts=NOW - 5000, received=NOW + 2000)}
    quotes = await md.quotes(["BTCTRY"], now_ms=NOW + 2000, server_offset_ms=0, prefetched=pre)
    assert quotes["BTCTRY"].status is QuoteStatus.STALE and quotes["BTCTRY"].age_ms == 7000
    shifted = await md.quotes(["BTCTRY"], now_ms=NOW + 2000, server_offset_ms=-5000, prefetched=pre)
    assert shifted["BTCTRY"].status is QuoteStatus.FRESH and shifted["BTCTRY"].age_ms == 2000
