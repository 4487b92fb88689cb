"""A hand-built public market for paper-exchange tests: books, rules and a clock we control."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from btcbot_engine.domain.market import BookLevel, OrderBook, Ticker
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.exchange.port import ExchangeUnavailable

D = Decimal
T0 = 1_700_000_000_000

BTCTRY = SymbolRules(
    symbol="BTCTRY",
    base="BTC",
    quote="TRY",
    status="TRADING",
    price_scale=2,
    quantity_scale=8,
    tick_size=D("1"),
    min_notional=D("100"),
    min_price=D("100000"),
    max_price=D("10000000"),
)
# A pair without market orders, and one that is not trading.
LIMITONLY = SymbolRules(
    symbol="XYZTRY",
    base="XYZ",
    quote="TRY",
    status="TRADING",
    price_scale=4,
    quantity_scale=2,
    tick_size=D("0.0001"),
    min_notional=D("100"),
    order_methods=frozenset({"LIMIT"}),
)
HALTED = dataclasses.replace(BTCTRY, symbol="ABCTRY", base="ABC", status="HALTED")


class Clock:
    """A wall clock that moves only when told."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def tick(self, ms: int = 1000) -> None:
        self.now += ms


Levels = Iterable[tuple[str, str]]


class FakeMarket:
    """The public half of ExchangePort over books set by hand.

    Every `set_book` is a new snapshot (a later exchange timestamp); `received_at_ms` is the
    clock's time at fetch, as a live adapter would stamp it, unless `age_ms` makes it old.
    """

    def __init__(self, clock: Clock, rules: Iterable[SymbolRules] = (BTCTRY, LIMITONLY, HALTED)):
        self.clock = clock
        self.rules = {r.symbol: r for r in rules}
        self.books: dict[str, OrderBook] = {}
        self.age_ms: dict[str, int] = {}
        self.failing: set[str] = set()
        self.calls: list[str] = []
        self.closed = False
        self._ts = T0

    def set_book(self, symbol: str, bids: Levels, asks: Levels, *, age_ms: int = 0) -> OrderBook:
        self._ts += 1
        book = OrderBook(
            symbol=symbol,
            bids=tuple(BookLevel(D(p), D(q)) for p, q in bids),
            asks=tuple(BookLevel(D(p), D(q)) for p, q in asks),
            exchange_ts_ms=self._ts,
            received_at_ms=0,
        )
        self.books[symbol] = book
        self.age_ms[symbol] = age_ms
        return book

    async def server_time_ms(self) -> int:
        self.calls.append("server_time_ms")
        return self.clock.now

    async def exchange_info(self) -> dict[str, SymbolRules]:
        self.calls.append("exchange_info")
        return dict(self.rules)

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        self.calls.append("tickers")
        out = []
        for symbol, book in self.books.items():
            if symbols is not None and symbol not in symbols:
                continue
            bid, ask = book.bids[0].price, book.asks[0].price
            out.append(Ticker(symbol, bid, ask, ask, ask, bid, D("1"), bid, book.exchange_ts_ms, 0))
        return out

    async def order_book(self, symbol: str, limit: int = 100) -> OrderBook:
        self.calls.append(f"order_book:{symbol}")
        if symbol in self.failing:
            raise ExchangeUnavailable(f"book for {symbol} is down")
        book = self.books[symbol]
        return dataclasses.replace(
            book,
            bids=book.bids[:limit],
            asks=book.asks[:limit],
            received_at_ms=self.clock.now - self.age_ms.get(symbol, 0),
        )

    async def close(self) -> None:
        self.closed = True


def walk_for_floats(value: Any, path: str = "$") -> list[str]:
    """Paths of every float inside nested dataclasses, mappings and sequences."""
    found: list[str] = []
    if isinstance(value, float):
        found.append(path)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            found += walk_for_floats(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            found += walk_for_floats(k, f"{path}[key {k!r}]")
            found += walk_for_floats(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            found += walk_for_floats(v, f"{path}[{i}]")
    return found
