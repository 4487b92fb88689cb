"""The seeded market of other participants: a random-walk mid, a synthetic book, public trades.

Each pair has two random streams derived from the seed: one drives only the mid-price walk, the
other the book amounts and trade sizes. Keeping them apart means the price path depends on the
seed and the tick count alone (and on forced prices), never on what the user traded.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from btcbot_engine.exchange.simulator.pairs import PAIRS, PairSpec

BOOK_DEPTH = 100  # levels per side, as the real book (and its REST limit cap)
TRADE_HISTORY = 200
MAX_SWEEP_TRADES = 30
BPS = Decimal("0.0001")
# Public trade ids look like the real ones (.NET ticks, ~6.4e17), kept as strings on the wire.
FIRST_PUBLIC_TRADE_ID = 637544252214980918


@dataclass(frozen=True)
class PublicTrade:
    """One trade printed on the public tape. `side` is the aggressor: "buy" or "sell"."""

    tid: int
    ts_ms: int
    price: Decimal
    amount: Decimal
    side: str


def _dec(value: float) -> Decimal:
    # Random draws are floats; money is built from their fixed-point text so the conversion is
    # exact and identical on every platform.
    return Decimal(f"{value:.6f}")


class PairMarket:
    """The market of one pair: mid price, synthetic book of other participants, tape, 24h stats."""

    def __init__(self, spec: PairSpec, walk_seed: int, book_seed: int, now_ms: int) -> None:
        self.spec = spec
        self._walk = random.Random(walk_seed)
        self._rng = random.Random(book_seed)
        step = spec.price_step
        self.step = step
        self.mid = (spec.start_price / step).to_integral_value(ROUND_FLOOR) * step
        gap_steps = max(1, round(float(spec.start_price) * spec.level_gap_bps / 1e4 / float(step)))
        self.gap = step * gap_steps
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.tape: deque[PublicTrade] = deque(maxlen=TRADE_HISTORY)
        self.timestamp_ms = now_ms
        self._forced_mid: Decimal | None = None
        self._forced_volume: Decimal | None = None
        # 24h statistics start from a plausible synthetic day, then follow the live tape.
        drift = _dec(self._rng.uniform(-0.02, 0.02))
        self.open_24h = self._to_step(self.mid * (1 - drift))
        self.high_24h = max(self.mid, self.open_24h) * Decimal("1.008")
        self.low_24h = min(self.mid, self.open_24h) * Decimal("0.992")
        self.high_24h = self._to_step(self.high_24h)
        self.low_24h = self._to_step(self.low_24h)
        self.volume_24h = spec.daily_volume * _dec(self._rng.uniform(0.8, 1.2))
        self.volume_24h = self.volume_24h.quantize(spec.quantity_step, ROUND_DOWN)
        self.quote_volume_24h = self.volume_24h * (self.open_24h + self.mid) / 2
        self.last = self.mid
        self._rebuild_book(perturb=0)

    # ---- prices -------------------------------------------------------------------------------

    def _to_step(self, price: Decimal, rounding: str = ROUND_FLOOR) -> Decimal:
        units = (price / self.step).to_integral_value(rounding)
        return max(units, Decimal(1)) * self.step

    def half_spread(self) -> Decimal:
        """Half the synthetic spread: a bp or so, never less than one price step."""
        raw = self.mid * Decimal(str(self.spec.half_spread_bps)) * BPS
        return max(self.step, self._to_step(raw, ROUND_CEILING))

    def best_bid(self) -> Decimal:
        """Best synthetic bid (the book's top, ignoring the user's own orders)."""
        return max(self.bids) if self.bids else self.mid - self.half_spread()

    def best_ask(self) -> Decimal:
        """Best synthetic ask."""
        return min(self.asks) if self.asks else self.mid + self.half_spread()

    def force_mid(self, price: Decimal, volume: Decimal | None = None) -> None:
        """Make the next tick move the mid to `price` (tests use this to push through an order).

        `volume`, if given, is the base amount other participants trade at the new best price on
        that tick, replacing the random sweep and noise trades (lets a test produce an exact
        partial fill).
        """
        self._forced_mid = self._to_step(price)
        self._forced_volume = volume

    def _amount(self, scale: float) -> Decimal:
        size = self.spec.trade_size * _dec(scale)
        return max(size.quantize(self.spec.quantity_step, ROUND_DOWN), self.spec.quantity_step)

    def _level_amount(self, depth: int) -> Decimal:
        return self._amount((0.3 + self._rng.expovariate(1.0)) * (1.0 + depth / 25.0))

    # ---- book -----------------------------------------------------------------------------------

    def _side_prices(self, best: Decimal, downward: bool) -> list[Decimal]:
        # Level 0 sits at the best price; deeper levels sit on a fixed grid of `gap`, so most
        # levels survive a small move of the mid and diffs stay small, like a real book.
        prices = [best]
        if downward:
            grid = (best / self.gap).to_integral_value(ROUND_FLOOR) * self.gap
            if grid >= best:
                grid -= self.gap
            while len(prices) < BOOK_DEPTH and grid > 0:
                prices.append(grid)
                grid -= self.gap
        else:
            grid = (best / self.gap).to_integral_value(ROUND_CEILING) * self.gap
            if grid <= best:
                grid += self.gap
            while len(prices) < BOOK_DEPTH:
                prices.append(grid)
                grid += self.gap
        return prices

    def _rebuild_book(self, perturb: int) -> None:
        half = self.half_spread()
        bid_prices = self._side_prices(self.mid - half, downward=True)
        ask_prices = self._side_prices(self.mid + half, downward=False)
        self.bids = self._refill(self.bids, bid_prices, perturb)
        self.asks = self._refill(self.asks, ask_prices, perturb)

    def _refill(
        self, old: dict[Decimal, Decimal], prices: list[Decimal], perturb: int
    ) -> dict[Decimal, Decimal]:
        fresh: dict[Decimal, Decimal] = {}
        for depth, price in enumerate(prices):
            amount = old.get(price)
            fresh[price] = amount if amount else self._level_amount(depth)
        # Other participants also amend resting orders: change a few amounts per tick.
        for _ in range(perturb):
            depth = self._rng.randrange(len(prices))
            fresh[prices[depth]] = self._level_amount(depth)
        return fresh

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Synthetic levels: bids descending, asks ascending, as (price, amount)."""
        bids = sorted(self.bids.items(), key=lambda kv: kv[0], reverse=True)
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])
        return bids, asks

    def take(self, side: str, price: Decimal, amount: Decimal) -> None:
        """Remove liquidity the user traded against (`side` "bids" or "asks")."""
        book = self.bids if side == "bids" else self.asks
        left = book.get(price, Decimal(0)) - amount
        if left > 0:
            book[price] = left
        else:
            book.pop(price, None)

    # ---- tape and stats -------------------------------------------------------------------------

    def record_trade(
        self, tid: int, ts_ms: int, price: Decimal, amount: Decimal, side: str
    ) -> None:
        """Print a trade on the tape and fold it into the 24h statistics.

        Tape times never go backwards, even when ticks come faster than the clock's resolution.
        """
        if self.tape:
            ts_ms = max(ts_ms, self.tape[-1].ts_ms)
        trade = PublicTrade(tid=tid, ts_ms=ts_ms, price=price, amount=amount, side=side)
        self.tape.append(trade)
        self.last = price
        self.high_24h = max(self.high_24h, price)
        self.low_24h = min(self.low_24h, price)
        self.volume_24h += amount
        self.quote_volume_24h += amount * price

    # ---- one tick -------------------------------------------------------------------------------

    def advance(self, now_ms: int, next_tid: Callable[[], int]) -> list[PublicTrade]:
        """Move the mid one tick, print the trades of other participants, rebuild the book.

        Returns this tick's trades; the matching engine fills resting user orders from them.
        """
        old_bids, old_asks = dict(self.bids), dict(self.asks)
        old_bid, old_ask = self.best_bid(), self.best_ask()
        forced_volume = self._forced_volume
        if self._forced_mid is not None:
            self.mid = self._forced_mid
        else:
            std_steps = float(self.mid) * self.spec.volatility_bps / 1e4 / float(self.step)
            move = round(self._walk.gauss(0.0, std_steps))
            self.mid = max(self.mid + move * self.step, self.step * 20)
        self._forced_mid = None
        self._forced_volume = None
        self.timestamp_ms = now_ms
        self._rebuild_book(perturb=4)
        new_bid, new_ask = self.best_bid(), self.best_ask()

        trades: list[tuple[Decimal, Decimal, str]] = []
        if new_bid < old_bid:
            swept = sorted((p for p in old_bids if p > new_bid), reverse=True)
            trades += self._sweep(swept, old_bids, new_bid, "sell", forced_volume)
        elif new_ask > old_ask:
            swept = sorted(p for p in old_asks if p < new_ask)
            trades += self._sweep(swept, old_asks, new_ask, "buy", forced_volume)
        elif forced_volume is not None:
            trades.append((new_bid, forced_volume, "sell"))
        # A forced volume is the whole tick's trading: no random noise trades on top of it.
        noise = self._rng.choice((0, 0, 1, 1, 2)) if forced_volume is None else 0
        for _ in range(noise):
            if self._rng.random() < 0.5:
                trades.append((new_bid, self._amount(self._rng.expovariate(2.0)), "sell"))
            else:
                trades.append((new_ask, self._amount(self._rng.expovariate(2.0)), "buy"))

        printed: list[PublicTrade] = []
        for offset, (price, amount, side) in enumerate(trades):
            self.record_trade(next_tid(), now_ms + offset, price, amount, side)
            printed.append(self.tape[-1])
        return printed

    def _sweep(
        self,
        swept: list[Decimal],
        old_book: dict[Decimal, Decimal],
        new_best: Decimal,
        side: str,
        forced_volume: Decimal | None,
    ) -> list[tuple[Decimal, Decimal, str]]:
        # The move consumed the old levels it passed, then traded some more at the new best.
        if forced_volume is not None:
            return [(new_best, forced_volume, side)] if forced_volume > 0 else []
        out = [(price, old_book[price], side) for price in swept[: MAX_SWEEP_TRADES - 1]]
        rest = swept[MAX_SWEEP_TRADES - 1 :]
        if rest:
            out.append((rest[-1], sum((old_book[p] for p in rest), Decimal(0)), side))
        out.append((new_best, self._amount(self._rng.expovariate(1.0)), side))
        return out


Levels = list[tuple[Decimal, Decimal]]


def merge_book(
    pm: PairMarket,
    user_bids: dict[Decimal, Decimal],
    user_asks: dict[Decimal, Decimal],
    depth: int = BOOK_DEPTH,
) -> tuple[Levels, Levels]:
    """The public book: synthetic levels plus the user's resting orders, top `depth` per side."""
    bids = dict(pm.bids)
    for price, amount in user_bids.items():
        bids[price] = bids.get(price, Decimal(0)) + amount
    asks = dict(pm.asks)
    for price, amount in user_asks.items():
        asks[price] = asks.get(price, Decimal(0)) + amount
    top_bids = sorted(bids.items(), key=lambda kv: kv[0], reverse=True)[:depth]
    top_asks = sorted(asks.items(), key=lambda kv: kv[0])[:depth]
    return top_bids, top_asks


class Market:
    """Every pair's market, seeded from one integer."""

    def __init__(self, seed: int, now_ms: int, pairs: tuple[PairSpec, ...] = PAIRS) -> None:
        master = random.Random(seed)
        self.pairs: dict[str, PairMarket] = {}
        for spec in pairs:
            walk_seed = master.getrandbits(64)
            book_seed = master.getrandbits(64)
            self.pairs[spec.name] = PairMarket(spec, walk_seed, book_seed, now_ms)
        self._tid = FIRST_PUBLIC_TRADE_ID + master.randrange(1_000_000)
        self._tid_rng = random.Random(master.getrandbits(64))
        self.ticks = 0

    def next_trade_id(self) -> int:
        """A fresh public trade id (increasing, with gaps, as ids shared by all pairs look)."""
        self._tid += self._tid_rng.randint(1, 97)
        return self._tid

    def pair(self, name: str) -> PairMarket:
        """The market of one listed pair (KeyError if not listed)."""
        return self.pairs[name]

    def advance(self, now_ms: int) -> dict[str, list[PublicTrade]]:
        """One tick for every pair; returns each pair's new trades."""
        self.ticks += 1
        return {name: pm.advance(now_ms, self.next_trade_id) for name, pm in self.pairs.items()}
