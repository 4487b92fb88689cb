"""Exchange trading rules for a pair and the one quantizer every order goes through.

Rules come from `/api/v2/server/exchangeinfo` at runtime, never hard-coded. Where the reference is
unsure (must a price be a multiple of tickSize? must it be an integer when hasFraction is false?)
we take the stricter reading: a price that satisfies the strict rule also satisfies the loose one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache
from math import lcm

from btcbot_engine.domain.money import ZERO
from btcbot_engine.domain.orders import Side


class RuleViolation(ValueError):
    """An order that cannot be made valid for the pair's rules; `rule` names which one."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """One pair's rules. Scales are decimal places; prices and amounts are quote currency."""

    symbol: str
    base: str
    quote: str
    status: str
    price_scale: int
    quantity_scale: int
    tick_size: Decimal
    min_notional: Decimal
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    has_fraction: bool = True
    order_methods: frozenset[str] = field(default_factory=lambda: frozenset({"LIMIT", "MARKET"}))

    @property
    def trading(self) -> bool:
        return self.status.upper() == "TRADING"

    @property
    def price_step(self) -> Decimal:
        """The smallest price increment that satisfies tick size, scale and hasFraction at once."""
        return _price_step(self.price_scale, self.tick_size, self.has_fraction)

    @property
    def quantity_step(self) -> Decimal:
        return scale_unit(self.quantity_scale)

    def accepts(self, method: str) -> bool:
        """Whether the pair lists `method` (any case, e.g. "LIMIT") among its order methods."""
        methods = self.order_methods
        if not isinstance(methods, frozenset):  # an untyped caller's set: not hashable
            return method.upper() in {m.upper() for m in methods}
        return method.upper() in _upper_methods(methods)


# The derived values below are asked for on every order (quantizer, paper exchange, fill model)
# and depend only on a few hashable fields, so they are computed once per distinct input: the
# least common multiple alone costs a few microseconds. Results depend on values only (Decimal
# equality), so a cached entry is exact for every equal input.


@lru_cache(maxsize=256)
def scale_unit(scale: int) -> Decimal:
    """1 at the given scale: 0.01 for 2."""
    return Decimal(1).scaleb(-scale)


@lru_cache(maxsize=256)
def _price_step(price_scale: int, tick_size: Decimal, has_fraction: bool) -> Decimal:
    steps = [scale_unit(price_scale)]
    if tick_size > 0:
        steps.append(tick_size)
    if not has_fraction:
        steps.append(Decimal(1))
    return _lcm_decimal(steps)


@lru_cache(maxsize=256)
def _upper_methods(methods: frozenset[str]) -> frozenset[str]:
    return frozenset(m.upper() for m in methods)


def _lcm_decimal(steps: list[Decimal]) -> Decimal:
    # Work at a common scale so the least common multiple can be taken on integers.
    exponent = min(s.normalize().as_tuple().exponent for s in steps)
    exponent = min(int(exponent), 0)
    ints = [int(s.scaleb(-exponent)) for s in steps]
    return Decimal(lcm(*ints)).scaleb(exponent)


@dataclass(frozen=True, slots=True)
class QuantizedOrder:
    """A limit order that satisfies every rule it was checked against."""

    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


def quantize_price(rules: SymbolRules, side: Side, price: Decimal) -> Decimal:
    """Round a price onto the price step toward the passive side (buy down, sell up)."""
    step = rules.price_step
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    units = (price / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(scale_unit(rules.price_scale))


def quantize_quantity(rules: SymbolRules, quantity: Decimal) -> Decimal:
    """Truncate a quantity to the pair's quantity scale (never round up: we might not own it)."""
    return quantity.quantize(rules.quantity_step, rounding=ROUND_FLOOR)


def quantize_limit(
    rules: SymbolRules, side: Side, price: Decimal, quantity: Decimal
) -> QuantizedOrder:
    """Quantize a limit order and check it; raise RuleViolation naming the rule it breaks."""
    if not rules.trading:
        raise RuleViolation("status", f"{rules.symbol} is {rules.status}, not TRADING")
    if not rules.accepts("LIMIT"):
        raise RuleViolation("order_method", f"{rules.symbol} does not accept limit orders")
    if price <= ZERO:
        raise RuleViolation("price_positive", f"price {price} must be above zero")
    if quantity <= ZERO:
        raise RuleViolation("quantity_positive", f"quantity {quantity} must be above zero")
    q_price = quantize_price(rules, side, price)
    q_qty = quantize_quantity(rules, quantity)
    if q_price <= ZERO:
        raise RuleViolation("price_positive", f"price {price} rounds to {q_price}")
    if q_qty <= ZERO:
        raise RuleViolation(
            "quantity_scale", f"quantity {quantity} truncates to 0 at {rules.quantity_scale} dp"
        )
    if rules.min_price is not None and q_price < rules.min_price:
        raise RuleViolation(
            "min_price", f"price {q_price} is below the band floor {rules.min_price}"
        )
    if rules.max_price is not None and q_price > rules.max_price:
        raise RuleViolation(
            "max_price", f"price {q_price} is above the band ceiling {rules.max_price}"
        )
    notional = q_price * q_qty
    if notional < rules.min_notional:
        raise RuleViolation(
            "min_notional",
            f"notional {notional} {rules.quote} is below the minimum {rules.min_notional}",
        )
    return QuantizedOrder(symbol=rules.symbol, side=side, price=q_price, quantity=q_qty)


def quantize_market_buy(rules: SymbolRules, quote_amount: Decimal) -> Decimal:
    """A market BUY sends the quote amount to spend; scale it like a price and check the minimum."""
    if not rules.trading:
        raise RuleViolation("status", f"{rules.symbol} is {rules.status}, not TRADING")
    if not rules.accepts("MARKET"):
        raise RuleViolation("order_method", f"{rules.symbol} does not accept market orders")
    amount = quote_amount.quantize(scale_unit(rules.price_scale), rounding=ROUND_FLOOR)
    if amount < rules.min_notional or amount <= ZERO:
        raise RuleViolation(
            "min_notional",
            f"spend {amount} {rules.quote} is below the minimum {rules.min_notional}",
        )
    return amount
