"""ReplayMarket's fast bar lookups and Decimal building give exactly what bisection and
`SymbolSeries.price/qty` give (same values, digits and exponents), gaps included."""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left, bisect_right
from pathlib import Path

import pytest

from btcbot_engine.domain.market import Ticker
from btcbot_engine.replay.market import ReplayMarket, SimClock, _bar_at, _first_bar_from
from btcbot_engine.replay.series import DAY_MS, load
from btcbot_engine.replay.synth import generate

RES = 60_000


def _grid_with_gaps(rng: random.Random, n: int) -> array[int]:
    ts, t = [], 1_700_000_000_000
    for _ in range(n):
        ts.append(t)
        t += RES * (1 if rng.random() > 0.05 else rng.randint(2, 50))  # some gaps
    return array("q", ts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lookups_equal_bisection_on_gappy_and_regular_grids(seed: int) -> None:
    rng = random.Random(seed)
    for ts in (_grid_with_gaps(rng, 500), array("q", range(0, 500 * RES, RES)), array("q")):
        lo = (ts[0] if ts else 0) - 3 * RES
        hi = (ts[-1] if ts else 0) + 3 * RES
        probes = [rng.randint(lo, hi) for _ in range(3000)] + list(ts) + [t - 1 for t in ts]
        for x in probes:
            assert _bar_at(ts, x, RES) == bisect_right(ts, x) - 1, x
            assert _first_bar_from(ts, x, RES) == bisect_left(ts, x), x


def _reference_ticker(market: ReplayMarket, symbol: str, now: int) -> Ticker | None:
    """The ticker as built before the fast path: bisection and SymbolSeries.price/qty."""
    item = market.series[symbol]
    c = item.candles
    i = bisect_right(c.ts, now - market.resolution_ms) - 1
    tops = item.tickers
    if tops is not None:
        k = bisect_right(tops.ts, now) - 1
        if k < 0:
            return None
        last = item.price(tops.last[k])
        high = item.price(c.high[i]) if i >= 0 else last
        low = item.price(c.low[i]) if i >= 0 else last
        return Ticker(
            symbol,
            item.price(tops.bid[k]),
            item.price(tops.ask[k]),
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
    half = market.half_spread(symbol, close)
    close_ts = c.ts[i] + market.resolution_ms
    first = bisect_left(c.ts, close_ts - DAY_MS)
    return Ticker(
        symbol,
        item.price(close - half),
        item.price(close + half),
        item.price(close),
        item.price(c.high[i]),
        item.price(c.low[i]),
        item.qty(item.volume_between(first, i)),
        item.price(close),
        close_ts,
        now,
    )


@pytest.mark.parametrize("tickers", [True, False])
def test_tickers_match_the_reference_exactly(tmp_path: Path, tickers: bool) -> None:
    generate(tmp_path / "d", seed=7, symbols=("BTCTRY", "ETHTRY"), bars=1600, tickers=tickers)
    dataset = load(tmp_path / "d")
    first_ts = dataset.series["BTCTRY"].candles.ts[0]
    market = ReplayMarket(dataset, SimClock(first_ts))
    checked = 0
    # Before the first bar closes, every bar, between bars, and well past the end.
    for now in [first_ts, *range(first_ts + RES, first_ts + 1700 * RES, RES // 2)]:
        market.clock.now_ms = now
        table = market.ticker_table()
        for symbol in dataset.series:
            ours, ref = table.get(symbol), _reference_ticker(market, symbol, now)
            # repr compares each Decimal's digits and exponent, not just its value.
            assert repr(ours) == repr(ref), (symbol, now)
            checked += ours is not None
            assert market.last_bar(symbol) == (
                bisect_right(dataset.series[symbol].candles.ts, now - RES) - 1
            )
    assert checked > 3000
