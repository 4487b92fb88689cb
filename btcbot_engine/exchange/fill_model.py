"""The simulated-fill model shared by the paper exchange and the replay (backtest) exchange.

Pure functions over domain types: no I/O, no clocks, Decimal only. The model never knows where
its market data came from (a live public book, a recorded book, a candle), so paper trading and
backtests fill orders by exactly the same rules.

The rules, chosen to flatter a strategy as little as possible:

- A resting limit order fills only when the market trades THROUGH its price, never on a touch:
  a BUY at P fills against asks strictly below P, a SELL at P against bids strictly above P.
  Sitting at the touch says nothing about our place in the queue, so we assume the worst (last).
- The fillable quantity is the opposite depth strictly better than P (optionally scaled by a
  `participation` share), capped by what is left of the order. The fill price is the order's own
  limit price and the fee is the maker fee: the order was resting.
- An order that crosses at submission (a buy at or above the best ask) is marketable: it takes
  the book's levels up to its limit at the levels' prices, as taker; the rest rests.
- A market BUY spends a quote amount (BTCTurk's rule) and a market SELL sells base, both walking
  the book no further than 5% from the best opposite price at submission (reference 3.8).
- Fees are in the quote currency; tax is `tax_share` of the fee (18% in the reference example).

Fee rounding: the exchange reports fee and tax with 8 decimals. Rounding every fill on its own
(half up) can make a many-fill order pay more than its fee reserve at submit, which would push a
balance below zero. So the rounding is cumulative per order: an order's total fee is always its
exact accrued fee rounded half up to 8 dp, and each fill is charged the increase. A single fill
pays exactly round(notional * rate), and the sum over an order's fills never drifts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from enum import StrEnum

from btcbot_engine.domain.market import BookLevel, OrderBook
from btcbot_engine.domain.orders import Side

ZERO = Decimal(0)
ONE = Decimal(1)
EIGHT_DP = Decimal("0.00000001")
MARKET_BAND = Decimal("0.05")  # market orders never fill more than 5% from the best price


def round8(value: Decimal) -> Decimal:
    """Round to 8 decimals half up, as the exchange's fee and tax strings are."""
    return value.quantize(EIGHT_DP, rounding=ROUND_HALF_UP)


def ceil8(value: Decimal) -> Decimal:
    """Round up (away from zero) to 8 decimals: used for reserves, which must never fall short."""
    return value.quantize(EIGHT_DP, rounding=ROUND_UP)


class Liquidity(StrEnum):
    """Whether a fill added liquidity (resting order, maker fee) or took it (taker fee)."""

    MAKER = "maker"
    TAKER = "taker"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of the quote notional, and tax as a share of the fee."""

    maker: Decimal = Decimal("0.0005")
    taker: Decimal = Decimal("0.0009")
    tax_share: Decimal = Decimal("0.18")

    def rate(self, liquidity: Liquidity) -> Decimal:
        """The fee rate for a maker or a taker fill."""
        return self.maker if liquidity is Liquidity.MAKER else self.taker

    def charge(
        self, notional: Decimal, liquidity: Liquidity, accrued: Decimal = ZERO
    ) -> tuple[Decimal, Decimal, Decimal]:
        """(fee, tax, exact fee) for one fill of `notional` quote.

        `accrued` is the order's exact (unrounded) fee before this fill; fee and tax are the
        increase of the order's rounded totals, so rounding never accumulates (module docstring).
        """
        exact = notional * self.rate(liquidity)
        before, after = round8(accrued), round8(accrued + exact)
        fee = after - before
        tax = round8(after * self.tax_share) - round8(before * self.tax_share)
        return fee, tax, exact

    def buy_reserve(self, notional: Decimal) -> Decimal:
        """Quote to lock for a buy of up to `notional`: notional plus taker fee and tax, rounded up.

        Covers every fill sequence: fills happen at or below the limit, no rate exceeds the taker
        rate, and the cumulative rounding keeps the order's fee at round8(exact) <= ceil8(exact).
        """
        fee = ceil8(notional * self.taker)
        return notional + fee + ceil8(fee * self.tax_share)


@dataclass(frozen=True, slots=True)
class PaperOrder:
    """What the fill model needs to know about one limit order.

    `left_quantity` is base still open; `fee_accrued` is the order's exact fee so far (see the
    module docstring), zero for a new order.
    """

    side: Side
    price: Decimal
    left_quantity: Decimal
    fee_accrued: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class FillSlice:
    """One simulated execution: base `quantity` at `price`, with its fee and tax in quote.

    `fee_exact` is the unrounded fee, for the caller to add to the order's `fee_accrued`.
    """

    price: Decimal
    quantity: Decimal
    liquidity: Liquidity
    fee: Decimal
    tax: Decimal
    fee_exact: Decimal

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class Match:
    """Slices for one order and the book left after them (consumed depth removed)."""

    slices: tuple[FillSlice, ...]
    book: OrderBook

    @property
    def quantity(self) -> Decimal:
        return sum((s.quantity for s in self.slices), ZERO)


@dataclass(frozen=True, slots=True)
class MarketMatch:
    """The outcome of a market order.

    `left` is in the order's own unit (quote for a market buy, base for a market sell).
    `done` is True when the amount was used up (quote left over a market buy that cannot buy one
    more quantity step is dust and counts as used up); False when the 5% band or the book's
    depth stopped it, in which case the exchange drops the rest.
    """

    slices: tuple[FillSlice, ...]
    left: Decimal
    done: bool
    book: OrderBook


# ---- helpers ------------------------------------------------------------------------------------


def _truncate(quantity: Decimal, step: Decimal | None) -> Decimal:
    """Round a base quantity down onto the pair's quantity step (never fill more than exists)."""
    if step is None or quantity <= ZERO:
        return max(quantity, ZERO)
    return (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step


def _opposite(book: OrderBook, side: Side) -> tuple[BookLevel, ...]:
    # A buy trades against the asks, a sell against the bids.
    return book.asks if side is Side.BUY else book.bids


def _with_opposite(book: OrderBook, side: Side, levels: Sequence[BookLevel]) -> OrderBook:
    kept = tuple(level for level in levels if level.quantity > ZERO)
    return replace(book, asks=kept) if side is Side.BUY else replace(book, bids=kept)


def _through(side: Side, level_price: Decimal, limit: Decimal) -> bool:
    """Strictly better than the limit: the market traded through it, not just touched it."""
    return level_price < limit if side is Side.BUY else level_price > limit


def _within(side: Side, level_price: Decimal, limit: Decimal) -> bool:
    """At or better than the limit: what a crossing (taker) order may take."""
    return level_price <= limit if side is Side.BUY else level_price >= limit


def scale_book(book: OrderBook, participation: Decimal) -> OrderBook:
    """The book with every level's quantity multiplied by `participation` (0 < p <= 1).

    We model taking only a share of the depth that traded through us; other participants at the
    same price exist too.
    """
    if participation == ONE:
        return book
    if not ZERO < participation <= ONE:
        raise ValueError(f"participation {participation} must be in (0, 1]")

    def scaled(levels: tuple[BookLevel, ...]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(lv.price, lv.quantity * participation) for lv in levels)

    return replace(book, bids=scaled(book.bids), asks=scaled(book.asks))


# ---- resting limit orders -----------------------------------------------------------------------


def _rest_one(
    order: PaperOrder, book: OrderBook, fees: FeeSchedule, quantity_step: Decimal | None
) -> Match:
    levels = list(_opposite(book, order.side))
    available = sum(
        (lv.quantity for lv in levels if _through(order.side, lv.price, order.price)), ZERO
    )
    quantity = _truncate(min(available, order.left_quantity), quantity_step)
    if quantity <= ZERO:
        return Match((), book)
    # Consume the depth from the best level inward, so another order matched against the same
    # snapshot cannot be filled by the same liquidity twice.
    need = quantity
    for i, lv in enumerate(levels):
        if need <= ZERO or not _through(order.side, lv.price, order.price):
            break
        used = min(need, lv.quantity)
        levels[i] = BookLevel(lv.price, lv.quantity - used)
        need -= used
    fee, tax, exact = fees.charge(order.price * quantity, Liquidity.MAKER, order.fee_accrued)
    piece = FillSlice(order.price, quantity, Liquidity.MAKER, fee, tax, exact)
    return Match((piece,), _with_opposite(book, order.side, levels))


def match_resting(
    order: PaperOrder,
    book: OrderBook,
    fees: FeeSchedule,
    *,
    participation: Decimal = ONE,
    quantity_step: Decimal | None = None,
) -> list[FillSlice]:
    """Fill one resting limit order against a book it is traded through; at most one slice.

    The slice is at the order's limit price, maker fee. `quantity_step` (the pair's quantity
    step) truncates the fillable quantity; participation can make it finer than the pair allows.
    """
    return list(_rest_one(order, scale_book(book, participation), fees, quantity_step).slices)


def match_resting_book(
    orders: Sequence[PaperOrder],
    book: OrderBook,
    fees: FeeSchedule,
    *,
    participation: Decimal = ONE,
    quantity_step: Decimal | None = None,
) -> tuple[list[list[FillSlice]], OrderBook]:
    """Fill several resting orders of one pair against one snapshot, sharing its depth.

    Priority as on an exchange: better price first, then the given order (pass oldest first).
    Returns the slices per input order (same positions) and the book with the used depth removed.
    """
    current = scale_book(book, participation)
    result: list[list[FillSlice]] = [[] for _ in orders]

    def priority(i: int) -> tuple[int, Decimal, int]:
        o = orders[i]
        return (0 if o.side is Side.BUY else 1, -o.price if o.side is Side.BUY else o.price, i)

    for i in sorted(range(len(orders)), key=priority):
        matched = _rest_one(orders[i], current, fees, quantity_step)
        result[i] = list(matched.slices)
        current = matched.book
    return result, current


def match_resting_on_bar(
    order: PaperOrder,
    low: Decimal,
    high: Decimal,
    volume: Decimal,
    participation: Decimal,
    fees: FeeSchedule,
    *,
    quantity_step: Decimal | None = None,
) -> list[FillSlice]:
    """The candle variant for replay: a BUY at P fills if low < P, a SELL if high > P.

    Quantity is capped by `participation * volume` (the bar's base volume) and by what is left;
    price is the limit, maker fee. A bar that only touches P (low == P) does not fill.
    """
    if not ZERO < participation <= ONE:
        raise ValueError(f"participation {participation} must be in (0, 1]")
    traded_through = low < order.price if order.side is Side.BUY else high > order.price
    if not traded_through:
        return []
    quantity = _truncate(min(order.left_quantity, volume * participation), quantity_step)
    if quantity <= ZERO:
        return []
    fee, tax, exact = fees.charge(order.price * quantity, Liquidity.MAKER, order.fee_accrued)
    return [FillSlice(order.price, quantity, Liquidity.MAKER, fee, tax, exact)]


def match_taker_on_bar(
    order: PaperOrder,
    open_price: Decimal,
    volume: Decimal,
    participation: Decimal,
    fees: FeeSchedule,
    *,
    quantity_step: Decimal | None = None,
) -> list[FillSlice]:
    """The candle variant for an order that arrives before a bar opens and crosses its first
    print: a BUY with limit >= `open_price` (a SELL with limit <= it) takes at `open_price`,
    taker fee, capped by `participation * volume` and by what is left. `open_price` is the bar's
    open already moved by any slippage the caller models. Otherwise nothing (the order rests).
    """
    if not ZERO < participation <= ONE:
        raise ValueError(f"participation {participation} must be in (0, 1]")
    if not _within(order.side, open_price, order.price):
        return []
    quantity = _truncate(min(order.left_quantity, volume * participation), quantity_step)
    if quantity <= ZERO:
        return []
    fee, tax, exact = fees.charge(open_price * quantity, Liquidity.TAKER, order.fee_accrued)
    return [FillSlice(open_price, quantity, Liquidity.TAKER, fee, tax, exact)]


# ---- orders that take liquidity -----------------------------------------------------------------


def is_marketable(side: Side, price: Decimal, book: OrderBook) -> bool:
    """A limit order crosses at submission: a buy at or above the best ask (sell mirrored)."""
    levels = _opposite(book, side)
    return bool(levels) and _within(side, levels[0].price, price)


def match_marketable(
    order: PaperOrder,
    book: OrderBook,
    fees: FeeSchedule,
    *,
    quantity_step: Decimal | None = None,
) -> Match:
    """Take the book up to the order's limit at the levels' own prices (taker), at submission.

    Returns no slices when the order does not cross. What is left of the order rests at its
    limit and later fills only by `match_resting`.
    """
    levels = list(_opposite(book, order.side))
    left = order.left_quantity
    accrued = order.fee_accrued
    slices: list[FillSlice] = []
    for i, lv in enumerate(levels):
        if left <= ZERO or not _within(order.side, lv.price, order.price):
            break
        take = _truncate(min(left, lv.quantity), quantity_step)
        if take <= ZERO:
            continue  # a level thinner than one quantity step: nothing to take there
        fee, tax, exact = fees.charge(lv.price * take, Liquidity.TAKER, accrued)
        slices.append(FillSlice(lv.price, take, Liquidity.TAKER, fee, tax, exact))
        accrued += exact
        left -= take
        levels[i] = BookLevel(lv.price, lv.quantity - take)
    return Match(tuple(slices), _with_opposite(book, order.side, levels))


def market_bound(side: Side, book: OrderBook, band: Decimal = MARKET_BAND) -> Decimal | None:
    """The worst price a market order may reach: best opposite price -/+ `band`; None if empty."""
    levels = _opposite(book, side)
    if not levels:
        return None
    best = levels[0].price
    return best * (ONE + band) if side is Side.BUY else best * (ONE - band)


def match_market(
    side: Side,
    amount: Decimal,
    book: OrderBook,
    fees: FeeSchedule,
    *,
    quantity_step: Decimal | None = None,
    band: Decimal = MARKET_BAND,
) -> MarketMatch:
    """Fill a market order by walking the opposite book within `band` of its best price (taker).

    A BUY's `amount` is the quote to spend (BTCTurk's rule); a SELL's is base to sell.
    """
    bound = market_bound(side, book, band)
    if bound is None:
        return MarketMatch((), amount, False, book)
    levels = list(_opposite(book, side))
    left = amount
    accrued = ZERO
    slices: list[FillSlice] = []
    done = False
    for i, lv in enumerate(levels):
        if not _within(side, lv.price, bound):
            break
        if lv.quantity <= ZERO:
            continue
        if side is Side.BUY:
            wanted = _truncate(left / lv.price, quantity_step)
            if wanted <= ZERO:
                # The quote left cannot buy one step here, and later levels cost more: used up.
                done = True
                break
        else:
            wanted = left
        take = min(wanted, lv.quantity)
        fee, tax, exact = fees.charge(lv.price * take, Liquidity.TAKER, accrued)
        slices.append(FillSlice(lv.price, take, Liquidity.TAKER, fee, tax, exact))
        accrued += exact
        left -= lv.price * take if side is Side.BUY else take
        levels[i] = BookLevel(lv.price, lv.quantity - take)
        if take == wanted:
            # Limited by the order, not by the depth: a sell has nothing left, a buy's leftover
            # quote cannot buy one more step here (and later levels cost more): used up.
            done = True
            break
    return MarketMatch(tuple(slices), left, done, _with_opposite(book, side, levels))
