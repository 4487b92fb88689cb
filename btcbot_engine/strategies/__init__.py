"""Strategies: pure functions of a `StrategyContext` to `Intent`s, and a registry by name.

`make_strategy("profit_aware", min_profit_bps="40")` builds one from config text: Decimal
parameters accept str/int/Decimal (never float), int parameters accept int or an integer string.
Unknown names and unknown parameters are refused with the valid choices in the message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal

from btcbot_engine.domain.money import MoneyError, to_decimal
from btcbot_engine.strategies.base import (
    FeeRates,
    OpenOrdersView,
    PositionView,
    Strategy,
    StrategyContext,
)
from btcbot_engine.strategies.canary import CanaryStrategy
from btcbot_engine.strategies.mean_reversion import MeanReversionStrategy
from btcbot_engine.strategies.profit_aware import ProfitAwareStrategy
from btcbot_engine.strategies.sma_cross import SmaCrossStrategy

__all__ = [
    "STRATEGIES",
    "CanaryStrategy",
    "FeeRates",
    "MeanReversionStrategy",
    "OpenOrdersView",
    "PositionView",
    "ProfitAwareStrategy",
    "SmaCrossStrategy",
    "Strategy",
    "StrategyConfigError",
    "StrategyContext",
    "make_strategy",
]

STRATEGIES: dict[str, Callable[..., Strategy]] = {
    "profit_aware": ProfitAwareStrategy,
    "mean_reversion": MeanReversionStrategy,
    "sma_cross": SmaCrossStrategy,
    # The bounded live canary's one passive BUY; built by btcbot_engine.canary, not by STRATEGY.
    "canary": CanaryStrategy,
}


class StrategyConfigError(ValueError):
    """A strategy name or parameter that cannot be used; the message lists the valid choices."""


def make_strategy(name: str, **params: object) -> Strategy:
    """Build the registered strategy `name` with `params`, checked and coerced."""
    factory = STRATEGIES.get(name)
    if factory is None:
        known = ", ".join(sorted(STRATEGIES))
        raise StrategyConfigError(f"unknown strategy {name!r}; known strategies: {known}")
    if not dataclasses.is_dataclass(factory):
        return factory(**params)  # a registered plain callable checks its own arguments
    fields = {f.name: f for f in dataclasses.fields(factory) if f.init}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise StrategyConfigError(
            f"strategy {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(fields))}"
        )
    kwargs = {key: _coerce(name, key, fields[key].default, value) for key, value in params.items()}
    try:
        return factory(**kwargs)
    except ValueError as exc:
        raise StrategyConfigError(f"strategy {name!r}: {exc}") from exc


def _coerce(strategy: str, key: str, default: object, value: object) -> object:
    """Coerce by the type of the field's default, so config strings work and floats never do."""
    where = f"strategy {strategy!r} parameter {key!r}"
    if isinstance(default, Decimal):
        try:
            return to_decimal(value, field=key)
        except MoneyError as exc:
            raise StrategyConfigError(f"{where}: {exc}") from exc
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise StrategyConfigError(f"{where}: expected an integer, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise StrategyConfigError(f"{where}: expected text, got {value!r}")
    return value
