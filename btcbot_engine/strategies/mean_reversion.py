"""Mean reversion baseline: buy a dip of `entry_z` standard deviations, sell back at the mean.

Statistics come from the last `window` mids in `ctx.history` (population standard deviation,
Decimal `sqrt()`); the current ticker mid is compared against them. Flat and
mid < mean - entry_z * std -> passive BUY at the best bid for the per-order budget. Holding and
mid >= mean -> SELL the position at the best ask. No adding to a position while holding, and no
exit before the mean: this is a benchmark to beat, not a clever strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from btcbot_engine.domain.intents import Intent
from btcbot_engine.strategies.base import (
    ZERO,
    StrategyContext,
    entry_intent,
    exit_intent,
    held_position,
    usable_ticker,
)


def mean_and_std(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Mean and population standard deviation of a non-empty sequence, in Decimal."""
    if not values:
        raise ValueError("mean_and_std needs at least one value")
    n = Decimal(len(values))
    mean = sum(values, ZERO) / n
    variance = sum(((v - mean) ** 2 for v in values), ZERO) / n
    return mean, variance.sqrt()


@dataclass(slots=True)
class MeanReversionStrategy:
    """Buy below mean - entry_z * std (flat only); sell the position at the mean."""

    window: int = 20
    entry_z: Decimal = Decimal(2)
    max_spread_bps: Decimal = Decimal(100)
    name: str = "mean_reversion"

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if self.entry_z <= 0:
            raise ValueError(f"entry_z must be > 0, got {self.entry_z}")

    def propose(self, ctx: StrategyContext) -> list[Intent]:
        """At most one intent per symbol, once `window` mids of history exist."""
        intents: list[Intent] = []
        for symbol in ctx.symbols:
            history = ctx.history.get(symbol, ())
            if len(history) < self.window:
                continue  # not enough data to call anything a deviation
            ticker = usable_ticker(ctx, symbol, self.max_spread_bps)
            if ticker is None:
                continue
            # Index rather than slice: a deque (what an engine keeps) cannot be sliced.
            size = len(history)
            mean, std = mean_and_std([history[i] for i in range(size - self.window, size)])
            mid = ticker.mid
            open_orders = ctx.open_on(symbol)
            position = held_position(ctx, symbol, ticker.bid)
            if position is not None:
                if mid >= mean and not open_orders.sells:
                    intents.append(
                        exit_intent(self.name, position, ticker.ask, "exit:mean_reached", "exit")
                    )
            elif std > 0 and mid < mean - self.entry_z * std and not open_orders.buys:
                entry = entry_intent(ctx, self.name, symbol, ticker, "entry:below_band")
                if entry is not None:
                    intents.append(entry)
        return intents
