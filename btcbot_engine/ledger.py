"""The event-sourced ledger: cash, positions and PnL rebuilt by applying ledger events in order.

Pure Python, Decimal only, no I/O. The store persists `LedgerEvent`s; `Ledger.replay(events)`
rebuilds the same state the engine had, and `Ledger.mark(...)` values it in TRY.

Accounting choices (each one documented where it is implemented):

- Average cost, per pair symbol, in the pair's quote currency. Buys raise the cost basis by what
  they paid; sells realize proceeds minus the cost basis they remove.
- Fees and tax are NOT folded into the cost basis: they are booked separately as costs (in the
  quote and in TRY), so `net = realized + unrealized - fees - tax`, and a position's average cost
  is the plain price paid, comparable with the market.
- The cost basis is the exact state; the average cost is derived from it (rounded to 18 decimal
  places) and is what a sell removes. The tiny rounding residue is realized by the next sell, so
  realized + unrealized - fees - tax always equals the change in cash-plus-holdings exactly.
- Every TRY figure of a trade (realized PnL, fee, tax, turnover) is fixed at fill time with the
  quote's TRY rate from the trade's FEE_CONVERSION event (1 for TRY pairs). Unrealized PnL and
  equity use the marks given to `mark`.
- A sell of more than the position is an invariant violation (`ledger:negative_position`): it is
  recorded, the position stops at zero, only the held part realizes PnL, and cash still moves by
  the full amount (cash mirrors the exchange, positions mirror what the bot bought).
- Events with a `ref` are deduplicated on (kind, symbol, ref, asset): an identical repeat is
  ignored (counted), a different event under the same key is `ledger:conflicting_duplicate`.
- Malformed events are recorded as `ledger:malformed_event` and skipped; `apply` never raises for
  bad data, so one bad row cannot stop the engine from reaching OBSERVE_ONLY.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, localcontext
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from btcbot_engine.domain.market import normalize_symbol
from btcbot_engine.domain.money import ZERO, MoneyError, fmt, to_decimal
from btcbot_engine.domain.records import LedgerEvent, LedgerKind
from btcbot_engine.ledger_events import (
    HOME_CURRENCY,
    LEDGER_CONTEXT,
    OPENING_REF,
    LedgerInputError,
    events_from_fill,
    opening_balance_events,
    split_pair,
)
from btcbot_engine.ledger_invariants import (
    CONFLICTING_DUPLICATE,
    MALFORMED_EVENT,
    NEGATIVE_POSITION,
    InvariantViolation,
    check_invariants,
)

__all__ = [
    "AVG_COST_QUANTUM",
    "HOME_CURRENCY",
    "OPENING_REF",
    "CashSnapshot",
    "InvariantViolation",
    "Ledger",
    "LedgerInputError",
    "LedgerState",
    "PnlSnapshot",
    "PositionSnapshot",
    "PositionState",
    "check_invariants",
    "events_from_fill",
    "istanbul_day_start_ms",
    "opening_balance_events",
]

AVG_COST_QUANTUM = Decimal("1e-18")
"""Average costs are kept to 18 decimal places: exact enough for any quote, and it bounds the
digits of quantity x average cost so those products stay exact in the ledger context."""

PCT_QUANTUM = Decimal("1e-8")
# Valuation plans a Ledger remembers (see Ledger._plan); only a handful are ever in use.
_MAX_PLANS = 64
_HUNDRED = Decimal(100)
_ONE = Decimal(1)

ISTANBUL_TZ_NAME = "Europe/Istanbul"
# Turkey has stayed on +03:00 all year since September 2016, so this is exact for any date the
# bot trades on; it is only used when the tz database is missing (slim containers, Windows).
_ISTANBUL_FALLBACK = timezone(timedelta(hours=3), "+03")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@lru_cache(maxsize=1)
def _istanbul_tz() -> tzinfo:
    try:
        return ZoneInfo(ISTANBUL_TZ_NAME)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _ISTANBUL_FALLBACK


# (day start, next day start) of the last answer: every cycle asks, nearly always the same day.
_DAY_CACHE: tuple[int, int] = (0, 0)
_HOURS_26_MS = 26 * 3_600_000  # past the end of any day, DST days included, not past the next


def istanbul_day_start_ms(now_ms: int) -> int:
    """Epoch ms of the Europe/Istanbul midnight that starts the day containing `now_ms`.

    Daily loss limits reset at Turkish midnight (the exchange's and the operator's day), not UTC.
    Falls back to a fixed +03:00 offset when the tz database is missing.
    """
    global _DAY_CACHE
    start, end = _DAY_CACHE
    if start <= now_ms < end:
        return start
    start = _day_start(now_ms)
    _DAY_CACHE = (start, _day_start(start + _HOURS_26_MS))
    return start


def _day_start(now_ms: int) -> int:
    tz = _istanbul_tz()
    # Integer arithmetic only: timedelta(milliseconds=int) is exact, datetime.timestamp() is not.
    local = (_EPOCH + timedelta(milliseconds=now_ms)).astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - _EPOCH) // _ONE_MS


# -- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionState:
    """One pair's books: position and cost basis in the quote, PnL and costs in quote and TRY.

    `cost_basis` is what the open quantity cost (fees excluded); `avg_cost` = cost_basis /
    quantity rounded to 18 places. `realized_try`, `fees_try`, `tax_try` and `turnover_try` use
    each trade's rate at fill time.
    """

    symbol: str
    base: str
    quote: str
    quantity: Decimal
    cost_basis: Decimal
    avg_cost: Decimal
    realized_quote: Decimal
    realized_try: Decimal
    fees_quote: Decimal
    fees_try: Decimal
    tax_quote: Decimal
    tax_try: Decimal
    turnover_quote: Decimal
    turnover_try: Decimal
    fills: int


@dataclass(frozen=True, slots=True)
class LedgerState:
    """Everything a Ledger holds, frozen: two ledgers with equal states give equal snapshots."""

    balances: tuple[tuple[str, Decimal], ...]
    positions: tuple[PositionState, ...]
    violations: tuple[InvariantViolation, ...]
    rates: tuple[tuple[str, str | None, Decimal], ...]
    unconverted: tuple[tuple[str, str | None], ...]
    daily: tuple[tuple[int, Decimal, Decimal], ...]
    peak_equity_try: Decimal | None
    events_applied: int
    duplicates_ignored: int


@dataclass(slots=True)
class _Book:
    """Mutable per-symbol accumulator behind PositionState."""

    symbol: str
    base: str
    quote: str
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    avg_cost: Decimal = ZERO
    realized_quote: Decimal = ZERO
    realized_try: Decimal = ZERO
    fees_quote: Decimal = ZERO
    fees_try: Decimal = ZERO
    tax_quote: Decimal = ZERO
    tax_try: Decimal = ZERO
    turnover_quote: Decimal = ZERO
    turnover_try: Decimal = ZERO
    fills: int = 0

    def freeze(self) -> PositionState:
        return PositionState(
            symbol=self.symbol,
            base=self.base,
            quote=self.quote,
            quantity=self.quantity,
            cost_basis=self.cost,
            avg_cost=self.avg_cost,
            realized_quote=self.realized_quote,
            realized_try=self.realized_try,
            fees_quote=self.fees_quote,
            fees_try=self.fees_try,
            tax_quote=self.tax_quote,
            tax_try=self.tax_try,
            turnover_quote=self.turnover_quote,
            turnover_try=self.turnover_try,
            fills=self.fills,
        )


@dataclass(frozen=True, slots=True)
class _TradeFigures:
    """Quote-currency figures of one event waiting for its trade's TRY rate."""

    ts_ms: int
    realized: Decimal
    fee: Decimal
    tax: Decimal
    turnover: Decimal


# -- snapshots -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """One pair marked: position, average cost, mark and PnL. `mark` is None when no price was
    given; unrealized figures are then zero and the symbol is listed in `PnlSnapshot.unpriced`."""

    symbol: str
    base: str
    quote: str
    quantity: Decimal
    avg_cost: Decimal
    cost_basis: Decimal
    mark: Decimal | None
    unrealized_quote: Decimal
    unrealized_try: Decimal
    realized_quote: Decimal
    realized_try: Decimal
    fees_try: Decimal
    tax_try: Decimal
    turnover_try: Decimal


@dataclass(frozen=True, slots=True)
class CashSnapshot:
    """One asset's ledger balance and its TRY value (None when no mark was available)."""

    asset: str
    quantity: Decimal
    mark_try: Decimal | None
    value_try: Decimal | None


@dataclass(frozen=True, slots=True)
class PnlSnapshot:
    """The ledger valued in TRY at `ts_ms`.

    `net_pnl_try` = realized + unrealized - fees - tax. `equity_try` values every cash balance
    (base coins included, so positions are not counted twice) at its TRY mark. Peak and drawdown
    come from the Ledger's peak, which only complete marks (nothing in `unpriced`) move.
    `drawdown_pct` is in percent of the peak. Day figures start at Istanbul midnight.
    """

    ts_ms: int
    positions: tuple[PositionSnapshot, ...]
    cash: tuple[CashSnapshot, ...]
    realized_try: Decimal
    unrealized_try: Decimal
    fees_try: Decimal
    tax_try: Decimal
    net_pnl_try: Decimal
    equity_try: Decimal
    peak_equity_try: Decimal
    drawdown_try: Decimal
    drawdown_pct: Decimal
    turnover_try: Decimal
    day_start_ms: int
    realized_today_try: Decimal
    loss_today_try: Decimal
    unpriced: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """True when every balance and open position had a mark."""
        return not self.unpriced

    def position(self, symbol: str) -> PositionSnapshot | None:
        """The snapshot of `symbol` (any spelling: BTCTRY, BTC_TRY, btctry), or None."""
        key = normalize_symbol(symbol)
        return next((p for p in self.positions if p.symbol == key), None)


# -- the ledger ----------------------------------------------------------------------------------


class _Malformed(Exception):
    pass


def _total(values: Iterable[Decimal]) -> Decimal:
    # Sums run in the ledger context too: the caller's thread context might round at 28 digits.
    total = ZERO
    add = LEDGER_CONTEXT.add
    for value in values:
        total = add(total, value)
    return total


def _loss(net: Decimal) -> Decimal:
    """A day's net realized result as a loss magnitude (zero on a winning day)."""
    return -net if net < 0 else ZERO


@lru_cache(maxsize=4096)
def _canonical(symbol: str) -> str:
    # Pure and asked for on every event: a handful of distinct pairs, so remembered.
    return normalize_symbol(symbol)


@lru_cache(maxsize=4096)
def _split(symbol: str, base: str | None, quote: str | None) -> tuple[str, str]:
    # split_pair is pure; a failure raises and is not remembered.
    return split_pair(symbol, base=base, quote=quote)


def _mark_value(value: object, what: str, name: str) -> Decimal:
    if type(value) is Decimal and value.is_finite():
        return value  # what to_decimal returns for it, without building the field name
    return to_decimal(value, field=f"{what} {name}")


def _dec(value: object, field: str) -> Decimal:
    if type(value) is Decimal and value.is_finite():
        return value  # what to_decimal returns for it, without the checks it would pass
    try:
        return to_decimal(value, field=field)
    except MoneyError as exc:
        raise _Malformed(str(exc)) from None


def _average(cost: Decimal, quantity: Decimal) -> Decimal:
    return (cost / quantity).quantize(AVG_COST_QUANTUM)


@dataclass(slots=True)
class _Row:
    """A LedgerEvent checked and normalized once: Decimals (no float), upper-case asset,
    canonical symbol. Raises _Malformed or ValueError for a row that cannot be booked.

    Not frozen, though never changed: one is built per event, and a frozen dataclass pays an
    object.__setattr__ call per field to be built.
    """

    kind: LedgerKind
    asset: str
    symbol: str | None
    quantity: Decimal
    amount: Decimal
    price: Decimal | None
    ref: str | None
    ts_ms: int

    @classmethod
    def parse(cls, event: LedgerEvent) -> _Row:
        kind = event.kind
        # Positional, in field order (kind, asset, symbol, quantity, amount, price, ref, ts_ms):
        # cheaper than keywords, and the checks still run (and fail) in this order.
        return cls(
            kind if type(kind) is LedgerKind else LedgerKind(kind),
            event.asset.upper(),
            None if event.symbol is None else _canonical(event.symbol),
            _dec(event.quantity, "quantity"),
            _dec(event.amount_quote, "amount_quote"),
            None if event.price is None else _dec(event.price, "price"),
            event.ref,
            event.ts_ms,
        )

    @property
    def signature(self) -> tuple[Decimal, Decimal, Decimal | None]:
        return (self.quantity, self.amount, self.price)


class Ledger:
    """Cash per asset and books per pair, built by applying LedgerEvents in order.

    Only `mark` and `restore_peak` change anything besides `apply`: the peak equity is state,
    reproducible by replaying the same events and the same marks in the same order.
    """

    def __init__(self) -> None:
        self._cash: dict[str, Decimal] = {}
        self._books: dict[str, _Book] = {}
        self._violations: list[InvariantViolation] = []
        self._seen: dict[tuple[str, str | None, str, str], tuple[Decimal, Decimal, Decimal | None]]
        self._seen = {}
        self._rates: dict[tuple[str, str | None], Decimal] = {}
        self._pending: dict[tuple[str, str | None], list[_TradeFigures]] = {}
        self._daily: list[tuple[int, Decimal, Decimal]] = []  # (ts_ms, realized TRY, costs TRY)
        self._daily_sorted = True  # entries in time order (lets a new day start by bisection)
        self._positions: tuple[PositionState, ...] | None = None  # positions() until next apply
        self._day_cache: tuple[int, int, Decimal, Decimal] | None = None
        self._peak: Decimal | None = None
        self._events_applied = 0
        self._duplicates = 0
        # equity_try: which price values each asset, per set of priced symbols
        self._equity_plans: dict[tuple[object, ...], list[tuple[str, str | None, str | None]]] = {}

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def replay(cls, events: Iterable[LedgerEvent]) -> Ledger:
        """A new Ledger with `events` applied in the given (seq) order."""
        ledger = cls()
        ledger.apply_all(events)
        return ledger

    def apply_all(self, events: Iterable[LedgerEvent]) -> None:
        """Apply `events` in order, each exactly as `apply` would."""
        self._positions = None
        # One context switch for the batch: nothing inside changes the context.
        with localcontext(LEDGER_CONTEXT):
            for event in events:
                self._apply_or_record(event)

    def apply(self, event: LedgerEvent) -> None:
        """Apply one event. Never raises for bad data: it records a violation instead."""
        self._positions = None
        with localcontext(LEDGER_CONTEXT):
            self._apply_or_record(event)

    def _apply_or_record(self, event: LedgerEvent) -> None:
        # Runs in the ledger context (apply, apply_all).
        try:
            self._apply(event)
        # ValueError: an unknown kind, a pair that does not split; ArithmeticError: an absurd
        # magnitude; TypeError/AttributeError: a field of the wrong type. Handlers check
        # and compute before they mutate, so a skipped event leaves no trace.
        except (_Malformed, ValueError, ArithmeticError, TypeError, AttributeError) as exc:
            self._violate(
                MALFORMED_EVENT,
                str(event.symbol or event.asset or "?"),
                f"skipped {getattr(event.kind, 'value', event.kind)} event"
                f" ref={event.ref} seq={event.seq}: {exc}",
            )

    def restore_peak(self, peak_equity_try: Decimal) -> None:
        """Raise the remembered peak to a persisted value (after a restart, before any mark)."""
        peak = to_decimal(peak_equity_try, field="peak_equity_try")
        if self._peak is None or peak > self._peak:
            self._peak = peak

    def _apply(self, event: LedgerEvent) -> None:
        row = _Row.parse(event)
        key = None
        if row.ref is not None:
            key = (row.kind, row.symbol, row.ref, row.asset)
            previous = self._seen.get(key)
            if previous is not None:
                if previous == row.signature:
                    self._duplicates += 1
                else:
                    self._violate(
                        CONFLICTING_DUPLICATE,
                        row.symbol or row.asset,
                        f"{row.kind.value} ref={row.ref} {row.asset} seen with {_sig(previous)},"
                        f" now {_sig(row.signature)}; kept the first",
                    )
                return
        _HANDLERS[row.kind](self, row)
        # Remember the key only once the event was booked, so a malformed event that was
        # skipped does not shadow a later, valid copy.
        if key is not None:
            self._seen[key] = row.signature
        self._events_applied += 1

    def _book(self, symbol: str, base: str, quote: str) -> _Book:
        """The pair's book, or a new one that is kept only once a handler commits to it."""
        book = self._books.get(symbol)
        if book is None:
            return _Book(symbol=symbol, base=base, quote=quote)
        if (book.base, book.quote) != (base, quote):
            raise _Malformed(f"{symbol} was {book.base}/{book.quote}, now {base}/{quote}")
        return book

    def _keep(self, book: _Book) -> None:
        self._books.setdefault(book.symbol, book)

    def _move(self, asset: str, delta: Decimal) -> None:
        self._cash[asset] = self._cash.get(asset, ZERO) + delta

    def _violate(self, code: str, subject: str, detail: str) -> None:
        self._violations.append(InvariantViolation(code=code, subject=subject, detail=detail))

    def _apply_fill(self, row: _Row) -> None:
        if row.symbol is None:
            raise _Malformed("a FILL needs its pair symbol")
        base, quote = _split(row.symbol, row.asset, None)
        quantity, amount = row.quantity, row.amount
        # A buy receives base and pays quote; a sell the reverse. Same signs are a corrupt row.
        if quantity == 0 or amount == 0 or (quantity > 0) == (amount > 0):
            raise _Malformed(
                f"FILL quantity {quantity} and amount {amount} must have opposite signs"
            )
        book = self._book(row.symbol, base, quote)
        # The quote that really moved is the cost or the proceeds; `price` is informational.
        if quantity > 0:
            new_cost = book.cost - amount
            new_avg = _average(new_cost, book.quantity + quantity)
            self._keep(book)
            book.quantity, book.cost, book.avg_cost = book.quantity + quantity, new_cost, new_avg
            realized = ZERO
        else:
            self._keep(book)
            sold = -quantity
            matched, removed = self._reduce(book, sold, row)
            # On an oversell only the held part realizes: its share of the proceeds.
            proceeds = amount if matched == sold else amount * matched / sold
            realized = proceeds - removed
            book.realized_quote += realized
        self._move(base, quantity)
        self._move(quote, amount)
        turnover = abs(amount)
        book.turnover_quote += turnover
        book.fills += 1
        self._book_try(book, row.ref, row.ts_ms, realized, ZERO, ZERO, turnover)

    def _reduce(self, book: _Book, quantity: Decimal, row: _Row) -> tuple[Decimal, Decimal]:
        """Take `quantity` out of the position at average cost: (quantity matched, cost removed).

        The remaining cost basis is set to remaining quantity x average cost (exact), and the
        removed cost is the difference, so the average cost does not drift with partial sells
        and any rounding residue of the average leaves with this reduction.
        """
        held = book.quantity
        if quantity > held:
            self._violate(
                NEGATIVE_POSITION,
                book.symbol,
                f"{row.kind.value} ref={row.ref}: reducing {book.symbol} by {fmt(quantity)}"
                f" {book.base} but the position is {fmt(held)} {book.base}",
            )
        if quantity >= held:
            removed = book.cost
            book.quantity = book.cost = book.avg_cost = ZERO
            return held, removed
        remaining_cost = (held - quantity) * book.avg_cost
        removed = book.cost - remaining_cost
        book.quantity = held - quantity
        book.cost = remaining_cost
        return quantity, removed

    def _apply_cost(self, row: _Row) -> None:
        if row.symbol is None:
            raise _Malformed(f"a {row.kind.value} needs its pair symbol")
        # Fee and tax are charged in the quote: the asset names the quote, the rest is the base.
        base, quote = _split(row.symbol, None, row.asset)
        book = self._book(row.symbol, base, quote)
        self._keep(book)
        self._move(row.asset, row.quantity)
        cost = -row.amount
        if row.kind is LedgerKind.FEE:
            book.fees_quote += cost
            self._book_try(book, row.ref, row.ts_ms, ZERO, cost, ZERO, ZERO)
        else:
            book.tax_quote += cost
            self._book_try(book, row.ref, row.ts_ms, ZERO, ZERO, cost, ZERO)

    def _apply_conversion(self, row: _Row) -> None:
        if row.symbol is None or row.price is None or row.price <= 0:
            raise _Malformed("a FEE_CONVERSION needs its pair symbol and a positive rate")
        base, quote = _split(row.symbol, None, row.asset)
        book = self._book(row.symbol, base, quote)
        self._keep(book)
        self._move(row.asset, row.quantity)  # zero as written by events_from_fill
        key = (row.symbol, row.ref)
        self._rates[key] = row.price
        # The trade's FILL, FEE and TAX may have come first: book their TRY figures now.
        for f in self._pending.pop(key, []):
            self._book_try(book, row.ref, f.ts_ms, f.realized, f.fee, f.tax, f.turnover)

    def _apply_adjustment(self, row: _Row) -> None:
        # Deposits, withdrawals, starting funds: cash moves, no PnL. With a symbol and a price the
        # coins also enter (or leave) that pair's position at that cost.
        if row.symbol is not None and row.price is not None:
            if row.price <= 0:
                raise _Malformed(f"ADJUSTMENT cost {row.price} must be above zero")
            base, quote = _split(row.symbol, row.asset, None)
            book = self._book(row.symbol, base, quote)
            if row.quantity > 0:
                new_cost = book.cost + row.quantity * row.price
                new_avg = _average(new_cost, book.quantity + row.quantity)
                self._keep(book)
                book.quantity += row.quantity
                book.cost, book.avg_cost = new_cost, new_avg
            elif row.quantity < 0:
                self._keep(book)
                self._reduce(book, -row.quantity, row)
        self._move(row.asset, row.quantity)

    def _book_try(
        self,
        book: _Book,
        ref: str | None,
        ts_ms: int,
        realized_quote: Decimal,
        fee_quote: Decimal,
        tax_quote: Decimal,
        turnover_quote: Decimal,
    ) -> None:
        # The figures come as arguments, not a _TradeFigures: one is only built to wait for a
        # rate, and most trades (TRY pairs) never wait.
        if book.quote == HOME_CURRENCY:
            rate = _ONE
        else:
            found = self._rates.get((book.symbol, ref))
            if found is None:
                self._pending.setdefault((book.symbol, ref), []).append(
                    _TradeFigures(ts_ms, realized_quote, fee_quote, tax_quote, turnover_quote)
                )
                return
            rate = found
        realized = realized_quote * rate
        fee = fee_quote * rate
        tax = tax_quote * rate
        book.realized_try += realized
        book.fees_try += fee
        book.tax_try += tax
        book.turnover_try += turnover_quote * rate
        if realized or fee or tax:
            if self._daily and ts_ms < self._daily[-1][0]:
                self._daily_sorted = False
            self._daily.append((ts_ms, realized, fee + tax))

    # -- reading ---------------------------------------------------------------------------------

    def cash(self, asset: str) -> Decimal:
        """The ledger's balance of `asset` (zero if never seen)."""
        return self._cash.get(asset.upper(), ZERO)

    def balances(self) -> dict[str, Decimal]:
        """A copy of every asset balance the ledger has seen, zeros included."""
        return dict(self._cash)

    def position(self, symbol: str) -> PositionState | None:
        """The books of one pair (any spelling), or None if it never traded."""
        book = self._books.get(normalize_symbol(symbol))
        return None if book is None else book.freeze()

    def positions(self) -> tuple[PositionState, ...]:
        """Every pair's books, sorted by symbol."""
        # Frozen snapshots only change when an event is applied: a cycle asks several times.
        if self._positions is None:
            self._positions = tuple(self._books[s].freeze() for s in sorted(self._books))
        return self._positions

    @property
    def violations(self) -> tuple[InvariantViolation, ...]:
        """Violations recorded while applying events, in the order they happened."""
        return tuple(self._violations)

    @property
    def peak_equity_try(self) -> Decimal | None:
        """The highest complete equity seen by `mark` (or restored), None before the first."""
        return self._peak

    @property
    def events_applied(self) -> int:
        """Events booked (duplicates and malformed events not counted)."""
        return self._events_applied

    @property
    def duplicates_ignored(self) -> int:
        """Identical repeats of an already booked event that were skipped."""
        return self._duplicates

    def unconverted_trades(self) -> tuple[tuple[str, str | None], ...]:
        """(symbol, ref) of non-TRY trades still waiting for their FEE_CONVERSION rate."""
        return tuple(sorted(self._pending, key=lambda k: (k[0], k[1] or "")))

    @property
    def realized_try(self) -> Decimal:
        """Realized PnL of all pairs in TRY."""
        return _total(b.realized_try for b in self._books.values())

    @property
    def fees_try(self) -> Decimal:
        """Fees of all pairs in TRY."""
        return _total(b.fees_try for b in self._books.values())

    @property
    def tax_try(self) -> Decimal:
        """Tax of all pairs in TRY."""
        return _total(b.tax_try for b in self._books.values())

    def pnl_totals_try(self) -> tuple[Decimal, Decimal, Decimal]:
        """(`realized_try`, `fees_try`, `tax_try`) in one pass over the books: the same sums
        (same order, same context) for a caller that needs all three."""
        realized = fees = tax = ZERO
        add = LEDGER_CONTEXT.add
        for book in self._books.values():
            realized = add(realized, book.realized_try)
            fees = add(fees, book.fees_try)
            tax = add(tax, book.tax_try)
        return realized, fees, tax

    @property
    def turnover_try(self) -> Decimal:
        """Traded notional (buys and sells) of all pairs in TRY."""
        return _total(b.turnover_try for b in self._books.values())

    def realized_today_try(self, day_start_ms: int) -> Decimal:
        """Realized PnL in TRY of events stamped at or after `day_start_ms` (fees excluded)."""
        return self._day_sums(day_start_ms)[0]

    def loss_today_try(self, day_start_ms: int) -> Decimal:
        """Today's realized loss in TRY as a non-negative magnitude: -(realized - fees - tax)
        since `day_start_ms`, or zero on a winning day. Unrealized PnL is not included."""
        return _loss(self._day_sums(day_start_ms)[1])

    def _day_sums(self, day_start_ms: int) -> tuple[Decimal, Decimal]:
        """(realized, realized - costs) of entries stamped at or after `day_start_ms`.

        Incremental: asked again for the same day, only entries added since are summed, and a
        new day starts from a binary search while entries arrived in time order (they do unless
        a conversion rate came late). Every call is made each cycle, so a rescan of the whole
        history each time would grow with the number of trades ever made. Exact arithmetic in
        the ledger context, so the order of summing cannot change the result.
        """
        daily = self._daily
        cached = self._day_cache
        if cached is not None and cached[0] == day_start_ms:
            first, realized, net = cached[1], cached[2], cached[3]
        else:
            first, realized, net = 0, ZERO, ZERO
            if self._daily_sorted:
                first = bisect_left(daily, day_start_ms, key=_entry_ts)
        ctx = LEDGER_CONTEXT
        for ts, r, c in daily[first:] if first < len(daily) else ():
            if ts >= day_start_ms:
                realized = ctx.add(realized, r)
                net = ctx.add(net, ctx.subtract(r, c))
        self._day_cache = (day_start_ms, len(daily), realized, net)
        return realized, net

    def state(self) -> LedgerState:
        """A frozen copy of everything the ledger holds (for comparisons and diagnostics)."""
        return LedgerState(
            balances=tuple(sorted(self._cash.items())),
            positions=self.positions(),
            violations=self.violations,
            rates=tuple(sorted((s, r, v) for (s, r), v in self._rates.items())),
            unconverted=self.unconverted_trades(),
            daily=tuple(self._daily),
            peak_equity_try=self._peak,
            events_applied=self._events_applied,
            duplicates_ignored=self._duplicates,
        )

    # -- marking ---------------------------------------------------------------------------------

    def mark(
        self, prices: Mapping[str, Decimal], quote_to_try: Mapping[str, Decimal], now_ms: int
    ) -> PnlSnapshot:
        """Value the ledger: `prices` maps pair symbol -> price in its quote, `quote_to_try` maps
        asset -> TRY mark (at least every non-TRY quote; may name any asset, TRY is always 1).

        A coin's TRY mark is taken from `quote_to_try`, else from a price of one of its pairs
        (TRY pairs first) times that pair's quote rate. Updates the peak equity when the mark is
        complete. Raises MoneyError for a float or non-finite price.
        """
        with localcontext(LEDGER_CONTEXT):
            marks = {_canonical(s): _mark_value(p, "price", s) for s, p in prices.items()}
            rates = {a.upper(): _mark_value(r, "rate", a) for a, r in quote_to_try.items()}
            rates[HOME_CURRENCY] = _ONE
            unpriced: set[str] = set()
            positions = []
            for symbol in sorted(self._books):
                book = self._books[symbol]
                mark = marks.get(symbol)
                rate = rates.get(book.quote)
                unrealized = unrealized_try = ZERO
                if book.quantity != 0:
                    if mark is None or rate is None:
                        unpriced.add(symbol)
                    if mark is not None:
                        # Against the cost basis, not qty x avg: keeps the identity exact.
                        unrealized = book.quantity * mark - book.cost
                        if rate is not None:
                            unrealized_try = unrealized * rate
                positions.append(
                    PositionSnapshot(
                        symbol=symbol,
                        base=book.base,
                        quote=book.quote,
                        quantity=book.quantity,
                        avg_cost=book.avg_cost,
                        cost_basis=book.cost,
                        mark=mark,
                        unrealized_quote=unrealized,
                        unrealized_try=unrealized_try,
                        realized_quote=book.realized_quote,
                        realized_try=book.realized_try,
                        fees_try=book.fees_try,
                        tax_try=book.tax_try,
                        turnover_try=book.turnover_try,
                    )
                )
            cash = []
            equity = ZERO
            # A coin's TRY mark: its own rate, else a price of one of its pairs (TRY pairs first)
            # times that pair's quote rate. Which one is worked out by `_plan` (and remembered).
            for asset, symbol, quote in self._plan(marks, rates, self._cash):
                amount = self._cash[asset]
                if quote is None:
                    asset_mark = None
                else:
                    asset_mark = rates[quote] if symbol is None else marks[symbol] * rates[quote]
                value = None if asset_mark is None else amount * asset_mark
                if value is not None:
                    equity += value
                elif amount != 0:
                    unpriced.add(asset)
                cash.append(CashSnapshot(asset, amount, asset_mark, value))
            if not unpriced and (self._peak is None or equity > self._peak):
                self._peak = equity
            peak = equity if self._peak is None else self._peak
            drawdown = peak - equity if peak > equity else ZERO
            drawdown_pct = ZERO
            if drawdown > 0 and peak > 0:
                drawdown_pct = (drawdown / peak * _HUNDRED).quantize(PCT_QUANTUM)
            # The five sums of `_total`, in one pass: each still adds in position order.
            realized = unrealized_total = fees = tax = turnover = ZERO
            add = LEDGER_CONTEXT.add
            for p in positions:
                realized = add(realized, p.realized_try)
                unrealized_total = add(unrealized_total, p.unrealized_try)
                fees = add(fees, p.fees_try)
                tax = add(tax, p.tax_try)
                turnover = add(turnover, p.turnover_try)
            day_start = istanbul_day_start_ms(now_ms)
            realized_today, net_today = self._day_sums(day_start)
            return PnlSnapshot(
                ts_ms=now_ms,
                positions=tuple(positions),
                cash=tuple(cash),
                realized_try=realized,
                unrealized_try=unrealized_total,
                fees_try=fees,
                tax_try=tax,
                net_pnl_try=realized + unrealized_total - fees - tax,
                equity_try=equity,
                peak_equity_try=peak,
                drawdown_try=drawdown,
                drawdown_pct=drawdown_pct,
                turnover_try=turnover,
                day_start_ms=day_start,
                realized_today_try=realized_today,
                loss_today_try=_loss(net_today),
                unpriced=tuple(sorted(unpriced)),
            )

    def equity_try(
        self,
        prices: Mapping[str, Decimal],
        quote_to_try: Mapping[str, Decimal],
        *,
        cash: Mapping[str, Decimal] | None = None,
    ) -> Decimal | None:
        """The `equity_try` that `mark` would report for these prices, without building any
        snapshot; None when the mark would be incomplete (an open position or a non-zero balance
        without a price). For backtests, which value the books every step.

        `cash` values other balances than the ledger's (a backtest values the exchange's totals
        between two cycles, before the next cycle books the fills) with the same rules.
        `prices` keys must be canonical symbols and values Decimals. Which price values each
        asset is worked out once per set of priced symbols (the books only ever gain assets).
        """
        rates = dict(quote_to_try)
        rates[HOME_CURRENCY] = _ONE
        for symbol, book in self._books.items():
            if book.quantity != 0 and (symbol not in prices or book.quote not in rates):
                return None
        balances = self._cash if cash is None else cash
        plan = self._plan(prices, rates, balances)
        ctx = LEDGER_CONTEXT
        equity = ZERO
        for asset, symbol, quote in plan:
            amount = balances[asset]
            if quote is None:
                if amount != 0:
                    return None  # a balance nothing prices
                continue
            mark = rates[quote] if symbol is None else ctx.multiply(prices[symbol], rates[quote])
            equity = ctx.add(equity, ctx.multiply(amount, mark))
        return equity

    def valuation(
        self,
        symbols: Iterable[str],
        quote_to_try: Mapping[str, Decimal],
        *,
        cash: Mapping[str, Decimal] | None = None,
    ) -> Callable[[Mapping[str, Decimal]], Decimal] | None:
        """`equity_try` as a function of the prices of `symbols`, prepared once for as long as
        the books, `cash` and the rates stay as they are (a backtest's quiet steps, when nothing
        fills). The same terms summed in the same order, so the same Decimal results. None
        when such a mark would be incomplete."""
        rates = dict(quote_to_try)
        rates[HOME_CURRENCY] = _ONE
        keys = dict.fromkeys(symbols)
        for symbol, book in self._books.items():
            if book.quantity != 0 and (symbol not in keys or book.quote not in rates):
                return None
        balances = self._cash if cash is None else dict(cash)
        ctx = LEDGER_CONTEXT
        terms: list[tuple[Decimal, str | None, Decimal]] = []
        for asset, symbol, quote in self._plan(keys, rates, balances):
            amount = balances[asset]
            if quote is None:
                if amount != 0:
                    return None
                continue
            terms.append((amount, symbol, rates[quote]))
        multiply, add = ctx.multiply, ctx.add

        def value(prices: Mapping[str, Decimal]) -> Decimal:
            equity = ZERO
            for amount, symbol, rate in terms:
                mark = rate if symbol is None else multiply(prices[symbol], rate)
                equity = add(equity, multiply(amount, mark))
            return equity

        return value

    def note_equity(self, equity_try: Decimal) -> None:
        """Raise the peak as a complete `mark` with this equity would."""
        if self._peak is None or equity_try > self._peak:
            self._peak = equity_try

    def _plan(
        self,
        prices: Mapping[str, object],
        rates: Mapping[str, Decimal],
        balances: Mapping[str, Decimal],
    ) -> list[tuple[str, str | None, str | None]]:
        """`_equity_plan`, remembered: it depends only on which symbols are priced, which
        assets have a rate, which balances there are and the books, which only ever gain pairs
        (and a pair never changes its base or quote), so their count stands for them."""
        key = (tuple(prices), tuple(rates), tuple(balances), len(self._books))
        plan = self._equity_plans.get(key)
        if plan is None:
            if len(self._equity_plans) >= _MAX_PLANS:
                self._equity_plans.clear()  # a bound for long runs whose symbol sets drift
            plan = self._equity_plan(prices, rates, balances)
            self._equity_plans[key] = plan
        return plan

    def _equity_plan(
        self,
        prices: Mapping[str, Decimal],
        rates: Mapping[str, Decimal],
        balances: Mapping[str, Decimal],
    ) -> list[tuple[str, str | None, str | None]]:
        # Which price values each asset, in sorted order: its own rate if it has one, else the
        # first priced pair (the ledger's pairs for this coin and any "<asset><quote>" with a
        # known quote rate) with TRY pairs first, so a direct TRY price wins over a USDT cross.
        plan: list[tuple[str, str | None, str | None]] = []
        for asset in sorted(balances):
            if asset in rates:
                plan.append((asset, None, asset))
                continue
            candidates = {(b.quote, b.symbol) for b in self._books.values() if b.base == asset}
            candidates |= {(quote, asset + quote) for quote in rates}
            chosen = None
            for quote, symbol in sorted(candidates, key=lambda c: (c[0] != HOME_CURRENCY, c)):
                if symbol in prices and quote in rates:
                    chosen = (asset, symbol, quote)
                    break
            plan.append(chosen if chosen is not None else (asset, None, None))
        return plan


# Which method books each kind of event (looked up per event, so built once).
_HANDLERS = {
    LedgerKind.FILL: Ledger._apply_fill,
    LedgerKind.FEE: Ledger._apply_cost,
    LedgerKind.TAX: Ledger._apply_cost,
    LedgerKind.FEE_CONVERSION: Ledger._apply_conversion,
    LedgerKind.ADJUSTMENT: Ledger._apply_adjustment,
}


def _entry_ts(entry: tuple[int, Decimal, Decimal]) -> int:
    return entry[0]


def _sig(signature: tuple[Decimal, Decimal, Decimal | None]) -> str:
    quantity, amount, price = signature
    return (
        f"quantity {fmt(quantity)} amount {fmt(amount)}"
        f" price {'-' if price is None else fmt(price)}"
    )
