"""A dataset seen through a simulated clock: the public half of the replay exchange.

At clock time T a pair's market is its last *completed* bar (the bar whose close time is at or
before T) or its last ticker/book snapshot stamped at or before T: nothing from the future is
ever visible. Without a tickers table the top of book is synthesized around the bar's close
with the manifest's `spread_bps` (at least one price step each side), so its mid is exactly the
close. A missing bar (a gap) leaves the previous one in place, whose age then makes the quote
stale in the engine's own freshness check.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from btcbot_engine.domain.market import BookLevel, OrderBook, Ticker, normalize_symbol
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.exchange.port import ExchangeUnavailable
from btcbot_engine.replay.series import DAY_MS, Dataset, SymbolSeries

_BPS_DENOMINATOR = 20_000  # half spread = price * bps / 2 / 10_000


def _bar_at(ts: Any, x: int, res: int) -> int:
    """`bisect_right(ts, x) - 1`: the last bar opening at or before `x`, or -1.

    Bars are mostly evenly spaced, so the index is first guessed by arithmetic and checked
    (two comparisons); only a wrong guess (a gap before `x`) pays for the bisection."""
    n = len(ts)
    if n and x >= ts[0]:
        g = (x - ts[0]) // res
        if g >= n:
            g = n - 1
        if ts[g] <= x and (g + 1 == n or ts[g + 1] > x):
            return g
    return bisect_right(ts, x) - 1


def _first_bar_from(ts: Any, y: int, res: int) -> int:
    """`bisect_left(ts, y)`: the first bar opening at or after `y` (len when none); guessed by
    arithmetic and checked like `_bar_at`."""
    n = len(ts)
    if n:
        g = -((ts[0] - y) // res) if y > ts[0] else 0  # ceil((y - ts[0]) / res), at least 0
        if g > n:
            g = n
        if (g == 0 or ts[g - 1] < y) and (g == n or ts[g] >= y):
            return g
    return bisect_left(ts, y)


@dataclass(frozen=True, slots=True)
class ReplayRules(SymbolRules):
    """SymbolRules with the derived steps computed once (a dataset's rules never change, and
    the OMS and the fill model ask for the price step on every order)."""

    _price_step: Decimal = field(default=Decimal(0), compare=False, repr=False)
    _quantity_step: Decimal = field(default=Decimal(0), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_price_step", SymbolRules.price_step.fget(self))  # type: ignore[attr-defined]
        object.__setattr__(self, "_quantity_step", SymbolRules.quantity_step.fget(self))  # type: ignore[attr-defined]

    @property
    def price_step(self) -> Decimal:
        return self._price_step

    @property
    def quantity_step(self) -> Decimal:
        return self._quantity_step

    @classmethod
    def of(cls, rules: SymbolRules) -> ReplayRules:
        """The same rules, with cached steps."""
        return cls(**{f.name: getattr(rules, f.name) for f in fields(SymbolRules)})


class SimClock:
    """The simulated clock: the backtest runner moves it; everything else reads it."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def set(self, now_ms: int) -> None:
        """Move the clock (forward only)."""
        if now_ms < self.now_ms:
            raise ValueError(f"the simulated clock cannot go back ({now_ms} < {self.now_ms})")
        self.now_ms = now_ms


class ReplayMarket:
    """Implements the paper exchange's `MarketData` protocol from a loaded dataset."""

    def __init__(self, dataset: Dataset, clock: SimClock) -> None:
        self.dataset = dataset
        self.clock = clock
        self.series: dict[str, SymbolSeries] = dataset.series
        self.resolution_ms = dataset.resolution_ms
        self._rules: dict[str, SymbolRules] = {
            s: ReplayRules.of(v.rules) for s, v in self.series.items()
        }
        self.series_rules = self._rules
        self._spread_bps = dataset.manifest.spread_bps
        # Integer half-spread numerator per symbol: spread_bps in 1/100 bps.
        self._spread_cbps = int(self._spread_bps * 100)
        self._steps = {
            s: int(v.rules.price_step.scaleb(v.rules.price_scale)) for s, v in self.series.items()
        }
        self._cache_ms: int | None = None
        self._books: dict[str, tuple[int, int, OrderBook]] = {}
        self._quiet = {
            s: (v.candles.ts, v.candles.close, self._steps[s], -v.rules.price_scale)
            for s, v in self.series.items()
        }
        self._cache: dict[str, Ticker] = {}

    # ---- MarketData protocol ----------------------------------------------------------------

    async def server_time_ms(self) -> int:
        """The simulated clock."""
        return self.clock.now_ms

    async def exchange_info(self) -> dict[str, SymbolRules]:
        """The manifest's rules (the same dict every call; callers must not change it)."""
        return self._rules

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        """Tickers as of the clock for the given pairs (all when None); pairs with no data yet
        are absent, as an exchange omits an unknown pair."""
        table = self.ticker_table()
        if symbols is None:
            return list(table.values())
        wanted = [normalize_symbol(s) for s in symbols]
        return [table[s] for s in wanted if s in table]

    async def order_book(self, symbol: str, limit: int = 100) -> OrderBook:
        """The recorded book snapshot at or before the clock, else one synthetic level per side
        at the ticker's bid and ask sized by the bar's volume."""
        pair = normalize_symbol(symbol)
        now = self.clock.now_ms
        cached = self._books.get(pair)
        if cached is not None and cached[0] == now and cached[1] == limit:
            return cached[2]
        book = self._book(pair, now, limit)
        self._books[pair] = (now, limit, book)
        return book

    def _book(self, pair: str, now: int, limit: int) -> OrderBook:
        item = self.series.get(pair)
        if item is None:
            raise ExchangeUnavailable(f"replay: no {pair} in this dataset")
        if item.books:
            k = bisect_right(item.book_ts, now) - 1
            if k >= 0:
                ts, bids, asks = item.books[k]
                return OrderBook(
                    symbol=pair,
                    bids=tuple(BookLevel(item.price(p), item.qty(q)) for p, q in bids[:limit]),
                    asks=tuple(BookLevel(item.price(p), item.qty(q)) for p, q in asks[:limit]),
                    exchange_ts_ms=ts,
                    received_at_ms=now,
                )
        ticker = self.ticker_table().get(pair)
        if ticker is None:
            raise ExchangeUnavailable(f"replay: no {pair} data at {now} yet")
        i = self.last_bar(pair, now)
        size = item.qty(max(item.candles.volume[i], 1)) if i >= 0 else item.qty(1)
        # OrderBook(symbol, bids, asks, exchange_ts_ms, received_at_ms), positional: cheaper.
        return OrderBook(
            pair,
            (BookLevel(ticker.bid, size),),
            (BookLevel(ticker.ask, size),),
            ticker.exchange_ts_ms,
            now,
        )

    # ---- for the replay exchange and the runner ---------------------------------------------

    def last_bar(self, symbol: str, now_ms: int | None = None) -> int:
        """Index of the last bar completed at the clock (close <= now), or -1."""
        now = self.clock.now_ms if now_ms is None else now_ms
        res = self.resolution_ms
        return _bar_at(self.series[symbol].candles.ts, now - res, res)

    def first_bar_from(self, symbol: str, ts_ms: int) -> int:
        """Index of the first bar opening at or after `ts_ms` (len when none)."""
        return _first_bar_from(self.series[symbol].candles.ts, ts_ms, self.resolution_ms)

    def ticker_table(self) -> dict[str, Ticker]:
        """Every pair's ticker at the clock (computed once per clock value)."""
        now = self.clock.now_ms
        if self._cache_ms != now:
            self._cache = {}
            for symbol in self.series:
                ticker = self._ticker(symbol, now)
                if ticker is not None:
                    self._cache[symbol] = ticker
            self._cache_ms = now
        return self._cache

    def half_spread(self, symbol: str, close: int) -> int:
        """The synthetic half spread in price units: >= one step, rounded up onto the grid."""
        step = self._steps[symbol]
        raw = close * self._spread_cbps // (_BPS_DENOMINATOR * 100)
        return max((raw + step - 1) // step * step, step)

    @property
    def spread_cbps(self) -> int:
        """The synthetic spread in hundredths of a basis point."""
        return self._spread_cbps

    def quiet_source(self, symbol: str) -> tuple[Any, Any, int, int]:
        """(bar open times, closes, price step, -price_scale) of a bars-only pair: what
        `quiet_mid` reads, for a caller that inlines it."""
        return self._quiet[symbol]

    def quiet_mid(self, symbol: str, max_age_ms: int) -> Decimal | None:
        """The mid the engine would record for `symbol` now, if its quote is fresh and clean
        (two-sided, not crossed); None otherwise. Cheap: no Ticker object is built."""
        now = self.clock.now_ms
        item = self.series[symbol]
        tops = item.tickers
        if tops is None:
            # Bars only: the synthetic top of book is symmetric around the close (mid = close).
            ts, closes, step, scale = self._quiet[symbol]
            i = _bar_at(ts, now - self.resolution_ms, self.resolution_ms)
            if i < 0 or now - ts[i] - self.resolution_ms > max_age_ms:
                return None
            close = closes[i]
            half = close * self._spread_cbps // 2_000_000
            half = (half + step - 1) // step * step if half > step else step
            if close <= half:
                return None
            return Decimal(close).scaleb(scale)
        if tops is not None:
            k = bisect_right(tops.ts, now) - 1
            if k < 0 or now - tops.ts[k] > max_age_ms:
                return None
            bid, ask = tops.bid[k], tops.ask[k]
            if bid <= 0 or bid >= ask:
                return None
            return (item.price(ask) + item.price(bid)) / 2
        c = item.candles
        i = bisect_right(c.ts, now - self.resolution_ms) - 1
        if i < 0 or now - (c.ts[i] + self.resolution_ms) > max_age_ms:
            return None
        close = c.close[i]
        if close <= self.half_spread(symbol, close):
            return None
        return item.price(close)

    def _ticker(self, symbol: str, now: int) -> Ticker | None:
        # Ticker(symbol, bid, ask, last, high, low, volume, average, exchange_ts_ms,
        # received_at_ms) is built positionally below: cheaper than keywords, once per pair
        # per full cycle.
        item = self.series[symbol]
        c = item.candles
        price = item.price
        res = self.resolution_ms
        i = _bar_at(c.ts, now - res, res)
        tops = item.tickers
        if tops is not None:
            # Snapshots are usually on the bar grid, which is what `_bar_at` guesses from.
            k = _bar_at(tops.ts, now, res)
            if k < 0:
                return None
            last = price(tops.last[k])
            high = price(c.high[i]) if i >= 0 else last
            low = price(c.low[i]) if i >= 0 else last
            return Ticker(
                symbol,
                price(tops.bid[k]),
                price(tops.ask[k]),
                last,
                high,
                low,
                item.qty(tops.volume[k]),
                last,
                tops.ts[k],
                now,
            )
        if i < 0:
            return None
        close = c.close[i]
        half = self.half_spread(symbol, close)
        close_ts = c.ts[i] + res
        first = _first_bar_from(c.ts, close_ts - DAY_MS, res)
        last = price(close)
        return Ticker(
            symbol,
            price(close - half),
            price(close + half),
            last,
            price(c.high[i]),
            price(c.low[i]),
            item.qty(item.volume_between(first, i)),
            last,
            close_ts,
            now,
        )
