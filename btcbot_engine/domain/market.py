"""Market data: tickers and order books, each stamped with the time we received it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


def normalize_symbol(symbol: str) -> str:
    """`btc_try`, `BTC_TRY`, `btc-try` -> `BTCTRY`, the form BTCTurk responses use.

    BTCTurk's REST accepts both forms in any case; everything inside btcbot is keyed by this one.
    """
    return symbol.replace("_", "").replace("-", "").strip().upper()


@dataclass(frozen=True, slots=True)
class Ticker:
    """Top of book and 24h statistics for one pair."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal  # 24h base volume
    average: Decimal  # 24h average price; volume * average ~ 24h quote volume
    exchange_ts_ms: int
    received_at_ms: int  # our wall clock when it arrived; freshness is judged from this

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid

    @property
    def mid(self) -> Decimal:
        return (self.ask + self.bid) / 2

    @property
    def crossed(self) -> bool:
        return self.bid >= self.ask

    @property
    def quote_volume(self) -> Decimal:
        return self.volume * self.average


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level of a book."""

    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids descending, asks ascending."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    exchange_ts_ms: int
    received_at_ms: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None
