"""One pair's order book kept from the `obdiff` channel: a 431 snapshot, then 432 diffs.

The book fails closed: any doubt (a sequence gap, a diff before a snapshot, a diff that does not
fit the levels we hold, a crossed result) makes it invalid until the next snapshot, and
`order_book()` returns None meanwhile. A stale-but-plausible book is worse than no book, because
the strategy would price orders off it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from btcbot_engine.domain.market import BookLevel, OrderBook
from btcbot_engine.exchange.btcturk.ws_parse import (
    BookDiffFrame,
    BookSnapshotFrame,
    DiffOp,
    LevelChange,
)


class BookOutcome(StrEnum):
    """What applying a frame did. Anything but OK leaves the book invalid."""

    OK = "ok"
    GAP = "gap"  # CS is not the previous CS + 1
    NO_SNAPSHOT = "no_snapshot"  # a 432 with no 431 before it
    INCONSISTENT = "inconsistent"  # a diff names a level we do not hold, or re-adds one we do
    CROSSED = "crossed"  # best bid >= best ask after applying


class DiffBook:
    """Mutable book state for one pair; owned by the feed's single reader task."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._cs: int | None = None
        self._valid = False
        self._received_at_ms = 0
        self._cached: OrderBook | None = None

    @property
    def valid(self) -> bool:
        """True when the book is a faithful copy of the exchange's, as far as we can tell."""
        return self._valid

    @property
    def cs(self) -> int | None:
        """The change sequence of the last frame applied, or None before any snapshot."""
        return self._cs

    def invalidate(self) -> None:
        """Forget everything; only a new 431 makes the book valid again."""
        self._bids.clear()
        self._asks.clear()
        self._cs = None
        self._valid = False
        self._cached = None

    def apply_snapshot(self, frame: BookSnapshotFrame, received_at_ms: int) -> BookOutcome:
        """Replace the whole book with a 431."""
        self._cached = None
        self._bids = {level.price: level.quantity for level in frame.bids}
        self._asks = {level.price: level.quantity for level in frame.asks}
        self._cs = frame.cs
        self._received_at_ms = received_at_ms
        if self._is_crossed():
            self.invalidate()
            return BookOutcome.CROSSED
        self._valid = True
        return BookOutcome.OK

    def apply_diff(self, frame: BookDiffFrame, received_at_ms: int) -> BookOutcome:
        """Apply a 432 if and only if it continues the sequence we hold."""
        self._cached = None
        if self._cs is None or not self._valid:
            self.invalidate()
            return BookOutcome.NO_SNAPSHOT
        if frame.cs != self._cs + 1:
            self.invalidate()
            return BookOutcome.GAP
        if not (_apply(self._bids, frame.bids) and _apply(self._asks, frame.asks)):
            self.invalidate()
            return BookOutcome.INCONSISTENT
        self._cs = frame.cs
        self._received_at_ms = received_at_ms
        if self._is_crossed():
            self.invalidate()
            return BookOutcome.CROSSED
        return BookOutcome.OK

    def order_book(self) -> OrderBook | None:
        """The book (bids descending, asks ascending), or None while it is invalid."""
        if not self._valid:
            return None
        if self._cached is None:
            bids = tuple(
                BookLevel(price=p, quantity=self._bids[p]) for p in sorted(self._bids, reverse=True)
            )
            asks = tuple(BookLevel(price=p, quantity=self._asks[p]) for p in sorted(self._asks))
            # 431/432 carry no timestamp: the exchange time we can state is our receive time.
            self._cached = OrderBook(
                symbol=self.symbol,
                bids=bids,
                asks=asks,
                exchange_ts_ms=self._received_at_ms,
                received_at_ms=self._received_at_ms,
            )
        return self._cached

    def _is_crossed(self) -> bool:
        if not self._bids or not self._asks:
            return False
        return max(self._bids) >= min(self._asks)


def _apply(side: dict[Decimal, Decimal], changes: tuple[LevelChange, ...]) -> bool:
    """Apply changes to one side in place; False when a change contradicts the levels held."""
    for change in changes:
        present = change.price in side
        if change.op is DiffOp.REMOVE:
            if not present:
                return False
            del side[change.price]
        elif change.op is DiffOp.NEW:
            if present or change.quantity == 0:
                return False
            side[change.price] = change.quantity
        else:  # REPLACE
            if not present:
                return False
            if change.quantity == 0:
                # "Amount replaced by zero" can only mean the level emptied.
                del side[change.price]
            else:
                side[change.price] = change.quantity
    return True
