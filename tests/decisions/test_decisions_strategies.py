"""Strategies: profit-aware price math, mean reversion, SMA cross, and the registry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import overload

import pytest
from decisions_testkit import NOW, context, rules, ticker
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.domain.intents import IntentKind
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.rules import quantize_limit
from btcbot_engine.strategies import (
    STRATEGIES,
    MeanReversionStrategy,
    OpenOrdersView,
    ProfitAwareStrategy,
    SmaCrossStrategy,
    StrategyConfigError,
    StrategyContext,
    make_strategy,
)
from btcbot_engine.strategies.mean_reversion import mean_and_std
from btcbot_engine.strategies.profit_aware import net_profit_bps, take_profit_price
from btcbot_engine.strategies.sma_cross import CROSS_DOWN, CROSS_UP, NO_CROSS

D = Decimal

# --- Profit-aware -------------------------------------------------------------------------------


def test_flat_proposes_passive_entry_at_bid_for_budget() -> None:
    ctx = context([ticker("BTCTRY", "1000000", "1000100")])
    [intent] = ProfitAwareStrategy().propose(ctx)
    assert (intent.side, intent.kind, intent.price) == (Side.BUY, IntentKind.OPEN, D("1000000"))
    assert intent.quantity == D("0.0005")  # 500 TRY / 1,000,000
    assert intent.key == "profit_aware:BTCTRY:buy:entry"


def test_take_profit_price_includes_both_fees_and_margin() -> None:
    ctx = context(
        [ticker("BTCTRY", "1000000", "1000100")], positions={"BTCTRY": ("0.001", "1000000")}
    )
    [intent] = ProfitAwareStrategy(min_profit_bps=D(30)).propose(ctx)
    assert (intent.side, intent.kind) == (Side.SELL, IntentKind.REDUCE)
    assert intent.quantity == D("0.001")
    assert intent.key == "profit_aware:BTCTRY:sell:take_profit"
    assert intent.reason == "take_profit:target"
    fee = D("0.0009")  # taker is the worse rate; planned on both legs
    # Proceeds after the sell fee beat cost after the buy fee by at least 30 bps...
    cost = D("1000000") * (1 + fee)
    assert intent.price * (1 - fee) >= cost * (1 + D("0.003"))
    assert net_profit_bps(D("1000000"), intent.price, fee) >= 30
    # ...and it is the lowest such price (within one tick): 1e6 * 1.0009 * 1.003 / 0.9991.
    assert D("1004807") < intent.price <= D("1004807.03")
    assert intent.price > D("1004800")  # the linear shortcut cost * (1 + 2 fee + margin) is short
    # The OMS rounds sells up, so the quantized price keeps the margin.
    q = quantize_limit(rules("BTCTRY"), Side.SELL, intent.price, intent.quantity)
    assert net_profit_bps(D("1000000"), q.price, fee) >= 30


def test_take_profit_rests_at_ask_when_ask_is_higher() -> None:
    ctx = context(
        [ticker("BTCTRY", "1000000", "1000100")], positions={"BTCTRY": ("0.001", "900000")}
    )
    [intent] = ProfitAwareStrategy().propose(ctx)
    assert intent.price == D("1000100")
    assert intent.reason == "take_profit:ask"


def test_wide_spread_proposes_nothing_flat_or_holding() -> None:
    wide = ticker("BTCTRY", "1000000", "1011000")  # ~109 bps > 100
    assert ProfitAwareStrategy().propose(context([wide])) == []
    held = context([wide], positions={"BTCTRY": ("0.001", "900000")})
    assert ProfitAwareStrategy().propose(held) == []
    assert ProfitAwareStrategy(max_spread_bps=D(200)).propose(held) != []


def test_crossed_or_missing_ticker_proposes_nothing() -> None:
    assert ProfitAwareStrategy().propose(context([ticker("BTCTRY", "1000100", "1000000")])) == []
    ctx = context([ticker("BTCTRY")])
    ctx = type(ctx)(now_ms=NOW, symbols=("BTCTRY",), tickers={}, rules=ctx.rules)
    assert ProfitAwareStrategy().propose(ctx) == []


def test_no_duplicates_over_resting_orders() -> None:
    t = ticker("BTCTRY")
    open_buy = {"BTCTRY": OpenOrdersView(buys=1)}
    assert ProfitAwareStrategy().propose(context([t], open_orders=open_buy)) == []
    open_sell = {"BTCTRY": OpenOrdersView(sells=1)}
    held = context([t], positions={"BTCTRY": ("0.001", "900000")}, open_orders=open_sell)
    assert ProfitAwareStrategy().propose(held) == []


def test_unknown_cost_basis_does_nothing() -> None:
    ctx = context([ticker("BTCTRY")], positions={"BTCTRY": ("0.001", "0")})
    assert ProfitAwareStrategy().propose(ctx) == []


def test_dust_position_counts_as_flat() -> None:
    ctx = context([ticker("BTCTRY")], positions={"BTCTRY": ("0.00001", "900000")})  # ~10 TRY
    [intent] = ProfitAwareStrategy().propose(ctx)
    assert intent.side is Side.BUY


def test_entry_shrinks_to_free_balance_and_respects_minimum() -> None:
    t = ticker("BTCTRY", "1000000", "1000100")
    [intent] = ProfitAwareStrategy().propose(context([t], balances={"TRY": "300"}))
    assert intent.notional * (1 + D("0.0009")) <= D("300")  # room kept for the fee
    assert ProfitAwareStrategy().propose(context([t], balances={"TRY": "50"})) == []
    assert ProfitAwareStrategy().propose(context([t], budget="50")) == []


def test_usdt_pair_budget_is_converted_from_try() -> None:
    usdt = rules("BTCUSDT", quote="USDT", min_notional="10")
    t = ticker("BTCUSDT", "50000", "50001")
    ctx = context([t], extra_rules=[usdt], balances={"USDT": "100"})
    assert ProfitAwareStrategy().propose(ctx) == []  # no TRY rate: no entry
    ctx = context([t], extra_rules=[usdt], balances={"USDT": "100"}, quote_to_try={"USDT": D("40")})
    [intent] = ProfitAwareStrategy().propose(ctx)
    assert intent.notional == D("12.5")  # 500 TRY / 40


@given(
    cost=st.decimals(min_value=D("0.0001"), max_value=D("10000000"), places=4),
    fee=st.decimals(min_value=D(0), max_value=D("0.01"), places=5),
    margin=st.decimals(min_value=D(0), max_value=D(500), places=1),
)
def test_take_profit_price_always_meets_margin(
    cost: Decimal, fee: Decimal, margin: Decimal
) -> None:
    price = take_profit_price(cost, fee, margin)
    assert net_profit_bps(cost, price, fee) >= margin


# --- Mean reversion -----------------------------------------------------------------------------

BAND = [D(99), D(101)] * 10  # mean 100, std 1


def mr_ctx(
    bid: str,
    ask: str,
    position: tuple[str, str] | None = None,
    history: Sequence[Decimal] = BAND,
) -> StrategyContext:
    return context(
        [ticker("XTRY", bid, ask)],
        history={"XTRY": history},
        positions={"XTRY": position} if position else None,
    )


def test_mean_and_std() -> None:
    assert mean_and_std([D(v) for v in (2, 4, 4, 4, 5, 5, 7, 9)]) == (D(5), D(2))


def test_mean_reversion_buys_below_band_only() -> None:
    [intent] = MeanReversionStrategy().propose(mr_ctx("96.99", "97.01"))  # z = -3
    assert (intent.side, intent.kind, intent.price) == (Side.BUY, IntentKind.OPEN, D("96.99"))
    assert intent.key == "mean_reversion:XTRY:buy:entry"
    assert MeanReversionStrategy().propose(mr_ctx("98.49", "98.51")) == []  # z = -1.5
    assert MeanReversionStrategy(entry_z=D("1.4")).propose(mr_ctx("98.49", "98.51")) != []


def test_mean_reversion_exits_at_mean() -> None:
    [intent] = MeanReversionStrategy().propose(mr_ctx("99.99", "100.01", ("10", "97")))
    assert (intent.side, intent.kind, intent.price) == (Side.SELL, IntentKind.REDUCE, D("100.01"))
    assert intent.quantity == D(10)
    assert MeanReversionStrategy().propose(mr_ctx("98.99", "99.01", ("10", "97"))) == []
    # Holding below the band: no pyramiding.
    assert MeanReversionStrategy().propose(mr_ctx("96.99", "97.01", ("10", "97"))) == []


def test_mean_reversion_needs_a_full_window_and_variance() -> None:
    assert MeanReversionStrategy().propose(mr_ctx("90", "90.01", history=BAND[:19])) == []
    flat = [D(100)] * 20
    assert MeanReversionStrategy().propose(mr_ctx("90", "90.01", history=flat)) == []


# --- SMA cross ----------------------------------------------------------------------------------

# Down, then up through the slow average, then down through it again.
SERIES = [D(v) for v in (10, 9, 8, 7, 8, 9, 10, 11, 12, 11, 10, 9, 8, 7, 6)]


def test_sma_signals_on_a_handcrafted_series() -> None:
    strat = SmaCrossStrategy(fast=2, slow=4)
    signals = [strat.observe("X", c) for c in SERIES]
    assert signals.count(CROSS_UP) == 1 and signals.count(CROSS_DOWN) == 1
    assert signals.index(CROSS_UP) < signals.index(CROSS_DOWN)
    assert signals[:4] == [NO_CROSS] * 4  # first full window only records the relation


def test_sma_propose_buys_once_then_sells_once() -> None:
    strat = SmaCrossStrategy(fast=2, slow=4, quantity=D("0.01"))
    held: tuple[str, str] | None = None
    orders = []
    for step in range(1, len(SERIES) + 1):
        price = SERIES[step - 1] * 1000
        ctx = context(
            [ticker("XTRY", str(price), str(price + 1))],
            history={"XTRY": SERIES[:step]},
            positions={"XTRY": held} if held else None,
            now_ms=NOW + step,
        )
        for intent in strat.propose(ctx):
            orders.append((intent.side, intent.kind, intent.quantity))
            held = ("0.01", str(price)) if intent.side is Side.BUY else None  # assume it fills
        assert strat.propose(ctx) == []  # same step again: nothing consumed twice
    assert orders == [
        (Side.BUY, IntentKind.OPEN, D("0.01")),
        (Side.SELL, IntentKind.REDUCE, D("0.01")),
    ]


class CountingSeq(Sequence[Decimal]):
    """A history that counts element reads, to prove per-step work does not scale with it."""

    def __init__(self, values: list[Decimal]) -> None:
        self.values = values
        self.reads = 0

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, i: int) -> Decimal: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Decimal]: ...
    def __getitem__(self, i: int | slice) -> Decimal | Sequence[Decimal]:
        self.reads += 1
        return self.values[i]

    def __iter__(self) -> Iterator[Decimal]:
        for v in self.values:
            self.reads += 1
            yield v


def test_sma_is_o1_per_step() -> None:
    strat = SmaCrossStrategy(fast=10, slow=30)
    values = [D(100 + (i % 7)) for i in range(500)]
    hist = CountingSeq(values[:100])
    strat.propose(context([ticker("XTRY", "100", "100.01")], history={"XTRY": hist}, now_ms=1))
    assert hist.reads == 100  # one-time warm-up
    for step, value in enumerate(values[100:], start=2):
        hist.values.append(value)
        hist.reads = 0
        strat.propose(
            context([ticker("XTRY", "100", "100.01")], history={"XTRY": hist}, now_ms=step)
        )
        assert hist.reads == 1  # only the newest close, however long the history
    state = strat._states["XTRY"]
    assert len(state.fast_q) == 10 and len(state.slow_q) == 30
    # The running sums stay exact.
    assert state.slow_sum == sum(values[-30:], D(0))
    assert state.fast_sum == sum(values[-10:], D(0))


def test_sma_without_history_uses_the_mid() -> None:
    strat = SmaCrossStrategy(fast=1, slow=2)
    for step, mid in enumerate(("10", "9", "10"), start=1):
        out = strat.propose(context([ticker("XTRY", mid, mid)], now_ms=step))
    assert strat._states["XTRY"].relation == 1
    assert out == []  # crossed ticker (bid == ask): signal seen, no order priced from it


# --- Registry -----------------------------------------------------------------------------------


def test_registry_builds_every_strategy() -> None:
    for name in STRATEGIES:
        strategy = make_strategy(name)
        assert strategy.name == name
        assert strategy.propose(context([ticker()])) is not None


def test_make_strategy_coerces_config_text() -> None:
    s = make_strategy("profit_aware", min_profit_bps="40", max_spread_bps=80)
    assert isinstance(s, ProfitAwareStrategy)
    assert s.min_profit_bps == D(40) and s.max_spread_bps == D(80)
    m = make_strategy("sma_cross", fast="5", slow=20, quantity="0.02")
    assert isinstance(m, SmaCrossStrategy) and (m.fast, m.slow, m.quantity) == (5, 20, D("0.02"))


def test_make_strategy_errors_name_the_problem() -> None:
    with pytest.raises(StrategyConfigError, match=r"unknown strategy 'nope'.*mean_reversion"):
        make_strategy("nope")
    with pytest.raises(StrategyConfigError, match=r"no parameter.*windw.*accepted: .*window"):
        make_strategy("mean_reversion", windw=5)
    with pytest.raises(StrategyConfigError, match="refusing float"):
        make_strategy("mean_reversion", entry_z=2.0)
    with pytest.raises(StrategyConfigError, match="expected an integer"):
        make_strategy("mean_reversion", window=2.5)
    with pytest.raises(StrategyConfigError, match="fast < slow"):
        make_strategy("sma_cross", fast=30, slow=10)
    with pytest.raises(StrategyConfigError, match="_states"):
        make_strategy("sma_cross", _states={})
