"""SMA cross benchmark: buy a fixed quantity when the fast SMA crosses above the slow one, sell
the position when it crosses below.

O(1) per step: each symbol keeps two bounded deques and their running sums, so a new close costs
two appends and at most two subtractions whatever the window sizes (the backtest benchmark runs
this over long series). A cross is an event: the first step with both windows full only records
the relation (no trade into a trend already under way); a later change of sign is a cross.
Equal SMAs keep the previous relation, so touching without crossing is not a signal.

Closes come from `ctx.history[symbol]`: the first time a symbol is seen, its whole history is
replayed to warm up (once); afterwards each call with a new `now_ms` consumes only the newest
value. Without history the ticker mid is the close. Call `propose` once per step.

Orders are passive by default (buy at the bid, sell at the ask). With `taker_bps` > 0 they are
marketable limits priced that far through the touch (buy at ask * (1 + bps), sell at bid *
(1 - bps)): a market order with a price cap, which the paper and replay exchanges fill as a taker.

`preview(symbol, close, now_ms)` lets a backtest feed a step's close without a full cycle: it
advances the windows exactly as `propose` would and says whether that step has a cross; if so the
cross is kept for the `propose` call of the same step, so skipping quiet steps cannot change what
the strategy decides.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.domain.intents import Intent, IntentKind
from btcbot_engine.domain.orders import Side
from btcbot_engine.strategies.base import (
    BPS,
    ZERO,
    StrategyContext,
    exit_intent,
    held_position,
    intent_key,
    usable_ticker,
)

CROSS_UP = 1
CROSS_DOWN = -1
NO_CROSS = 0
# Reading a member off its Enum class is several times slower than reading a global (3.11).
_BUY, _OPEN = Side.BUY, IntentKind.OPEN


@dataclass(slots=True)
class _SmaState:
    """Rolling windows for one symbol. `relation` is +1 (fast above), -1 (below), 0 (unknown)."""

    fast_q: deque[Decimal]
    slow_q: deque[Decimal]
    fast_sum: Decimal = ZERO
    slow_sum: Decimal = ZERO
    relation: int = 0
    last_ms: int | None = None


@dataclass(slots=True)
class SmaCrossStrategy:
    """Fast/slow simple-moving-average cross on closes, one fixed-size position per symbol."""

    fast: int = 10
    slow: int = 30
    quantity: Decimal = Decimal("0.01")
    max_spread_bps: Decimal = Decimal(100)
    taker_bps: Decimal = Decimal(0)
    name: str = "sma_cross"
    _states: dict[str, _SmaState] = field(default_factory=dict, init=False, repr=False)
    _pending: dict[str, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)
    # The window sizes as Decimals: Decimal * Decimal is cheaper than Decimal * int, and `_step`
    # runs on every bar of a backtest.
    _fast_d: Decimal = field(default=ZERO, init=False, repr=False, compare=False)
    _slow_d: Decimal = field(default=ZERO, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={self.fast} slow={self.slow}")
        if self.quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")
        if not 0 <= self.taker_bps < 10000:
            raise ValueError(f"taker_bps must be in [0, 10000), got {self.taker_bps}")
        self._fast_d = Decimal(self.fast)
        self._slow_d = Decimal(self.slow)

    def preview(self, symbol: str, close: Decimal, now_ms: int) -> bool:
        """Consume this step's close ahead of `propose`; True when the step has a cross (then
        `propose` at the same `now_ms` returns it). False for an unknown symbol too: its first
        step needs the warm-up in `propose`, so the caller must run the full cycle."""
        state = self._states.get(symbol)
        if state is None:
            return True
        if state.last_ms is not None and now_ms <= state.last_ms:
            return False
        signal = self._step(state, close)
        state.last_ms = now_ms
        if signal == NO_CROSS:
            return False
        self._pending[symbol] = (now_ms, signal)
        return True

    def observe(self, symbol: str, close: Decimal) -> int:
        """Feed one close; return CROSS_UP, CROSS_DOWN or NO_CROSS. O(1)."""
        state = self._states.get(symbol)
        if state is None:
            state = _SmaState(deque(maxlen=self.fast), deque(maxlen=self.slow))
            self._states[symbol] = state
        return self._step(state, close)

    def _step(self, state: _SmaState, close: Decimal) -> int:
        fast_q, slow_q = state.fast_q, state.slow_q
        # Subtract the value about to fall out of each window before appending (maxlen drops it).
        # Both windows get every close, so a full slow window means a full fast one too.
        fast_sum, slow_sum = state.fast_sum, state.slow_sum
        if len(slow_q) == self.slow:
            fast_sum -= fast_q[0]
            slow_sum -= slow_q[0]
        elif len(fast_q) == self.fast:
            fast_sum -= fast_q[0]
        fast_q.append(close)
        slow_q.append(close)
        state.fast_sum = fast_sum = fast_sum + close
        state.slow_sum = slow_sum = slow_sum + close
        if len(slow_q) < self.slow:
            return NO_CROSS
        # Compare sums scaled to a common denominator instead of dividing: exact in Decimal.
        fast_scaled, slow_scaled = fast_sum * self._slow_d, slow_sum * self._fast_d
        previous = state.relation
        if fast_scaled > slow_scaled:
            relation = 1
        elif fast_scaled < slow_scaled:
            relation = -1
        else:
            return NO_CROSS  # equal SMAs keep the previous relation
        if relation == previous:
            return NO_CROSS
        state.relation = relation
        if previous == 0:
            return NO_CROSS  # the first full step only records the relation
        return CROSS_UP if relation == 1 else CROSS_DOWN

    def _signal(self, ctx: StrategyContext, symbol: str) -> int:
        pending = self._pending.pop(symbol, None)
        if pending is not None and pending[0] == ctx.now_ms:
            return pending[1]  # previewed this very step
        history = ctx.history.get(symbol, ())
        state = self._states.get(symbol)
        if state is not None and state.last_ms is not None and ctx.now_ms <= state.last_ms:
            return NO_CROSS  # this step was already consumed
        signal = NO_CROSS
        if history and state is not None:
            signal = self._step(state, history[-1])
        elif history:
            for close in history:  # one-time warm-up; only the last step's cross counts
                signal = self.observe(symbol, close)
        else:
            ticker = ctx.tickers.get(symbol)
            if ticker is None or ticker.bid <= 0 or ticker.ask <= 0:
                return NO_CROSS
            signal = self.observe(symbol, ticker.mid)
        self._states[symbol].last_ms = ctx.now_ms
        return signal

    def propose(self, ctx: StrategyContext) -> list[Intent]:
        """A passive BUY of `quantity` on a cross up when flat; a SELL of the position on a
        cross down. Every symbol's state advances even when no order can be priced."""
        intents: list[Intent] = []
        for symbol in ctx.symbols:
            signal = self._signal(ctx, symbol)
            if signal == NO_CROSS:
                continue
            ticker = usable_ticker(ctx, symbol, self.max_spread_bps)
            if ticker is None:
                continue
            position = held_position(ctx, symbol, ticker.bid)
            open_orders = ctx.open_on(symbol)
            if signal == CROSS_UP and position is None and not open_orders.buys:
                through = self.taker_bps / BPS
                # Intent(strategy, symbol, side, kind, price, quantity, reason, key): positional
                # is cheaper than keywords.
                intents.append(
                    Intent(
                        self.name,
                        symbol,
                        _BUY,
                        _OPEN,
                        ticker.ask * (1 + through) if through else ticker.bid,
                        self.quantity,
                        "entry:sma_cross_up",
                        intent_key(self.name, symbol, _BUY, "entry"),
                    )
                )
            elif signal == CROSS_DOWN and position is not None and not open_orders.sells:
                through = self.taker_bps / BPS
                price = ticker.bid * (1 - through) if through else ticker.ask
                intents.append(
                    exit_intent(self.name, position, price, "exit:sma_cross_down", "exit")
                )
        return intents
