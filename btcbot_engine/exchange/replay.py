"""The replay exchange: a recorded (or synthetic) dataset as the market, simulated fills.

`ReplayExchange` is the paper exchange with two differences, both about time:

- Its public data comes from a `ReplayMarket` (the dataset at a simulated clock), not the network.
- Orders fill on the bars that follow them, not on the book at submit. An order sent at T
  becomes active at T + latency (plus seeded jitter) and first trades on the first bar opening
  at or after that. On that first bar a crossing order (a buy with limit >= the bar's open, a
  sell with limit <= it) takes at the open, moved by the slippage model, as a taker; after that,
  or if it did not cross, it rests and fills only when a later bar trades THROUGH its limit
  (low < limit for a buy), at the limit, as a maker. Each bar lets orders take at most
  `participation` of its volume per side, shared by price priority: partial fills by volume.
  Fees and tax are the paper exchange's (`FeeSchedule`, cumulative rounding per order).

Everything else (validation with BTCTurk's reject reasons, funds locked at submit, statuses,
asynchronous cancels that apply at the next `advance()`, no keys) is inherited unchanged, and
the fill arithmetic is `fill_model.py`'s, shared with paper trading.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.market import OrderBook, normalize_symbol
from btcbot_engine.domain.orders import ExchangeOrder, OrderMethod, Side
from btcbot_engine.exchange.fill_model import (
    FeeSchedule,
    FillSlice,
    Liquidity,
    match_resting_on_bar,
    match_taker_on_bar,
)
from btcbot_engine.exchange.paper import CANCELED, CLOSED, PaperExchange, _Order
from btcbot_engine.replay.market import ReplayMarket
from btcbot_engine.replay.series import SymbolSeries

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)


class ReplayExchange(PaperExchange):
    """`ExchangePort` over a dataset; see the module docstring for the fill rules."""

    def __init__(
        self,
        market: ReplayMarket,
        *,
        balances: dict[str, Decimal],
        fees: FeeSchedule = FeeSchedule(),  # noqa: B008 - frozen, immutable default
        participation: Decimal = ONE,
        slippage_bps: Decimal = ZERO,
        latency_ms: int = 0,
        latency_jitter_ms: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(
            market,
            balances=balances,
            fees=fees,
            clock_ms=market.clock,
            participation=participation,
            max_book_age_ms=2**62,  # recorded books are judged by the engine's own age check
            rules_ttl_ms=2**62,  # a dataset's rules never change
        )
        if slippage_bps < 0 or latency_ms < 0 or latency_jitter_ms < 0:
            raise ValueError("slippage and latency must not be negative")
        self.replay = market
        self._slippage = slippage_bps / BPS
        self._latency_ms = latency_ms
        self._jitter_ms = latency_jitter_ms
        self._rng = random.Random(f"replay-latency:{seed}")
        self._open: dict[int, _Order] = {}  # open orders, oldest first
        self._next_bar: dict[int, int] = {}  # order id -> first bar it has not traded on yet
        self._rested: set[int] = set()  # orders that saw a bar: maker from then on
        self._fill_ts: dict[str, list[int]] = {}
        self._steps: dict[str, Decimal] = {}
        self._fills_of: dict[str, list[Fill]] = {}

    # ---- reads served from indexes (the paper exchange scans everything) --------------------

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Open orders, oldest first."""
        pair = normalize_symbol(symbol) if symbol else None
        return [o.view() for o in self._open.values() if pair is None or o.symbol == pair]

    async def fills(self, symbol: str | None, *, since_ms: int | None = None) -> list[Fill]:
        """Our fills of one pair (None: every pair) at or after `since_ms`, oldest first."""
        if symbol is None:
            merged = [f for p in self._fills_of for f in await self.fills(p, since_ms=since_ms)]
            return sorted(merged, key=lambda f: (f.timestamp_ms, f.trade_id))
        pair = normalize_symbol(symbol)
        fills = self._fills_of.get(pair)
        if not fills:
            return []
        start = 0 if since_ms is None else bisect_left(self._fill_ts[pair], since_ms)
        return fills[start:]

    @property
    def busy(self) -> bool:
        """True while any order is open (the runner must step every bar then)."""
        return bool(self._open)

    @property
    def fill_count(self) -> int:
        """Fills made so far."""
        return len(self._fills)

    def fills_since(self, index: int) -> list[Fill]:
        """Every fill made after the first `index` ones, in the order they happened."""
        return self._fills[index:]

    def totals(self) -> dict[str, Decimal]:
        """Each asset's total balance (free + locked), without building Balance objects."""
        free, locked = self._free, self._locked
        return {a: free.get(a, ZERO) + locked.get(a, ZERO) for a in sorted(set(free) | set(locked))}

    # ---- time --------------------------------------------------------------------------------

    def _match_on_submit(self, order: _Order, book: OrderBook, now: int) -> None:
        # Nothing trades at submit: the order waits for the first bar after its latency.
        delay = self._latency_ms
        if self._jitter_ms:
            delay += self._rng.randint(0, self._jitter_ms)
        self._open[order.order_id] = order
        self._next_bar[order.order_id] = self.replay.first_bar_from(order.symbol, now + delay)

    async def advance(self) -> list[Fill]:
        """Apply accepted cancels, then trade open orders on every bar completed by now.

        Returns the fills made (oldest first).
        """
        if not self._open:
            return []  # nothing rests, nothing to cancel: the common case between trades
        async with self._lock:
            now = self._clock_ms()
            for order in [o for o in self._open.values() if o.cancel_pending]:
                if order.status.is_open:
                    order.status = CANCELED
                    order.updated_ms = now
                    self._release(order)
                    self._forget(order.order_id)
            before = len(self._fills)
            by_pair: dict[str, list[_Order]] = {}
            for order in self._open.values():
                by_pair.setdefault(order.symbol, []).append(order)
            for pair in sorted(by_pair):
                self._trade_pair(pair, by_pair[pair], now)
            self._unreported = []
            return self._fills[before:]

    def _forget(self, oid: int) -> None:
        self._open.pop(oid, None)
        self._next_bar.pop(oid, None)
        self._rested.discard(oid)

    def _trade_pair(self, pair: str, orders: list[_Order], now: int) -> None:
        last = self.replay.last_bar(pair, now)
        first = min(self._next_bar[o.order_id] for o in orders)
        if last < first:
            return  # no new bar has closed since these orders were last traded
        series = self.replay.series[pair]
        # Bar by bar, every order that may trade on it: fills come out in time order.
        for i in range(first, last + 1):
            active = [o for o in orders if o.status.is_open and self._next_bar[o.order_id] <= i]
            if active:
                self._trade_bar(series, i, active)
        for o in orders:
            if o.status.is_open:
                self._next_bar[o.order_id] = max(self._next_bar[o.order_id], last + 1)
            else:
                self._forget(o.order_id)

    def _trade_bar(self, series: SymbolSeries, i: int, orders: list[_Order]) -> None:
        c = series.candles
        ts = c.ts[i]
        open_ = series.price(c.open[i])
        volume = series.qty(c.volume[i]) * self._participation
        pool = {Side.BUY: volume, Side.SELL: volume}
        if self._slippage:
            step = self._steps.get(series.symbol)
            if step is None:
                step = self._steps[series.symbol] = series.rules.price_step
            buy_at = _on_step(open_ * (ONE + self._slippage), step, up=True)
            sell_at = _on_step(open_ * (ONE - self._slippage), step, up=False)
        else:
            buy_at = sell_at = open_
        range_: tuple[Decimal, Decimal] | None = None  # (low, high), read only if needed
        if len(orders) > 1:
            orders = sorted(orders, key=_priority)
        for order in orders:
            fresh = order.order_id not in self._rested
            self._rested.add(order.order_id)
            side = order.side
            taker_price = buy_at if side is Side.BUY else sell_at
            if order.method is OrderMethod.MARKET:
                pieces = self._market_slices(order, taker_price, pool[side])
            else:
                pieces = []
                if fresh:
                    pieces = match_taker_on_bar(
                        self._paper_view(order),
                        taker_price,
                        pool[side],
                        ONE,
                        self._fees,
                        quantity_step=order.quantity_step,
                    )
                if not pieces:
                    if range_ is None:
                        range_ = (series.price(c.low[i]), series.price(c.high[i]))
                    pieces = self._maker(order, range_[0], range_[1], pool[side])
            for piece in pieces:
                pool[side] -= piece.quantity
                self._apply(order, piece, ts)
                self._index(self._fills[-1])
            if order.method is OrderMethod.MARKET:
                # A market order never rests: what one bar's volume cannot fill is dropped.
                order.status = CLOSED if pieces and _used_up(order) else CANCELED
                order.updated_ms = ts
                self._release(order)

    def _maker(self, order: _Order, low: Decimal, high: Decimal, pool: Decimal) -> list[FillSlice]:
        if pool <= ZERO:
            return []
        return match_resting_on_bar(
            self._paper_view(order), low, high, pool, ONE, self._fees,
            quantity_step=order.quantity_step,
        )  # fmt: skip

    def _market_slices(self, order: _Order, price: Decimal, pool: Decimal) -> list[FillSlice]:
        if pool <= ZERO or price <= ZERO:
            return []
        wanted = order.left / price if order.quote_sized else order.left
        quantity = _truncate(min(wanted, pool), order.quantity_step)
        if quantity <= ZERO:
            return []
        fee, tax, exact = self._fees.charge(price * quantity, Liquidity.TAKER, order.fee_accrued)
        return [FillSlice(price, quantity, Liquidity.TAKER, fee, tax, exact)]

    def _index(self, fill: Fill) -> None:
        fills = self._fills_of.get(fill.symbol)
        if fills is None:  # (setdefault would build an empty list on every fill)
            fills = self._fills_of[fill.symbol] = []
            self._fill_ts[fill.symbol] = []
        fills.append(fill)
        self._fill_ts[fill.symbol].append(fill.timestamp_ms)


def _priority(o: _Order) -> tuple[int, Decimal, int]:
    """Market orders first, then the better limit, then the older order."""
    if o.method is OrderMethod.MARKET:
        return (0, ZERO, o.order_id)
    return (1, -o.price if o.side is Side.BUY else o.price, o.order_id)


def _on_step(price: Decimal, step: Decimal, *, up: bool) -> Decimal:
    units = (price / step).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return units * step


def _truncate(quantity: Decimal, step: Decimal) -> Decimal:
    return (quantity / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _used_up(order: _Order) -> bool:
    if order.quote_sized:
        return order.left < order.price * order.quantity_step  # dust: cannot buy one more step
    return order.left <= ZERO
