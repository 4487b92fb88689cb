"""Profit-aware: take profit on what we hold; otherwise enter small and passive.

Holding a position (above dust): propose one SELL of the held quantity at
max(take-profit price, best ask), where the take-profit price is the lowest price whose proceeds
after the sell fee beat the cost after the buy fee by `min_profit_bps`. Flat: propose one passive
BUY at the best bid for the per-order budget. Either way only when the spread is at most
`max_spread_bps` and no order of ours already rests on that side.

Fees are planned at the worse of maker and taker on both legs: a passive order can still take if
the book moves before it lands, and overestimating fees only makes the target a little higher.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext

from btcbot_engine.domain.intents import Intent
from btcbot_engine.strategies.base import (
    BPS,
    ONE,
    StrategyContext,
    entry_intent,
    exit_intent,
    held_position,
    usable_ticker,
)


def take_profit_price(avg_cost: Decimal, fee_rate: Decimal, min_profit_bps: Decimal) -> Decimal:
    """Lowest sell price P with P*(1-fee) >= avg_cost*(1+fee)*(1+min_profit), rounded up.

    Exact form, not avg_cost*(1 + 2*fee + margin): the sell fee is charged on the (larger) sell
    proceeds, so the linear shortcut would fall a hair short of the margin.
    """
    if fee_rate >= ONE:
        raise ValueError(f"fee rate {fee_rate} must be below 1")
    with localcontext() as dec:
        # Round up so the price can only err on the profitable side.
        dec.rounding = ROUND_CEILING
        return avg_cost * (ONE + fee_rate) * (ONE + min_profit_bps / BPS) / (ONE - fee_rate)


def net_profit_bps(avg_cost: Decimal, sell_price: Decimal, fee_rate: Decimal) -> Decimal:
    """Profit of buying at `avg_cost` and selling at `sell_price`, both legs paying `fee_rate`,
    in basis points of the all-in cost."""
    cost = avg_cost * (ONE + fee_rate)
    proceeds = sell_price * (ONE - fee_rate)
    return (proceeds - cost) / cost * BPS


@dataclass(slots=True)
class ProfitAwareStrategy:
    """Take profit after fees when holding; otherwise a conservative passive entry."""

    min_profit_bps: Decimal = Decimal(30)
    max_spread_bps: Decimal = Decimal(100)
    name: str = "profit_aware"

    def __post_init__(self) -> None:
        if self.min_profit_bps < 0 or self.max_spread_bps < 0:
            raise ValueError("min_profit_bps and max_spread_bps must be >= 0")

    def propose(self, ctx: StrategyContext) -> list[Intent]:
        """At most one intent per symbol: a take-profit when holding, else an entry."""
        intents: list[Intent] = []
        fee = ctx.fees.worst
        for symbol in ctx.symbols:
            ticker = usable_ticker(ctx, symbol, self.max_spread_bps)
            if ticker is None:
                continue
            open_orders = ctx.open_on(symbol)
            position = held_position(ctx, symbol, ticker.bid)
            if position is not None:
                # A resting sell is our take-profit already; an unknown cost basis (<= 0) means
                # we cannot prove a profit, so we do nothing rather than guess.
                if open_orders.sells or position.avg_cost <= 0:
                    continue
                target = take_profit_price(position.avg_cost, fee, self.min_profit_bps)
                rules = ctx.rules.get(symbol)
                if rules is not None:
                    # Readable logs; rounding a sell up only adds margin (the OMS rounds up too).
                    cent = Decimal(1).scaleb(-rules.price_scale)
                    target = target.quantize(cent, rounding=ROUND_CEILING)
                price = max(target, ticker.ask)
                if net_profit_bps(position.avg_cost, price, fee) < self.min_profit_bps:
                    continue  # guard against rounding surprises; should not happen
                where = "ask" if price == ticker.ask else "target"
                intents.append(
                    exit_intent(self.name, position, price, f"take_profit:{where}", "take_profit")
                )
            elif not open_orders.buys:
                entry = entry_intent(ctx, self.name, symbol, ticker, "entry:passive_bid")
                if entry is not None:
                    intents.append(entry)
        return intents
