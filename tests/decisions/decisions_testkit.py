"""Hand-built rules, tickers and contexts for the decision tests (no I/O, no floats)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from btcbot_engine.domain.market import Ticker
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.strategies.base import (
    FeeRates,
    OpenOrdersView,
    PositionView,
    StrategyContext,
)

D = Decimal
NOW = 1_700_000_000_000


def rules(
    symbol: str = "BTCTRY",
    *,
    base: str | None = None,
    quote: str = "TRY",
    status: str = "TRADING",
    min_notional: str = "100",
    quantity_scale: int = 8,
) -> SymbolRules:
    """Rules for a pair; base defaults to the symbol minus the quote."""
    return SymbolRules(
        symbol=symbol,
        base=base or symbol.removesuffix(quote),
        quote=quote,
        status=status,
        price_scale=2,
        quantity_scale=quantity_scale,
        tick_size=D("0.01"),
        min_notional=D(min_notional),
    )


def ticker(
    symbol: str = "BTCTRY",
    bid: str = "1000000",
    ask: str = "1000100",
    *,
    volume: str = "100",
    average: str | None = None,
    received_at_ms: int = NOW,
) -> Ticker:
    """A ticker; 24h quote volume = volume * average (average defaults to the bid)."""
    return Ticker(
        symbol=symbol,
        bid=D(bid),
        ask=D(ask),
        last=D(bid),
        high=D(ask),
        low=D(bid),
        volume=D(volume),
        average=D(average or bid),
        exchange_ts_ms=received_at_ms,
        received_at_ms=received_at_ms,
    )


def context(
    tickers: Sequence[Ticker],
    *,
    positions: Mapping[str, tuple[str, str]] | None = None,
    open_orders: Mapping[str, OpenOrdersView] | None = None,
    balances: Mapping[str, str] | None = None,
    budget: str = "500",
    history: Mapping[str, Sequence[Decimal]] | None = None,
    now_ms: int = NOW,
    fees: FeeRates | None = None,
    extra_rules: Sequence[SymbolRules] = (),
    quote_to_try: Mapping[str, Decimal] | None = None,
) -> StrategyContext:
    """A strategy context over `tickers` (all TRY pairs unless `extra_rules` says otherwise)."""
    by_symbol = {t.symbol: t for t in tickers}
    all_rules = {s: rules(s) for s in by_symbol}
    all_rules.update({r.symbol: r for r in extra_rules})
    return StrategyContext(
        now_ms=now_ms,
        symbols=tuple(by_symbol),
        tickers=by_symbol,
        rules=all_rules,
        positions={
            s: PositionView(symbol=s, quantity=D(q), avg_cost=D(c))
            for s, (q, c) in (positions or {}).items()
        },
        open_orders=open_orders or {},
        quote_balances={k: D(v) for k, v in (balances or {"TRY": "10000"}).items()},
        fees=fees or FeeRates(),
        budget_per_order_try=D(budget),
        quote_to_try=quote_to_try or {},
        history=history or {},
    )
