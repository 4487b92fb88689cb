"""The canary strategy: one passive limit BUY on one symbol, resting below the best bid.

It exists so the bounded live canary runs through the real cycle (market data -> risk -> gates
-> OMS) instead of a side path. The price is at least one price step below the best bid (so it
rests instead of taking), further when `offset_bps` asks for it, and the order is quantized to
the pair's rules here already, so risk judges exactly the notional that will be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from btcbot_engine.domain.intents import Intent, IntentKind
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.rules import (
    QuantizedOrder,
    RuleViolation,
    SymbolRules,
    quantize_limit,
    quantize_price,
    quantize_quantity,
)
from btcbot_engine.strategies.base import StrategyContext, intent_key

NAME = "canary"
BPS = Decimal(10000)


def canary_price(rules: SymbolRules, bid: Decimal, offset_bps: Decimal) -> Decimal:
    """The resting BUY price: one price step below `bid`, or `offset_bps` below it if lower."""
    target = min(bid - rules.price_step, bid * (1 - offset_bps / BPS))
    return quantize_price(rules, Side.BUY, target)


def canary_order(
    rules: SymbolRules, bid: Decimal, notional_try: Decimal, offset_bps: Decimal
) -> QuantizedOrder:
    """The canary's order for a TRY notional at the current bid; RuleViolation names the rule
    it cannot meet (for example min_notional when the notional is too small for the pair)."""
    if bid <= 0:
        raise RuleViolation("price_positive", f"no usable bid for {rules.symbol}")
    price = canary_price(rules, bid, offset_bps)
    if price <= 0:
        raise RuleViolation("price_positive", f"{offset_bps} bps below {bid} is not a price")
    quantity = quantize_quantity(rules, notional_try / price)
    return quantize_limit(rules, Side.BUY, price, quantity)


@dataclass(slots=True)
class CanaryStrategy:
    """Proposes the canary's one BUY while `armed`, when nothing of ours rests on the symbol.

    `purpose` makes the intent key (and so the client id) differ between canary cycles.
    """

    symbol: str = ""
    notional_try: Decimal = Decimal(0)
    offset_bps: Decimal = Decimal(0)
    purpose: str = "c01"
    armed: bool = False
    name: str = NAME

    def propose(self, ctx: StrategyContext) -> list[Intent]:
        """One BUY intent, or none (disarmed, symbol not tradable, or already resting)."""
        if not self.armed or self.symbol not in ctx.symbols or ctx.open_on(self.symbol).count:
            return []
        ticker = ctx.tickers.get(self.symbol)
        rules = ctx.rules.get(self.symbol)
        if ticker is None or rules is None:
            return []
        try:
            order = canary_order(rules, ticker.bid, self.notional_try, self.offset_bps)
        except RuleViolation:
            return []  # the runner sees no order and stops with the reason
        return [
            Intent(
                strategy=NAME,
                symbol=self.symbol,
                side=Side.BUY,
                kind=IntentKind.OPEN,
                price=order.price,
                quantity=order.quantity,
                reason="canary:entry",
                key=intent_key(NAME, self.symbol, Side.BUY, self.purpose),
            )
        ]
