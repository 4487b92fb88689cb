"""The strategy interface and the read-only view of the world a strategy decides from.

A strategy turns a `StrategyContext` into `Intent`s: limit orders with a price and a base
quantity. It never talks to the exchange and never quantizes (the OMS does, with the pair's
rules); risk and the gates decide what actually happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Any, Protocol

from btcbot_engine.domain.intents import Intent, IntentKind
from btcbot_engine.domain.market import Ticker
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.universe import spread_bps

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10000)


def _empty() -> Mapping[Any, Any]:
    # A read-only empty mapping, so a default context cannot be mutated by a strategy.
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PositionView:
    """What we hold of one pair's base asset and its average cost per unit (quote, before fees)."""

    symbol: str
    quantity: Decimal
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class OpenOrdersView:
    """How many of our orders rest on one pair, per side."""

    buys: int = 0
    sells: int = 0

    @property
    def count(self) -> int:
        return self.buys + self.sells


# Frozen, so one shared instance serves every "no open orders" answer.
_NO_OPEN_ORDERS = OpenOrdersView()
# Reading a member off its Enum class is several times slower than reading a global (3.11).
_SELL, _REDUCE = Side.SELL, IntentKind.REDUCE


@dataclass(frozen=True, slots=True)
class FeeRates:
    """Fee rates as fractions (0.0009 = 0.09 %). Defaults: BTCTurk's published base tier."""

    maker: Decimal = Decimal("0.0005")
    taker: Decimal = Decimal("0.0009")

    @property
    def worst(self) -> Decimal:
        """The rate to plan with: a passive order can still end up taking if the book moves."""
        return max(self.maker, self.taker)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Everything a strategy may look at for one cycle. Read-only; built by the engine.

    - `symbols`: the included universe, in universe order.
    - `positions`: only pairs we hold; a missing symbol means flat.
    - `quote_balances`: FREE balance per quote asset (e.g. {"TRY": ..., "USDT": ...}).
    - `budget_per_order_try`: the notional one entry may use, in TRY; for other quotes it is
      converted with `quote_to_try` (TRY itself is always 1). No rate -> no entries there.
    - `history`: recent mid prices per symbol, oldest first; the engine appends this cycle's mid
      before calling strategies.
    """

    now_ms: int
    symbols: tuple[str, ...]
    tickers: Mapping[str, Ticker]
    rules: Mapping[str, SymbolRules]
    positions: Mapping[str, PositionView] = field(default_factory=_empty)
    open_orders: Mapping[str, OpenOrdersView] = field(default_factory=_empty)
    quote_balances: Mapping[str, Decimal] = field(default_factory=_empty)
    fees: FeeRates = field(default_factory=FeeRates)
    budget_per_order_try: Decimal = ZERO
    quote_to_try: Mapping[str, Decimal] = field(default_factory=_empty)
    history: Mapping[str, Sequence[Decimal]] = field(default_factory=_empty)

    def budget_in_quote(self, quote: str) -> Decimal | None:
        """The per-order budget in `quote` currency, or None when it cannot be converted."""
        if quote.upper() == "TRY":
            return self.budget_per_order_try
        rate = self.quote_to_try.get(quote.upper())
        if rate is None or rate <= 0:
            return None
        return self.budget_per_order_try / rate

    def open_on(self, symbol: str) -> OpenOrdersView:
        """Our open orders on `symbol` (none when the engine reported nothing)."""
        return self.open_orders.get(symbol) or _NO_OPEN_ORDERS


class Strategy(Protocol):
    """Anything with a name that proposes intents from a context."""

    name: str

    def propose(self, ctx: StrategyContext) -> list[Intent]:
        """Return the intents for this cycle (may be empty). Must not do I/O."""
        ...


# --- Helpers shared by the strategies --------------------------------------------------------


def intent_key(strategy: str, symbol: str, side: Side, purpose: str) -> str:
    """The stable key the OMS derives ids from: same wish in a cycle -> same key."""
    return f"{strategy}:{symbol}:{side.value}:{purpose}"


def usable_ticker(ctx: StrategyContext, symbol: str, max_spread_bps: Decimal) -> Ticker | None:
    """The symbol's ticker if it is safe to price from: present, two-sided, not crossed, and
    with a spread no wider than `max_spread_bps`. A wide spread often means thin or broken data,
    so every strategy stands aside rather than guess a price."""
    ticker = ctx.tickers.get(symbol)
    if ticker is None or ticker.crossed:
        return None
    bps = spread_bps(ticker)
    if bps is None or bps > max_spread_bps:
        return None
    return ticker


def held_position(ctx: StrategyContext, symbol: str, price: Decimal) -> PositionView | None:
    """The position if it is sellable; dust below the pair's minimum notional counts as flat
    (it could not be sold anyway, and treating it as a position would block entries forever)."""
    pos = ctx.positions.get(symbol)
    if pos is None or pos.quantity <= 0:
        return None
    rules = ctx.rules.get(symbol)
    if rules is not None and pos.quantity * price < rules.min_notional:
        return None
    return pos


def round_quantity_down(ctx: StrategyContext, symbol: str, quantity: Decimal) -> Decimal:
    """Pre-round a quantity down to the pair's scale for readable logs (the OMS re-quantizes)."""
    rules = ctx.rules.get(symbol)
    if rules is None:
        return quantity
    return quantity.quantize(rules.quantity_step, rounding=ROUND_FLOOR)


def entry_intent(
    ctx: StrategyContext, strategy: str, symbol: str, ticker: Ticker, reason: str
) -> Intent | None:
    """A passive BUY at the best bid for the per-order budget, shrunk to the free quote balance
    (keeping room for the fee); None when that cannot reach the pair's minimum notional."""
    rules = ctx.rules.get(symbol)
    if rules is None or ticker.bid <= 0:
        return None
    budget = ctx.budget_in_quote(rules.quote)
    if budget is None or budget <= 0:
        return None
    free = ctx.quote_balances.get(rules.quote, ZERO)
    # Fees are charged on top of a TRY buy (BTCTurk FAQ): keep them free or the order is refused.
    notional = min(budget, free / (ONE + ctx.fees.worst))
    quantity = round_quantity_down(ctx, symbol, notional / ticker.bid)
    if quantity <= 0 or quantity * ticker.bid < rules.min_notional:
        return None
    return Intent(
        strategy=strategy,
        symbol=symbol,
        side=Side.BUY,
        kind=IntentKind.OPEN,
        price=ticker.bid,
        quantity=quantity,
        reason=reason,
        key=intent_key(strategy, symbol, Side.BUY, "entry"),
    )


def exit_intent(
    strategy: str, position: PositionView, price: Decimal, reason: str, purpose: str
) -> Intent:
    """A SELL of the whole position at `price` (a REDUCE)."""
    symbol = position.symbol
    # Positional (strategy, symbol, side, kind, price, quantity, reason, key): cheaper than
    # keywords, and an exit is built on every cross down.
    return Intent(
        strategy,
        symbol,
        _SELL,
        _REDUCE,
        price,
        position.quantity,
        reason,
        intent_key(strategy, symbol, _SELL, purpose),
    )
