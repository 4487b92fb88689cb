"""Turning fills and starting funds into append-only ledger events (pure, Decimal only).

One fill becomes, in this order (all with `ref` = the trade id as text, so a replay can dedupe):

- FILL: `asset` = base, `quantity` = +qty for a buy / -qty for a sell, `amount_quote` = the quote
  money moved the other way (-qty*price for a buy, +qty*price for a sell), `price` = fill price.
  The quote currency is not stored separately: BTCTurk names every pair numerator + denominator
  (reference section 7), so the quote is the pair symbol with the base prefix removed.
- FEE: `asset` = fee asset, `quantity` = -fee, `amount_quote` = -fee (the fee is in the quote).
- TAX: BTCTurk's separate `tax` field, booked like the fee but apart from it.
- FEE_CONVERSION, only when the fee asset is not TRY (a USDT-quoted pair): `quantity` = 0 (no
  balance moves), `price` = the quote currency's TRY mark at fill time, `amount_quote` =
  -(fee + tax). The rate fixes the TRY value of this trade's fee and tax (and of its realized PnL
  and turnover) once and for all, so later USDTTRY moves don't rewrite history.

The persisted shape is `domain.records.LedgerEvent`, unchanged: every field used here already has
a column in the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from functools import lru_cache

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.money import ZERO, MoneyError, fmt, to_decimal
from btcbot_engine.domain.orders import Side
from btcbot_engine.domain.records import LedgerEvent, LedgerKind

HOME_CURRENCY = "TRY"
"""The currency PnL, equity and limits are reported in."""

OPENING_REF = "opening"
"""`ref` of the ADJUSTMENT events written by `opening_balance_events`."""

# Every ledger computation runs in this context, whatever the caller's thread context is, so a
# replay gives bit-identical Decimals anywhere. 60 digits keep every sum and product of realistic
# amounts exact (8-dp quantities x 18-dp average costs stay far below 60 digits); only the
# average-cost division rounds, and the ledger is built so that rounding never leaks into cash.
LEDGER_CONTEXT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    Emin=-999999,
    Emax=999999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)


class LedgerInputError(ValueError):
    """A fill or balance that cannot be turned into ledger events (a caller or parser bug)."""


def split_pair(
    symbol: str, *, base: str | None = None, quote: str | None = None
) -> tuple[str, str]:
    """Return (base, quote) of `symbol` given one side of it; raise LedgerInputError otherwise.

    BTCTurk pair names are numerator + denominator ("BTCTRY"); the normalized "BTC_TRY" form is
    accepted too. Assets come back upper-case.
    """
    name = symbol.upper().replace("_", "")
    if base is not None:
        b = base.upper()
        if name.startswith(b) and len(name) > len(b):
            return b, name[len(b) :]
        raise LedgerInputError(f"symbol {symbol!r} does not start with base {base!r}")
    if quote is not None:
        q = quote.upper()
        if name.endswith(q) and len(name) > len(q):
            return name[: -len(q)], q
        raise LedgerInputError(f"symbol {symbol!r} does not end with quote {quote!r}")
    raise LedgerInputError("split_pair needs the base or the quote")


@lru_cache(maxsize=4096)
def _split_on_base(symbol: str, base: str) -> tuple[str, str]:
    # split_pair is pure and asked for on every fill of a handful of pairs; a failure raises
    # and is not remembered.
    return split_pair(symbol, base=base)


def _money(value: object, field: str, *, positive: bool = False) -> Decimal:
    if type(value) is Decimal and value.is_finite():
        result = value  # what to_decimal returns for a finite Decimal, without the checks' cost
    else:
        try:
            result = to_decimal(value, field=field)
        except MoneyError as exc:
            raise LedgerInputError(str(exc)) from None
    if result < 0 or (positive and result == 0):
        raise LedgerInputError(f"{field}: {result} must be {'above' if positive else 'at least'} 0")
    return result


def events_from_fill(
    fill: Fill, *, quote_to_try: Decimal, ts_ms: int | None = None
) -> list[LedgerEvent]:
    """The append-only events for one fill: FILL, FEE, TAX, and FEE_CONVERSION off TRY pairs.

    `quote_to_try` is the TRY mark of the pair's quote currency at fill time (1 for TRY pairs;
    anything else on a TRY pair is refused). `ts_ms` defaults to the fill's own timestamp.
    Raises LedgerInputError for a fill the ledger could not book correctly (non-positive
    quantity or price, negative fee, a symbol that is not base + quote, a fee charged in another
    asset than the quote).
    """
    base, quote = fill.base.upper(), fill.quote.upper()
    if _split_on_base(fill.symbol, base) != (base, quote):
        raise LedgerInputError(f"symbol {fill.symbol!r} is not {base} + {quote}")
    fee_asset = fill.fee_asset.upper()
    if fee_asset != quote:
        # BTCTurk charges in the quote (commissionFromNumerator: false). A fee in the base would
        # also shrink the position, which this ledger does not model; refuse rather than guess.
        raise LedgerInputError(
            f"trade {fill.trade_id}: fee asset {fee_asset} is not the quote {quote}"
        )
    quantity = _money(fill.quantity, "quantity", positive=True)
    price = _money(fill.price, "price", positive=True)
    fee = _money(fill.fee, "fee")
    tax = _money(fill.tax, "tax")
    rate = _money(quote_to_try, "quote_to_try", positive=True)
    if quote == HOME_CURRENCY and rate != 1:
        raise LedgerInputError(f"quote_to_try for a {HOME_CURRENCY} pair must be 1, got {rate}")
    ts = fill.timestamp_ms if ts_ms is None else ts_ms
    ref = str(fill.trade_id)
    symbol = fill.symbol
    with_ctx = LEDGER_CONTEXT
    notional = with_ctx.multiply(quantity, price)
    buy = fill.side is Side.BUY
    # Positional, in LedgerEvent's field order (ts_ms, kind, asset, quantity, amount_quote,
    # symbol, price, ref, detail): a third cheaper to build than with keywords, and every fill
    # builds three or four.
    events = [
        LedgerEvent(
            ts,
            LedgerKind.FILL,
            base,
            quantity if buy else -quantity,
            -notional if buy else notional,
            symbol,
            price,
            ref,
            f"{fill.side.value} {fmt(quantity)} {base} @ {fmt(price)} {quote}"
            f" (order {fill.order_id})",
        ),
        LedgerEvent(
            ts,
            LedgerKind.FEE,
            fee_asset,
            -fee,
            -fee,
            symbol,
            None,
            ref,
            f"fee {fmt(fee)} {fee_asset}",
        ),
        LedgerEvent(
            ts,
            LedgerKind.TAX,
            fee_asset,
            -tax,
            -tax,
            symbol,
            None,
            ref,
            f"tax {fmt(tax)} {fee_asset}",
        ),
    ]
    if fee_asset != HOME_CURRENCY:
        costs = with_ctx.add(fee, tax)
        events.append(
            LedgerEvent(
                ts_ms=ts,
                kind=LedgerKind.FEE_CONVERSION,
                asset=fee_asset,
                quantity=ZERO,
                amount_quote=-costs,
                symbol=symbol,
                price=rate,
                ref=ref,
                detail=(
                    f"fee {fmt(fee)} + tax {fmt(tax)} {fee_asset} at {fmt(rate)}"
                    f" {HOME_CURRENCY}/{fee_asset} = {fmt(with_ctx.multiply(costs, rate))}"
                    f" {HOME_CURRENCY}"
                ),
            )
        )
    return events


def opening_balance_events(
    balances: Mapping[str, Decimal],
    ts_ms: int,
    *,
    cost_basis: Mapping[str, tuple[str, Decimal]] | None = None,
    ref: str = OPENING_REF,
) -> list[LedgerEvent]:
    """ADJUSTMENT events that put starting funds on the books, so equity has a base.

    `balances` maps asset -> total balance (zero balances are skipped; negative ones refused).
    Without `cost_basis` an asset only becomes cash: it counts in equity, but it is not a
    position, so selling it is an oversell (`ledger:negative_position`) — the bot sells only what
    it bought unless told the cost. `cost_basis` maps asset -> (pair symbol, average cost in that
    pair's quote) to open a position for coins held before the bot started.
    """
    cost_basis = cost_basis or {}
    events: list[LedgerEvent] = []
    for asset in sorted(balances, key=str.upper):
        quantity = _money(balances[asset], f"balance {asset}")
        if quantity == 0:
            continue
        name = asset.upper()
        symbol: str | None = None
        price: Decimal | None = None
        amount = ZERO  # value unknown here; `Ledger.mark` values cash at mark time
        if asset in cost_basis:
            symbol, raw_cost = cost_basis[asset]
            split_pair(symbol, base=name)
            price = _money(raw_cost, f"cost basis {asset}", positive=True)
            amount = LEDGER_CONTEXT.multiply(quantity, price)
        events.append(
            LedgerEvent(
                ts_ms=ts_ms,
                kind=LedgerKind.ADJUSTMENT,
                asset=name,
                quantity=quantity,
                amount_quote=amount,
                symbol=symbol,
                price=price,
                ref=ref,
                detail=f"opening balance {fmt(quantity)} {name}"
                + (f" at cost {fmt(price)}" if price is not None else ""),
            )
        )
    return events
