"""Risk: the budget mode (how much risk may be taken at all) and the per-intent policy.

All money here is TRY. Intents on other quotes (USDT pairs) are converted with the engine's
`quote_to_try` rate for that quote asset; no rate -> the intent is refused, never guessed.

Risk budget: `assess_risk_mode` checks every rule below, records a reason code for each one that
fires, and takes the most severe mode among them (NORMAL when none fires, with no reasons).

OBSERVE_ONLY (nothing is sent, not even exits):
- `risk:invariant_failed`      any invariant violation: our books don't add up, so no order can
                               be trusted to do what we think.
- `risk:no_market_data`        the data age is unknown (no data yet).
- `risk:stale_data`            the oldest market data is older than `max_data_age_ms`: any price
                               we compute, an exit's included, may be far from the market.
- `risk:max_drawdown_severe`   drawdown >= `max_drawdown_pct` * `drawdown_observe_multiplier`:
                               losses kept growing while only reducing, so something is wrong
                               with the exits themselves (only when `max_drawdown_pct` > 0).

REDUCE_RISK_ONLY (REDUCE intents pass the policy, OPEN ones are dropped):
- `risk:max_drawdown`          drawdown >= `max_drawdown_pct`.
- `risk:max_daily_loss`        today's loss >= `max_daily_loss` (TRY).
- `risk:consecutive_losses`    >= `max_consecutive_losses` losing round trips in a row.
- `risk:reject_spike`          >= `reject_spike` exchange rejects within `reject_window_s`
                               (the engine counts them): we may be sending malformed orders.
- `risk:unknown_order_stale`   an UNKNOWN order older than `unknown_order_max_age_s`: an order
                               of unknown fate may be live, so don't add exposure on top of it.

A loss-type limit fires when a positive amount reaches it: with `max_daily_loss = 0` any loss
stops new risk, and no loss never does. Exits keep flowing in REDUCE_RISK_ONLY on purpose:
freezing them would keep exposure we have decided we don't want.

Policy: `apply_risk` gives exactly one `Verdict` per intent, in input order. REDUCE intents are
judged before OPEN ones (stably), so exits are never starved of the per-cycle count and notional
budget by entries. The first failing check names the verdict; the checks, in order, are:
intent sanity, duplicate key, mode, known symbol and TRY rate, orders per cycle, open orders per
symbol, cooldown, sell vs position, notional per order (scaled down to the cap when
`scale_to_max_notional`, else refused), minimum notional, notional per cycle, position per symbol
(buys), free balance (buys keep room for the fee).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, localcontext
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from btcbot_engine.domain.intents import Intent, IntentKind, Verdict
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.rules import SymbolRules

ZERO = Decimal(0)
ONE = Decimal(1)

# --- Reason codes ------------------------------------------------------------------------------

# Budget (mode) reasons.
INVARIANT_FAILED = "risk:invariant_failed"
NO_MARKET_DATA = "risk:no_market_data"
STALE_DATA = "risk:stale_data"
MAX_DRAWDOWN_SEVERE = "risk:max_drawdown_severe"
MAX_DRAWDOWN = "risk:max_drawdown"
MAX_DAILY_LOSS = "risk:max_daily_loss"
CONSECUTIVE_LOSSES = "risk:consecutive_losses"
REJECT_SPIKE = "risk:reject_spike"
UNKNOWN_ORDER_STALE = "risk:unknown_order_stale"

# Policy (verdict) reasons.
OK = "risk:ok"
INVALID_INTENT = "risk:invalid_intent"
KIND_SIDE_MISMATCH = "risk:kind_side_mismatch"
DUPLICATE_KEY = "risk:duplicate_key"
MODE_OBSERVE_ONLY = "risk:mode_observe_only"
MODE_REDUCE_ONLY = "risk:mode_reduce_only"
UNKNOWN_SYMBOL = "risk:unknown_symbol"
NO_QUOTE_RATE = "risk:no_quote_rate"
MAX_ORDERS_PER_CYCLE = "risk:max_orders_per_cycle"
MAX_OPEN_ORDERS_PER_SYMBOL = "risk:max_open_orders_per_symbol"
COOLDOWN = "risk:cooldown"
SELL_EXCEEDS_POSITION = "risk:sell_exceeds_position"
MAX_NOTIONAL_PER_ORDER = "risk:max_notional_per_order"
MIN_ORDER_NOTIONAL = "risk:min_order_notional"
NOTIONAL_CAP_PER_CYCLE = "risk:notional_cap_per_cycle"
MAX_POSITION_PER_SYMBOL = "risk:max_position_per_symbol"
INSUFFICIENT_BALANCE = "risk:insufficient_balance"

VERDICT_REASONS: tuple[str, ...] = (
    OK,
    INVALID_INTENT,
    KIND_SIDE_MISMATCH,
    DUPLICATE_KEY,
    MODE_OBSERVE_ONLY,
    MODE_REDUCE_ONLY,
    UNKNOWN_SYMBOL,
    NO_QUOTE_RATE,
    MAX_ORDERS_PER_CYCLE,
    MAX_OPEN_ORDERS_PER_SYMBOL,
    COOLDOWN,
    SELL_EXCEEDS_POSITION,
    MAX_NOTIONAL_PER_ORDER,
    MIN_ORDER_NOTIONAL,
    NOTIONAL_CAP_PER_CYCLE,
    MAX_POSITION_PER_SYMBOL,
    INSUFFICIENT_BALANCE,
)


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


# --- Limits ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every risk cap in one place. Money is TRY; defaults match the Settings defaults."""

    max_orders_per_cycle: int = 2
    max_open_orders_per_symbol: int = 1
    cooldown_seconds: int = 30
    notional_cap_per_cycle: Decimal = Decimal(1000)
    max_notional_per_order: Decimal = Decimal(500)
    min_order_notional: Decimal = Decimal(100)
    max_position_per_symbol: Decimal = Decimal(2000)
    max_daily_loss: Decimal = Decimal(200)
    max_drawdown_pct: Decimal = Decimal(5)
    drawdown_observe_multiplier: Decimal = Decimal(2)
    max_consecutive_losses: int = 3
    max_data_age_ms: int = 5000
    reject_spike: int = 3
    reject_window_s: int = 600  # the window the engine counts rejects in (10 minutes)
    unknown_order_max_age_s: int = 60
    # Scale an order above the per-order cap down to it (same price) instead of refusing it:
    # otherwise a take-profit for a position bigger than one order could never be placed.
    scale_to_max_notional: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal | int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"risk limit {f.name} must be >= 0, got {value}")
        if self.min_order_notional > self.max_notional_per_order:
            raise ValueError("min_order_notional is above max_notional_per_order")
        if self.drawdown_observe_multiplier < 1:
            raise ValueError("drawdown_observe_multiplier must be >= 1")


# --- Budget: the mode --------------------------------------------------------------------------


class RiskMode(StrEnum):
    """How much risk the bot may take this cycle."""

    NORMAL = "NORMAL"
    REDUCE_RISK_ONLY = "REDUCE_RISK_ONLY"  # exits only
    OBSERVE_ONLY = "OBSERVE_ONLY"  # nothing

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {RiskMode.NORMAL: 0, RiskMode.REDUCE_RISK_ONLY: 1, RiskMode.OBSERVE_ONLY: 2}

# Enum members read in every cycle, as module names: reading a member off its Enum class is
# several times slower than reading a global (Python 3.11).
_OBSERVE_ONLY, _REDUCE_RISK_ONLY = RiskMode.OBSERVE_ONLY, RiskMode.REDUCE_RISK_ONLY
_BUY, _SELL = Side.BUY, Side.SELL
_OPEN, _REDUCE = IntentKind.OPEN, IntentKind.REDUCE


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """What the budget is judged on, computed by the engine from the ledger and the OMS.

    `loss_today_try` is positive when we lost money today. `oldest_data_age_ms` is None when there
    is no market data at all. Ages are measured by the engine's clock.
    """

    oldest_data_age_ms: int | None
    drawdown_pct: Decimal = ZERO
    loss_today_try: Decimal = ZERO
    consecutive_losses: int = 0
    rejects_in_window: int = 0
    invariant_violations: tuple[str, ...] = ()
    unknown_orders: int = 0
    oldest_unknown_age_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """The mode and every reason that led to it; `details` explains each reason, same order."""

    mode: RiskMode
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


# The answer when no rule fires (almost every cycle): immutable, so one shared instance.
_NORMAL = RiskAssessment(RiskMode.NORMAL)


def _reached(value: Decimal | int, limit: Decimal | int) -> bool:
    # A positive amount reaching the limit: limit 0 means "none allowed", not "always tripped".
    return value > 0 and value >= limit


def assess_risk_mode(inputs: RiskInputs, limits: RiskLimits) -> RiskAssessment:
    """Decide the risk mode for this cycle; see the module docstring for the rules."""
    fired: list[tuple[RiskMode, str, str]] = []
    observe, reduce = _OBSERVE_ONLY, _REDUCE_RISK_ONLY

    if inputs.invariant_violations:
        codes = ", ".join(inputs.invariant_violations)
        fired.append((observe, INVARIANT_FAILED, f"invariants failed: {codes}"))
    age_ms = inputs.oldest_data_age_ms
    if age_ms is None:
        fired.append((observe, NO_MARKET_DATA, "no market data"))
    elif age_ms > limits.max_data_age_ms:
        fired.append(
            (observe, STALE_DATA, f"oldest data {age_ms} ms > {limits.max_data_age_ms} ms")
        )
    drawdown, max_drawdown = inputs.drawdown_pct, limits.max_drawdown_pct
    severe = max_drawdown * limits.drawdown_observe_multiplier
    # With a zero limit "severe" would be any drawdown; keep that case at REDUCE_RISK_ONLY.
    if max_drawdown > 0 and _reached(drawdown, severe):
        fired.append((observe, MAX_DRAWDOWN_SEVERE, f"drawdown {drawdown}% >= {severe}%"))
    elif _reached(drawdown, max_drawdown):
        fired.append((reduce, MAX_DRAWDOWN, f"drawdown {drawdown}% >= {max_drawdown}%"))
    loss = inputs.loss_today_try
    if _reached(loss, limits.max_daily_loss):
        fired.append(
            (
                reduce,
                MAX_DAILY_LOSS,
                f"loss today {loss} TRY >= {limits.max_daily_loss} TRY",
            )
        )
    losses = inputs.consecutive_losses
    if _reached(losses, limits.max_consecutive_losses):
        fired.append(
            (
                reduce,
                CONSECUTIVE_LOSSES,
                f"{losses} losses in a row >= {limits.max_consecutive_losses}",
            )
        )
    rejects = inputs.rejects_in_window
    if _reached(rejects, limits.reject_spike):
        fired.append(
            (
                reduce,
                REJECT_SPIKE,
                f"{rejects} rejects in {limits.reject_window_s} s >= {limits.reject_spike}",
            )
        )
    age = inputs.oldest_unknown_age_ms
    if (
        inputs.unknown_orders > 0
        and age is not None
        and age > limits.unknown_order_max_age_s * 1000
    ):
        fired.append(
            (
                reduce,
                UNKNOWN_ORDER_STALE,
                f"{inputs.unknown_orders} UNKNOWN order(s), oldest {age} ms "
                f"> {limits.unknown_order_max_age_s} s",
            )
        )

    if not fired:
        return _NORMAL
    # The most severe mode among the fired rules (only OBSERVE_ONLY and REDUCE_RISK_ONLY fire).
    mode = max((m for m, _, _ in fired), key=lambda m: m.severity)
    return RiskAssessment(
        mode,
        tuple(code for _, code, _ in fired),
        tuple(text for _, _, text in fired),
    )


# --- Policy: one verdict per intent ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskContext:
    """The account and order state the policy judges intents against.

    - `open_orders`: our open order count per symbol; `last_order_ms`: when we last sent one.
    - `position_qty`: base quantity held per symbol; `position_value_try`: its value in TRY.
    - `pending_buy_try`: remaining notional (TRY) of our open BUY orders per symbol: it counts
      toward the position cap, since it becomes position when it fills.
    - `free_balances`: free (unlocked) balance per asset; `quote_to_try`: TRY per 1 unit of each
      non-TRY quote asset. `fee_rate`: the rate to reserve on top of a buy.
    - `rules`: pair rules, for base/quote and the quantity step when scaling.
    """

    now_ms: int
    rules: Mapping[str, SymbolRules]
    open_orders: Mapping[str, int] = field(default_factory=_empty)
    last_order_ms: Mapping[str, int] = field(default_factory=_empty)
    position_qty: Mapping[str, Decimal] = field(default_factory=_empty)
    position_value_try: Mapping[str, Decimal] = field(default_factory=_empty)
    pending_buy_try: Mapping[str, Decimal] = field(default_factory=_empty)
    free_balances: Mapping[str, Decimal] = field(default_factory=_empty)
    quote_to_try: Mapping[str, Decimal] = field(default_factory=_empty)
    fee_rate: Decimal = Decimal("0.0009")

    def rate_to_try(self, quote: str) -> Decimal | None:
        """TRY per one unit of `quote` (1 for TRY); None when unknown or not positive."""
        if quote.upper() == "TRY":
            return ONE
        rate = self.quote_to_try.get(quote.upper())
        return rate if rate is not None and rate > 0 else None


class _Cycle:
    """What this cycle has already accepted, so later intents see earlier ones.

    Plain dicts read with `.get(key, 0)`: cheaper to build than defaultdicts (one per cycle)."""

    __slots__ = (
        "accepted",
        "bought_try",
        "keys",
        "notional_try",
        "placed",
        "sold_base",
        "sold_qty",
        "spent",
    )

    def __init__(self) -> None:
        self.accepted = 0
        self.notional_try = ZERO
        self.keys: set[str] = set()
        self.placed: dict[str, int] = {}
        self.bought_try: dict[str, Decimal] = {}
        self.sold_qty: dict[str, Decimal] = {}
        self.spent: dict[str, Decimal] = {}
        self.sold_base: dict[str, Decimal] = {}


def apply_risk(
    intents: Sequence[Intent], ctx: RiskContext, limits: RiskLimits, mode: RiskMode
) -> list[Verdict]:
    """Judge every intent; return one verdict per intent, in input order.

    An accepted verdict may carry a smaller quantity than its intent (scaled to the per-order
    cap, said in `detail`); the OMS must send the verdict's intent, not the original.
    """
    cycle = _Cycle()
    if len(intents) == 1:  # the usual case: nothing to reorder
        return [_judge(intents[0], ctx, limits, mode, cycle)]
    # Exits first: a cap that runs out should run out on entries, not on exits (stable, so
    # each group keeps its input order).
    order = [i for i, intent in enumerate(intents) if intent.kind is _REDUCE]
    order += [i for i, intent in enumerate(intents) if intent.kind is not _REDUCE]
    verdicts: list[Verdict] = [None] * len(intents)  # type: ignore[list-item]
    for index in order:
        verdicts[index] = _judge(intents[index], ctx, limits, mode, cycle)
    return verdicts


def _reject(intent: Intent, code: str, detail: str) -> Verdict:
    return Verdict(intent, False, code, detail)


def _scale_to_cap(intent: Intent, rules: SymbolRules, rate: Decimal, cap_try: Decimal) -> Decimal:
    """The largest quantity on the pair's step whose TRY notional stays within `cap_try`."""
    step = rules.quantity_step
    with localcontext() as dec:
        dec.rounding = ROUND_FLOOR  # never let division rounding push us above the cap
        quantity = (cap_try / rate / intent.price).quantize(step, rounding=ROUND_FLOOR)
    while quantity > 0 and intent.price * quantity * rate > cap_try:
        quantity -= step
    return max(quantity, ZERO)


def _judge(
    intent: Intent, ctx: RiskContext, limits: RiskLimits, mode: RiskMode, cycle: _Cycle
) -> Verdict:
    symbol = intent.symbol
    price, quantity = intent.price, intent.quantity
    if price <= ZERO or quantity <= ZERO:
        return _reject(intent, INVALID_INTENT, f"price {price}, qty {quantity}")
    # Spot only: OPEN must buy and REDUCE must sell; anything else would be a short or a bug.
    kind = intent.kind
    expected = _BUY if kind is _OPEN else _SELL
    if intent.side is not expected:
        return _reject(intent, KIND_SIDE_MISMATCH, f"{kind} must be {expected}")
    if intent.key in cycle.keys:
        return _reject(intent, DUPLICATE_KEY, f"key {intent.key} already judged this cycle")
    cycle.keys.add(intent.key)

    if mode is _OBSERVE_ONLY:
        return _reject(intent, MODE_OBSERVE_ONLY, "risk mode OBSERVE_ONLY")
    if mode is _REDUCE_RISK_ONLY and kind is _OPEN:
        return _reject(intent, MODE_REDUCE_ONLY, "risk mode REDUCE_RISK_ONLY drops OPEN intents")

    rules = ctx.rules.get(symbol)
    if rules is None:
        return _reject(intent, UNKNOWN_SYMBOL, f"no rules for {symbol}")
    rate = ctx.rate_to_try(rules.quote)
    if rate is None:
        return _reject(intent, NO_QUOTE_RATE, f"no TRY rate for {rules.quote}")

    if cycle.accepted >= limits.max_orders_per_cycle:
        return _reject(
            intent, MAX_ORDERS_PER_CYCLE, f"{cycle.accepted} of {limits.max_orders_per_cycle}"
        )
    placed = cycle.placed.get(symbol, 0)
    open_count = ctx.open_orders.get(symbol, 0) + placed
    if open_count >= limits.max_open_orders_per_symbol:
        return _reject(
            intent,
            MAX_OPEN_ORDERS_PER_SYMBOL,
            f"{open_count} open on {symbol}, max {limits.max_open_orders_per_symbol}",
        )
    # An order accepted earlier in this cycle counts as sent now, so the cooldown also stops a
    # second order on the same symbol within one cycle.
    cooldown_ms = limits.cooldown_seconds * 1000
    if cooldown_ms:
        last = ctx.now_ms if placed else ctx.last_order_ms.get(symbol)
        if last is not None and ctx.now_ms - last < cooldown_ms:
            return _reject(
                intent,
                COOLDOWN,
                f"last order {ctx.now_ms - last} ms ago, cooldown {cooldown_ms} ms",
            )
    buy = intent.side is _BUY
    if not buy:
        held = ctx.position_qty.get(symbol, ZERO) - cycle.sold_qty.get(symbol, ZERO)
        if quantity > held:
            return _reject(intent, SELL_EXCEEDS_POSITION, f"sell {quantity} > held {held} {symbol}")

    # `order` is what would be sent (maybe scaled); rejections always carry the original intent.
    order, detail = intent, ""
    notional = price * quantity  # == intent.notional
    notional_try = notional * rate
    if notional_try > limits.max_notional_per_order:
        if not limits.scale_to_max_notional:
            return _reject(
                intent,
                MAX_NOTIONAL_PER_ORDER,
                f"{notional_try} TRY > {limits.max_notional_per_order} TRY",
            )
        quantity = _scale_to_cap(intent, rules, rate, limits.max_notional_per_order)
        detail = (
            f"scaled to max_notional_per_order {limits.max_notional_per_order} TRY: "
            f"qty {intent.quantity} -> {quantity}"
        )
        if quantity <= 0:
            return _reject(intent, MIN_ORDER_NOTIONAL, f"{detail}; nothing left")
        order = dataclasses.replace(intent, quantity=quantity)
        notional = order.notional
        notional_try = notional * rate
    if notional_try < limits.min_order_notional:
        suffix = f"; {detail}" if detail else ""
        return _reject(
            intent,
            MIN_ORDER_NOTIONAL,
            f"{notional_try} TRY < {limits.min_order_notional} TRY{suffix}",
        )
    if cycle.notional_try + notional_try > limits.notional_cap_per_cycle:
        return _reject(
            intent,
            NOTIONAL_CAP_PER_CYCLE,
            f"{cycle.notional_try} + {notional_try} TRY > {limits.notional_cap_per_cycle} TRY",
        )

    if buy:
        bought = cycle.bought_try.get(symbol, ZERO)
        exposure = (
            ctx.position_value_try.get(symbol, ZERO)
            + ctx.pending_buy_try.get(symbol, ZERO)
            + bought
            + notional_try
        )
        if exposure > limits.max_position_per_symbol:
            return _reject(
                intent,
                MAX_POSITION_PER_SYMBOL,
                f"{symbol} exposure would be {exposure} TRY > {limits.max_position_per_symbol}",
            )
        quote = rules.quote
        quote_cost = notional * (ONE + ctx.fee_rate)
        spent = cycle.spent.get(quote, ZERO)
        free = ctx.free_balances.get(quote, ZERO) - spent
        if quote_cost > free:
            return _reject(
                intent,
                INSUFFICIENT_BALANCE,
                f"need {quote_cost} {quote} with fee, free {free}",
            )
        cycle.bought_try[symbol] = bought + notional_try
        cycle.spent[quote] = spent + quote_cost
    else:
        base = rules.base
        sold = cycle.sold_base.get(base, ZERO)
        free = ctx.free_balances.get(base, ZERO) - sold
        if quantity > free:
            return _reject(intent, INSUFFICIENT_BALANCE, f"sell {quantity} {base}, free {free}")
        cycle.sold_qty[symbol] = cycle.sold_qty.get(symbol, ZERO) + quantity
        cycle.sold_base[base] = sold + quantity

    cycle.accepted += 1
    cycle.notional_try += notional_try
    cycle.placed[symbol] = placed + 1
    return Verdict(order, True, OK, detail)
