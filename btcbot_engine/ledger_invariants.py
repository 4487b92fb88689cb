"""Ledger invariants: what must hold before the engine may trade on the ledger's numbers.

The engine forces OBSERVE_ONLY on any violation, so a false positive stops trading: balances are
compared within a tolerance (fee rounding), never exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from btcbot_engine.domain.money import ZERO, fmt, to_decimal
from btcbot_engine.ledger_events import LEDGER_CONTEXT

if TYPE_CHECKING:
    from btcbot_engine.ledger import Ledger

NEGATIVE_POSITION = "ledger:negative_position"
NEGATIVE_CASH = "ledger:negative_cash"
BALANCE_MISMATCH = "ledger:balance_mismatch"
MISSING_RATE = "ledger:missing_rate"
MALFORMED_EVENT = "ledger:malformed_event"
CONFLICTING_DUPLICATE = "ledger:conflicting_duplicate"

DEFAULT_TOLERANCE_KEY = "*"
"""In a per-asset tolerance mapping, the tolerance for assets not named in it."""


@dataclass(frozen=True, slots=True)
class InvariantViolation:
    """One broken invariant: a stable `code` (e.g. `ledger:balance_mismatch`), the asset or
    symbol it is about, and a human `detail` naming both figures."""

    code: str
    subject: str
    detail: str


def _tolerance_for(tolerance: Mapping[str, Decimal] | Decimal, asset: str) -> Decimal:
    if isinstance(tolerance, Decimal):
        return tolerance
    if asset in tolerance:
        return tolerance[asset]
    return tolerance.get(DEFAULT_TOLERANCE_KEY, ZERO)


def _decimal(value: object) -> Decimal:
    if type(value) is Decimal and value.is_finite():
        return value  # what to_decimal returns for it, without the checks it would pass
    return to_decimal(value)


def _normalized(tolerance: Mapping[str, Decimal] | Decimal) -> Mapping[str, Decimal] | Decimal:
    # Negative tolerances would flag equal figures; take magnitudes. Floats are refused.
    if isinstance(tolerance, Mapping):
        return {asset.upper(): abs(_decimal(value)) for asset, value in tolerance.items()}
    return abs(to_decimal(tolerance, field="tolerance"))


def check_invariants(
    ledger: Ledger,
    exchange_balances: Mapping[str, Decimal] | None,
    tolerance: Mapping[str, Decimal] | Decimal,
) -> list[InvariantViolation]:
    """Every violation, in a stable order: those recorded while applying events (oversells,
    malformed or conflicting events), negative positions and cash, rates still missing, then
    cash against the exchange's total balances (free + locked) when they are given.

    `tolerance` is one Decimal for every asset or a per-asset mapping; in a mapping, the `"*"`
    key covers the assets it does not name, and without it they are compared exactly. Prefer the
    mapping: one figure for every asset means 0.01 TRY and 0.01 BTC alike. An asset
    the exchange does not list counts as a zero balance there (and vice versa), so coins the
    ledger never heard of (a deposit, an airdrop) are a mismatch until booked as an ADJUSTMENT.
    """
    tolerance = _normalized(tolerance)
    violations = list(ledger.violations)
    for position in ledger.positions():
        if position.quantity < 0:
            violations.append(
                InvariantViolation(
                    NEGATIVE_POSITION,
                    position.symbol,
                    f"{position.symbol} position is {fmt(position.quantity)} {position.base}",
                )
            )
    balances = ledger.balances()
    for asset in sorted(balances):
        amount = balances[asset]
        if amount < -_tolerance_for(tolerance, asset):
            violations.append(
                InvariantViolation(
                    NEGATIVE_CASH, asset, f"ledger {asset} balance is {fmt(amount)}, below zero"
                )
            )
    for symbol, ref in ledger.unconverted_trades():
        violations.append(
            InvariantViolation(
                MISSING_RATE,
                symbol,
                f"{symbol} trade {ref}: no FEE_CONVERSION rate, its TRY figures are not booked",
            )
        )
    if exchange_balances is not None:
        exchange = {}
        for asset, amount in exchange_balances.items():
            if type(amount) is Decimal and amount.is_finite():
                exchange[asset.upper()] = amount  # to_decimal's result, without its checks
            else:
                exchange[asset.upper()] = to_decimal(amount, field=f"exchange balance {asset}")
        subtract = LEDGER_CONTEXT.subtract  # `ours - theirs` in the ledger context
        for asset in sorted(set(balances) | set(exchange)):
            ours = balances.get(asset, ZERO)
            theirs = exchange.get(asset, ZERO)
            allowed = _tolerance_for(tolerance, asset)
            difference = subtract(ours, theirs)
            if abs(difference) > allowed:
                violations.append(
                    InvariantViolation(
                        BALANCE_MISMATCH,
                        asset,
                        f"{asset}: ledger {fmt(ours)} vs exchange {fmt(theirs)}"
                        f" (difference {fmt(difference)}, tolerance {fmt(allowed)})",
                    )
                )
    return violations
