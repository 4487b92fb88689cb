"""Ingest fills from the exchange into the store and the ledger, exactly once per trade id."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.money import ZERO
from btcbot_engine.domain.orders import Side
from btcbot_engine.exchange.port import ExchangeError, ExchangePort
from btcbot_engine.ledger import Ledger
from btcbot_engine.ledger_events import events_from_fill
from btcbot_engine.store.db import Store

log = logging.getLogger(__name__)

# Re-read this much before the cursor: fills are deduplicated by trade id, so an overlap is
# free, while a gap would lose a fill whose timestamp sits just before the cursor.
CURSOR_OVERLAP_MS = 60_000
# More pairs than this are read in one all-pairs call (see sync_fills).
PER_PAIR_MAX = 3
# BTCTurk's row cap on users/transactions/trade is UNVERIFIED; a reply this long may be cut.
ALL_PAIRS_SUSPECT_ROWS = 100
_ONE = Decimal(1)


@dataclass(slots=True)
class FillSyncReport:
    """New fills booked this pass, and symbols whose fills could not be read."""

    new_fills: list[Fill] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Net result (realized - fee - tax, TRY) of each new SELL fill, for the loss streak.
    sell_results: list[Decimal] = field(default_factory=list)


def _cursor_name(symbol: str) -> str:
    return f"fills:{symbol}"


async def sync_fills(
    exchange: ExchangePort,
    store: Store,
    ledger: Ledger,
    symbols: Iterable[str],
    quote_to_try: Mapping[str, Decimal],
) -> FillSyncReport:
    """Read fills since each symbol's cursor; book the new ones (store + ledger) atomically.

    Up to PER_PAIR_MAX pairs are read one call each; more are read in ONE call for every pair
    (since the oldest cursor), because the user-trades endpoint allows 120 calls a minute and a
    20-pair universe would spend that in six cycles. A reply that may have been cut short
    (ALL_PAIRS_SUSPECT_ROWS rows or more) is not trusted: those pairs are read one by one.
    """
    report = FillSyncReport()
    wanted = sorted(set(symbols))
    # Each pair's cursor, read once: it bounds the read and is where booking moves on from.
    cursors = {s: _cursor(store, s) for s in wanted}
    since = {s: max(c - CURSOR_OVERLAP_MS, 0) if c else None for s, c in cursors.items()}
    batch: dict[str, list[Fill]] | None = None
    seen_until = 0
    if len(wanted) > PER_PAIR_MAX:
        oldest = min((v for v in since.values() if v is not None), default=None)
        if any(v is None for v in since.values()):
            oldest = None
        try:
            every = await exchange.fills(None, since_ms=oldest)
        except ExchangeError as exc:
            report.errors.extend(f"{s}: {exc}" for s in wanted)
            return report
        if len(every) < ALL_PAIRS_SUSPECT_ROWS:
            seen_until = max((f.timestamp_ms for f in every), default=0)
            batch = {s: [] for s in wanted}
            for fill in every:
                if fill.symbol in batch:
                    batch[fill.symbol].append(fill)
    # A trusted all-pairs read saw every pair up to its newest row: pairs with nothing new move
    # their cursor there too, so the next read's window stays short (an old cursor on a quiet
    # pair would otherwise widen every read until replies pass the suspect size).
    for symbol in wanted:
        if batch is not None:
            cut = since[symbol]
            fills = [f for f in batch[symbol] if cut is None or f.timestamp_ms >= cut]
        else:
            try:
                fills = await exchange.fills(symbol, since_ms=since[symbol])
            except ExchangeError as exc:
                report.errors.append(f"{symbol}: {exc}")
                continue
        newest = max(cursors[symbol] or 0, seen_until)
        _book(store, ledger, symbol, fills, quote_to_try, report, newest=newest)
    return report


def _fill_order(fill: Fill) -> tuple[int, int]:
    return (fill.timestamp_ms, fill.trade_id)


def _cursor(store: Store, symbol: str) -> int | None:
    cursor_text = store.cursors.get(_cursor_name(symbol))
    return int(cursor_text) if cursor_text else None


def _book(
    store: Store,
    ledger: Ledger,
    symbol: str,
    fills: list[Fill],
    quote_to_try: Mapping[str, Decimal],
    report: FillSyncReport,
    *,
    newest: int,
) -> None:
    """Book one pair's fills (new ones only) and move its cursor, in one transaction.

    `newest`: where the cursor stands before these fills (its stored value, or further when
    the read covered this pair up to a later time without a fill of its own).
    """
    with store.atomic():
        # Nearly always one fill or none: nothing to sort then.
        ordered = fills if len(fills) < 2 else sorted(fills, key=_fill_order)
        for fill in ordered:
            newest = max(newest, fill.timestamp_ms)
            rate = _ONE if fill.quote == "TRY" else quote_to_try.get(fill.quote)
            if rate is None:
                # Without a TRY mark we cannot value the fee; leave it for the next pass.
                report.errors.append(f"{symbol}: no {fill.quote}/TRY rate to book fills")
                newest = min(newest, fill.timestamp_ms - 1)
                break
            if not store.fills.insert_if_new(fill):
                continue
            events = store.ledger.append_many(events_from_fill(fill, quote_to_try=rate))
            sell = fill.side is Side.SELL
            # Pure reads of the ledger's totals, only needed for a sell's net result.
            before = ZERO
            if sell:
                realized, fees, tax = ledger.pnl_totals_try()
                before = realized - fees - tax
            ledger.apply_all(events)
            if sell:
                realized, fees, tax = ledger.pnl_totals_try()
                after = realized - fees - tax
                report.sell_results.append(after - before)
            report.new_fills.append(fill)
        if newest:
            store.cursors.set(_cursor_name(symbol), str(newest))
