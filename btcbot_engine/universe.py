"""Universe selection: which pairs the strategies may look at this cycle.

Pure: rules and tickers in, one `UniverseEntry` per considered symbol out, each with a reason code
the operator can read. Nothing is silently dropped: a symbol we looked at and left out says why.

Two modes:
- explicit (`UniverseConfig.symbols` non-empty): exactly those symbols, each still checked for
  safety (denied, known in rules, TRADING, ticker present, book not empty, not crossed). Volume,
  spread, quote, allow and `max_size` filters are the operator's call in this mode and are not
  applied; deny still is (the emergency brake for one pair).
- discovery: every symbol found in rules or tickers, filtered in a fixed order (the first failing
  check is the reason), then the best `max_size` by 24h quote volume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.domain.market import Ticker, normalize_symbol
from btcbot_engine.domain.rules import SymbolRules

BPS = Decimal("10000")
_REPORT_BPS = Decimal("0.01")
# A Decimal operand: Decimal-with-Decimal comparisons skip an int conversion.
_ZERO = Decimal(0)

_Prepared = tuple[tuple[str, ...], frozenset[str], frozenset[str], frozenset[str]]

# Reason codes, one per outcome. Kept as constants so tests and the UI spell them the same way.
EXPLICIT = "universe:explicit"
SELECTED = "universe:selected"
DENIED = "universe:denied"
NOT_ALLOWED = "universe:not_allowed"
UNKNOWN_SYMBOL = "universe:unknown_symbol"
QUOTE_NOT_WANTED = "universe:quote_not_wanted"
NOT_TRADING = "universe:not_trading"
NO_TICKER = "universe:no_ticker"
EMPTY_BOOK = "universe:empty_book"
CROSSED = "universe:crossed"
LOW_VOLUME = "universe:low_volume"
WIDE_SPREAD = "universe:wide_spread"
OVER_MAX_SIZE = "universe:over_max_size"


def spread_bps(ticker: Ticker) -> Decimal | None:
    """Spread relative to the mid, in basis points; None when the book has no usable mid."""
    mid = ticker.mid
    if ticker.bid <= _ZERO or ticker.ask <= _ZERO or mid <= _ZERO:
        return None
    return ticker.spread / mid * BPS


@dataclass(frozen=True, slots=True)
class UniverseConfig:
    """How to pick the universe. Volumes are 24h, in each pair's own quote currency."""

    symbols: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ("TRY",)
    min_quote_volume: Decimal = Decimal("1000000")
    max_spread_bps: Decimal = Decimal("50")
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_size: int = 5
    # (explicit symbols, deny, allow, quotes), normalized once here: the engine passes the same
    # config every cycle.
    normalized: _Prepared = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_size < 0:
            raise ValueError(f"max_size must be >= 0, got {self.max_size}")
        if self.min_quote_volume < 0 or self.max_spread_bps < 0:
            raise ValueError("min_quote_volume and max_spread_bps must be >= 0")
        normalized = (
            _unique(normalize_symbol(s) for s in self.symbols),
            frozenset(normalize_symbol(s) for s in self.deny),
            frozenset(normalize_symbol(s) for s in self.allow),
            frozenset(q.strip().upper() for q in self.quotes),
        )
        object.__setattr__(self, "normalized", normalized)  # frozen: set once, here


@dataclass(frozen=True, slots=True)
class UniverseEntry:
    """One considered symbol: in or out, and why. Volume and spread are None when unknown."""

    symbol: str
    included: bool
    reason: str
    quote_volume: Decimal | None = None
    spread_bps: Decimal | None = None


def select_universe(
    config: UniverseConfig,
    rules: Mapping[str, SymbolRules],
    tickers: Mapping[str, Ticker],
) -> list[UniverseEntry]:
    """Decide the universe; return an entry for every considered symbol.

    Order is stable: included entries first, then excluded ones; within each group by 24h quote
    volume descending (unknown volume last), then by symbol.
    """
    explicit, deny, allow, quotes = config.normalized
    entries: list[UniverseEntry] = []
    if explicit:
        for symbol in explicit:
            entries.append(_check_explicit(symbol, deny, rules, tickers))
    else:
        candidates: list[UniverseEntry] = []
        for symbol in sorted(set(rules) | set(tickers)):
            entry = _check_discovered(symbol, config, allow, deny, quotes, rules, tickers)
            (candidates if entry.included else entries).append(entry)
        candidates.sort(key=_order_key)
        for rank, entry in enumerate(candidates):
            if rank < config.max_size:
                entries.append(entry)
            else:
                entries.append(_excluded(entry, OVER_MAX_SIZE))
    if len(entries) < 2:
        return entries
    return sorted(entries, key=_universe_key)


def included_symbols(entries: Iterable[UniverseEntry]) -> tuple[str, ...]:
    """The symbols strategies may trade, in universe order."""
    return tuple([e.symbol for e in entries if e.included])


def _unique(symbols: Iterable[str]) -> tuple[str, ...]:
    # dict keeps first-seen order: a symbol listed twice is considered once.
    return tuple(dict.fromkeys(symbols))


def _order_key(entry: UniverseEntry) -> tuple[bool, Decimal, str]:
    volume = entry.quote_volume
    return (volume is None, -(volume or Decimal(0)), entry.symbol)


def _universe_key(entry: UniverseEntry) -> tuple[bool, bool, Decimal, str]:
    return (not entry.included, *_order_key(entry))


def _excluded(entry: UniverseEntry, reason: str) -> UniverseEntry:
    return UniverseEntry(entry.symbol, False, reason, entry.quote_volume, entry.spread_bps)


def _measure(ticker: Ticker | None) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(24h quote volume, spread in bps rounded for the report, exact spread in bps)."""
    if ticker is None:
        return None, None, None
    bps = spread_bps(ticker)
    return (
        ticker.quote_volume,
        None if bps is None else bps.quantize(_REPORT_BPS),
        bps,
    )


def _market_problem(ticker: Ticker | None) -> str | None:
    """Checks every mode applies: a pair we cannot price safely is never traded."""
    if ticker is None:
        return NO_TICKER
    if ticker.bid <= 0 or ticker.ask <= 0:
        return EMPTY_BOOK
    if ticker.crossed:
        return CROSSED
    return None


def _check_explicit(
    symbol: str,
    deny: frozenset[str],
    rules: Mapping[str, SymbolRules],
    tickers: Mapping[str, Ticker],
) -> UniverseEntry:
    ticker = tickers.get(symbol)
    volume, bps, _ = _measure(ticker)
    rule = rules.get(symbol)
    # Deny still wins over an explicit list: it is the operator's emergency brake for one pair.
    if symbol in deny:
        reason = DENIED
    elif rule is None:
        reason = UNKNOWN_SYMBOL
    elif not rule.trading:
        reason = NOT_TRADING
    else:
        reason = _market_problem(ticker) or EXPLICIT
    return UniverseEntry(symbol, reason == EXPLICIT, reason, volume, bps)


def _check_discovered(
    symbol: str,
    config: UniverseConfig,
    allow: frozenset[str],
    deny: frozenset[str],
    quotes: frozenset[str],
    rules: Mapping[str, SymbolRules],
    tickers: Mapping[str, Ticker],
) -> UniverseEntry:
    ticker = tickers.get(symbol)
    volume, bps, exact_bps = _measure(ticker)
    rule = rules.get(symbol)
    reason = SELECTED
    if symbol in deny:
        reason = DENIED
    elif allow and symbol not in allow:
        reason = NOT_ALLOWED
    elif rule is None:
        reason = UNKNOWN_SYMBOL
    elif rule.quote.upper() not in quotes:
        reason = QUOTE_NOT_WANTED
    elif not rule.trading:
        reason = NOT_TRADING
    elif problem := _market_problem(ticker):
        reason = problem
    elif volume is not None and volume < config.min_quote_volume:
        reason = LOW_VOLUME
    elif ticker is not None and (exact_bps or Decimal(0)) > config.max_spread_bps:
        reason = WIDE_SPREAD
    return UniverseEntry(symbol, reason == SELECTED, reason, volume, bps)
