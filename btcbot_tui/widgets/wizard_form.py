"""The canary wizard's plan form: parse what the operator typed into a CanaryPlan, or say why not.

Pure functions, no widgets: each field parser returns `(value, error)` where `error` is one short
line naming what is wrong. Money is parsed straight from the typed text into a Decimal (never via
float). The engine re-checks every cap when it receives the plan; this is the operator's early,
readable refusal, not the safety boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.domain.canary import CanaryPlan

TTL_MIN_SECONDS = 5
TTL_MAX_SECONDS = 3600
MAX_CYCLES_LIMIT = 20
TRY_DECIMALS = 2  # kuruş

# ASCII digits only: `\d` (and Decimal) would also take other scripts' digits, e.g. "١٢٣".
_PLAIN_NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_PLAIN_INT = re.compile(r"^[0-9]+$")


def _fmt_try(amount: Decimal) -> str:
    return f"{amount.normalize():f} TRY"


def parse_notional(
    text: str, *, max_notional: Decimal, min_notional: Decimal = Decimal(0)
) -> tuple[Decimal | None, str]:
    """Parse the notional in TRY; capped by MAX_NOTIONAL_PER_ORDER_TRY, at least the minimum."""
    raw = text.strip()
    if not raw:
        return None, "notional is required, in TRY (e.g. 150)"
    if "," in raw and _PLAIN_NUMBER.match(raw.replace(",", ".")):
        return None, f"use a dot for decimals: {raw.replace(',', '.')}"
    if raw.startswith("-"):
        return None, "notional must be more than 0 TRY"
    if not _PLAIN_NUMBER.match(raw):
        return None, f"{raw!r} is not an amount; type digits like 150 or 150.50"
    value = Decimal(raw)
    if value <= 0:
        return None, "notional must be more than 0 TRY"
    if -value.as_tuple().exponent > TRY_DECIMALS:  # type: ignore[operator]
        return None, f"TRY has at most {TRY_DECIMALS} decimal places"
    if value > max_notional:
        return None, (
            f"{_fmt_try(value)} is above MAX_NOTIONAL_PER_ORDER_TRY ({_fmt_try(max_notional)})"
        )
    if value < min_notional:
        return None, (
            f"{_fmt_try(value)} is below MIN_ORDER_NOTIONAL_TRY ({_fmt_try(min_notional)})"
        )
    return value, ""


def parse_ttl(text: str) -> tuple[int | None, str]:
    """Parse the order TTL in whole seconds."""
    raw = text.strip()
    if not raw:
        return None, "TTL is required, in seconds (e.g. 30)"
    if not _PLAIN_INT.match(raw):
        return None, f"{raw!r} is not whole seconds; type digits like 30"
    value = int(raw)
    if not TTL_MIN_SECONDS <= value <= TTL_MAX_SECONDS:
        return None, f"TTL must be {TTL_MIN_SECONDS}..{TTL_MAX_SECONDS} seconds"
    return value, ""


def parse_cycles(text: str) -> tuple[int | None, str]:
    """Parse the maximum number of canary cycles."""
    raw = text.strip()
    if not raw:
        return None, "max cycles is required (e.g. 1)"
    if not _PLAIN_INT.match(raw):
        return None, f"{raw!r} is not a whole number; type digits like 3"
    value = int(raw)
    if not 1 <= value <= MAX_CYCLES_LIMIT:
        return None, f"max cycles must be 1..{MAX_CYCLES_LIMIT}"
    return value, ""


@dataclass(frozen=True, slots=True)
class PlanForm:
    """The parsed form: a plan when every field is valid, else one error line per bad field."""

    plan: CanaryPlan | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the plan can be submitted."""
        return self.plan is not None


def parse_plan_form(
    *,
    symbol: str | None,
    symbols: tuple[str, ...],
    notional: str,
    ttl: str,
    cycles: str,
    max_notional: Decimal,
    min_notional: Decimal = Decimal(0),
) -> PlanForm:
    """Parse every field of the form; the plan only when all of them are valid."""
    errors: dict[str, str] = {}
    if not symbol:
        errors["symbol"] = "choose a symbol from the universe"
    elif symbol not in symbols:
        errors["symbol"] = f"{symbol} is not in the universe"
    amount, errors["notional"] = parse_notional(
        notional, max_notional=max_notional, min_notional=min_notional
    )
    ttl_s, errors["ttl"] = parse_ttl(ttl)
    n, errors["cycles"] = parse_cycles(cycles)
    errors = {k: v for k, v in errors.items() if v}
    if errors or symbol is None or amount is None or ttl_s is None or n is None:
        return PlanForm(None, errors)
    plan = CanaryPlan(symbol=symbol, notional_try=amount, ttl_seconds=float(ttl_s), max_cycles=n)
    return PlanForm(plan)
