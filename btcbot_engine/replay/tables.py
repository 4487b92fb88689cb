"""Reading one dataset table row by row, with every problem reported as file:line.

Shared by the validator (which collects every problem) and the loader (whose `report` raises on
the first error), so both judge a file by exactly the same rules. Numbers are parsed into
integers of the pair's smallest unit (fixed point): a price of "2150000.50" at price_scale 2 is
215000050. That keeps a million bars in a few flat arrays instead of a million Decimal objects,
and converting back (`Decimal(n).scaleb(-scale)`) is exact.

The CSV dialect is deliberately plain: comma-separated, no quoting, a header row naming the
columns (extra columns are ignored), LF or CRLF line ends, UTF-8, optionally gzip-compressed.
"""

from __future__ import annotations

import gzip
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from btcbot_engine.replay.dataset import COLUMNS, ERROR, WARNING

# (line or None, message, severity)
Report = Callable[[int | None, str, str], None]

_POW10 = [10**i for i in range(40)]


def iso(ts_ms: int) -> str:
    """A UTC timestamp for messages: 2024-05-01T12:34:00Z."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_bytes(path: Path) -> IO[bytes]:
    """A table opened for reading bytes: gzip when the name ends in .gz. Lines are decoded one
    by one (not in 8 KB chunks), so a byte that is not UTF-8 is reported on its own line."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def _slow_fixed(text: str, scale: int) -> int:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text[:30]!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text[:30]!r} is not a finite number")
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text[:30]!r} has more than {scale} decimals")
    return int(scaled)


def fixed(text: str, scale: int) -> int:
    """Decimal text -> integer count of 10**-scale units; ValueError with a short message."""
    head, dot, tail = text.partition(".")
    if head.isdigit():
        if not dot:
            return int(head) * _POW10[scale]
        if tail.isdigit() and len(tail) <= scale:
            return int(head + tail) * _POW10[scale - len(tail)]
    return _slow_fixed(text, scale)


def parse_int(text: str) -> int:
    """A non-negative integer field (timestamps, ids, levels); ValueError otherwise."""
    if text.isdigit():
        return int(text)
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text[:30]!r} is not an integer") from None


def rows(path: Path, kind: str, report: Report) -> Iterator[tuple[int, list[str]]]:
    """(line number, the required fields in COLUMNS order) for every data row of a table.

    Header problems (missing columns) and unreadable bytes (bad gzip, not UTF-8) are reported and
    end the iteration; a row with the wrong number of fields is reported and skipped.
    """
    wanted = COLUMNS[kind]
    line_no = 0
    try:
        with open_bytes(path) as handle:
            header_line = handle.readline().decode("utf-8")
            line_no = 1
            if not header_line:
                report(1, "empty file (no header row)", ERROR)
                return
            header = [h.strip().lower() for h in header_line.rstrip("\r\n").split(",")]
            missing = [c for c in wanted if c not in header]
            if missing:
                report(
                    1,
                    f"missing column(s) {', '.join(missing)}; header is {','.join(header)}",
                    ERROR,
                )
                return
            index = [header.index(c) for c in wanted]
            width = len(header)
            identity = index == list(range(len(wanted))) and width == len(wanted)
            for raw in handle:
                line_no += 1
                line = raw.decode("utf-8")
                fields = line.rstrip("\r\n").split(",")
                if len(fields) != width:
                    if fields == [""]:
                        report(line_no, "empty line", ERROR)
                    else:
                        report(
                            line_no,
                            f"{len(fields)} fields, the header has {width}",
                            ERROR,
                        )
                    continue
                yield line_no, fields if identity else [fields[i] for i in index]
    except UnicodeDecodeError:
        report(max(line_no, 1), "not UTF-8 text (corrupt or binary data)", ERROR)
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        report(line_no + 1, f"unreadable after line {line_no}: {type(exc).__name__}: {exc}", ERROR)


@dataclass(slots=True)
class CandleColumns:
    """Bars as parallel integer arrays (prices in 10**-price_scale, volume in 10**-qty_scale)."""

    ts: array[int] = field(default_factory=lambda: array("q"))
    open: array[int] = field(default_factory=lambda: array("q"))
    high: array[int] = field(default_factory=lambda: array("q"))
    low: array[int] = field(default_factory=lambda: array("q"))
    close: array[int] = field(default_factory=lambda: array("q"))
    volume: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class TickerColumns:
    """Top-of-book snapshots as parallel integer arrays."""

    ts: array[int] = field(default_factory=lambda: array("q"))
    bid: array[int] = field(default_factory=lambda: array("q"))
    ask: array[int] = field(default_factory=lambda: array("q"))
    last: array[int] = field(default_factory=lambda: array("q"))
    volume: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.ts)


# A book snapshot: (ts_ms, bids [(price, qty)] best first, asks [(price, qty)] best first).
BookSnapshot = tuple[int, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


def scan_candles(
    path: Path,
    report: Report,
    *,
    price_scale: int,
    qty_scale: int,
    resolution_ms: int,
    window: tuple[int, int],
) -> tuple[CandleColumns, int]:
    """Check every bar and return (columns of the good bars, data rows seen).

    Errors: unparsable or non-positive prices, negative volume, high/low not bounding open and
    close, a timestamp off the resolution grid or outside the manifest's range, unsorted or
    duplicate timestamps. Warning: gaps (missing bars).
    """
    cols = CandleColumns()
    ts_a, o_a, h_a, l_a, c_a, v_a = (
        cols.ts.append,
        cols.open.append,
        cols.high.append,
        cols.low.append,
        cols.close.append,
        cols.volume.append,
    )
    start, end = window
    prev_ts: int | None = None
    prev_line = 0
    seen = 0
    for line_no, f in rows(path, "candles", report):
        seen += 1
        try:
            ts = parse_int(f[0])
        except ValueError as exc:
            report(line_no, f"ts_ms: {exc}", ERROR)
            continue
        # Order first, from the timestamp alone: a bad price must not hide (or fake) a gap.
        if prev_ts is not None:
            if ts == prev_ts:
                report(line_no, f"duplicate timestamp {ts} (also on line {prev_line})", ERROR)
                continue
            if ts < prev_ts:
                report(
                    line_no,
                    f"unsorted: timestamp {ts} is before {prev_ts} on line {prev_line}",
                    ERROR,
                )
                continue
            if ts - prev_ts > resolution_ms and ts % resolution_ms == 0:
                missing = (ts - prev_ts) // resolution_ms - 1
                report(
                    line_no,
                    f"gap: {missing} bar(s) missing between {iso(prev_ts)} and {iso(ts)}",
                    WARNING,
                )
        prev_ts, prev_line = ts, line_no
        try:
            column = "open"
            o = fixed(f[1], price_scale)
            column = "high"
            h = fixed(f[2], price_scale)
            column = "low"
            lo = fixed(f[3], price_scale)
            column = "close"
            c = fixed(f[4], price_scale)
            column = "volume"
            v = fixed(f[5], qty_scale)
        except ValueError as exc:
            report(line_no, f"{column}: {exc}", ERROR)
            continue
        bad = None
        if o <= 0 or h <= 0 or lo <= 0 or c <= 0:
            named = zip(("open", "high", "low", "close"), (o, h, lo, c), f[1:5], strict=True)
            bad = "non-positive price: " + ", ".join(
                f"{name} {text}" for name, units, text in named if units <= 0
            )
        elif v < 0:
            bad = f"negative volume {f[5]}"
        elif h < o or h < c or lo > o or lo > c or lo > h:
            bad = f"high {f[2]} / low {f[3]} do not bound open {f[1]} and close {f[4]}"
        elif ts % resolution_ms:
            bad = f"timestamp {ts} is not on the {resolution_ms} ms grid"
        elif ts < start or ts + resolution_ms > end:
            bad = f"bar at {iso(ts)} is outside the manifest's range {iso(start)}..{iso(end)}"
        if bad is not None:
            report(line_no, bad, ERROR)
            continue
        ts_a(ts)
        o_a(o)
        h_a(h)
        l_a(lo)
        c_a(c)
        v_a(v)
    return cols, seen


def scan_tickers(
    path: Path, report: Report, *, price_scale: int, qty_scale: int, window: tuple[int, int]
) -> tuple[TickerColumns, int]:
    """Check every top-of-book row: positive prices, bid below ask (else a crossed book),
    non-negative volume, strictly increasing timestamps inside the manifest's range."""
    cols = TickerColumns()
    start, end = window
    prev_ts: int | None = None
    prev_line = 0
    seen = 0
    for line_no, f in rows(path, "tickers", report):
        seen += 1
        try:
            ts = parse_int(f[0])
            bid = fixed(f[1], price_scale)
            ask = fixed(f[2], price_scale)
            last = fixed(f[3], price_scale)
            vol = fixed(f[4], qty_scale)
        except ValueError as exc:
            report(line_no, str(exc), ERROR)
            continue
        if prev_ts is not None and ts <= prev_ts:
            word = "duplicate timestamp" if ts == prev_ts else "unsorted: timestamp"
            rel = "also on" if ts == prev_ts else "not after the one on"
            report(line_no, f"{word} {ts} ({rel} line {prev_line})", ERROR)
            continue
        if bid <= 0 or ask <= 0 or last <= 0:
            report(line_no, "non-positive price", ERROR)
        elif bid >= ask:
            report(line_no, f"crossed book: bid {f[1]} >= ask {f[2]}", ERROR)
        elif vol < 0:
            report(line_no, f"negative volume {f[4]}", ERROR)
        elif ts < start or ts > end:
            report(line_no, f"snapshot at {iso(ts)} is outside the manifest's range", ERROR)
        else:
            prev_ts, prev_line = ts, line_no
            cols.ts.append(ts)
            cols.bid.append(bid)
            cols.ask.append(ask)
            cols.last.append(last)
            cols.volume.append(vol)
            continue
        prev_ts, prev_line = ts, line_no
    return cols, seen


def scan_books(
    path: Path, report: Report, *, price_scale: int, qty_scale: int, window: tuple[int, int]
) -> tuple[list[BookSnapshot], int]:
    """Check book snapshots: one block of rows per timestamp, levels numbered 0.. per side, bids
    descending and asks ascending, positive prices and quantities, best bid below best ask."""
    snapshots: list[BookSnapshot] = []
    start, end = window
    seen = 0
    cur_ts: int | None = None
    cur_line = 0
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    ok = True
    done: set[int] = set()

    def close_snapshot() -> None:
        nonlocal ok
        if cur_ts is None:
            return
        if ok and bids and asks and bids[0][0] >= asks[0][0]:
            report(cur_line, f"crossed book at {cur_ts}: best bid >= best ask", ERROR)
            ok = False
        if ok:
            snapshots.append((cur_ts, tuple(bids), tuple(asks)))
        done.add(cur_ts)

    for line_no, f in rows(path, "books", report):
        seen += 1
        try:
            ts = parse_int(f[0])
            side = f[1].strip().lower()
            level = parse_int(f[2])
            price = fixed(f[3], price_scale)
            qty = fixed(f[4], qty_scale)
        except ValueError as exc:
            report(line_no, str(exc), ERROR)
            ok = False
            continue
        if ts != cur_ts:
            if cur_ts is not None and ts < cur_ts:
                report(line_no, f"unsorted: snapshot {ts} comes after {cur_ts}", ERROR)
                ok = False
                continue
            close_snapshot()
            if ts in done:
                report(line_no, f"duplicate snapshot timestamp {ts}", ERROR)
            cur_ts, cur_line, bids, asks, ok = ts, line_no, [], [], True
            if ts < start or ts > end:
                report(line_no, f"snapshot at {iso(ts)} is outside the manifest's range", ERROR)
                ok = False
        if side not in ("bid", "ask"):
            report(line_no, f"side {f[1]!r} is not bid or ask", ERROR)
            ok = False
            continue
        levels = bids if side == "bid" else asks
        if level != len(levels):
            what = "duplicate" if level < len(levels) else "skipped"
            report(line_no, f"{what} {side} level {level} (expected {len(levels)})", ERROR)
            ok = False
            continue
        if price <= 0 or qty <= 0:
            report(line_no, "non-positive price or quantity", ERROR)
            ok = False
            continue
        if levels and (price >= levels[-1][0] if side == "bid" else price <= levels[-1][0]):
            order = "descending" if side == "bid" else "ascending"
            report(line_no, f"{side} prices must be strictly {order} by level", ERROR)
            ok = False
            continue
        if side == "ask" and level == 0 and bids and bids[0][0] >= price:
            report(line_no, f"crossed book: best bid >= best ask {f[3]}", ERROR)
            ok = False
        elif side == "bid" and level == 0 and asks and price >= asks[0][0]:
            report(line_no, f"crossed book: best bid {f[3]} >= best ask", ERROR)
            ok = False
        levels.append((price, qty))
    close_snapshot()
    return snapshots, seen


def scan_trades(
    path: Path, report: Report, *, price_scale: int, qty_scale: int, window: tuple[int, int]
) -> int:
    """Check public trades: non-decreasing timestamps, unique trade ids, buy/sell sides,
    positive prices and quantities. Returns the data rows seen (trades are not kept)."""
    start, end = window
    prev_ts: int | None = None
    prev_line = 0
    ids: dict[int, int] = {}
    seen = 0
    for line_no, f in rows(path, "trades", report):
        seen += 1
        try:
            ts = parse_int(f[0])
            trade_id = parse_int(f[1])
            price = fixed(f[3], price_scale)
            qty = fixed(f[4], qty_scale)
        except ValueError as exc:
            report(line_no, str(exc), ERROR)
            continue
        side = f[2].strip().lower()
        if prev_ts is not None and ts < prev_ts:
            report(
                line_no, f"unsorted: timestamp {ts} is before {prev_ts} on line {prev_line}", ERROR
            )
            continue
        prev_ts, prev_line = ts, line_no
        if trade_id in ids:
            report(line_no, f"duplicate trade id {trade_id} (also on line {ids[trade_id]})", ERROR)
            continue
        ids[trade_id] = line_no
        if side not in ("buy", "sell"):
            report(line_no, f"side {f[2]!r} is not buy or sell", ERROR)
        elif price <= 0 or qty <= 0:
            report(line_no, "non-positive price or quantity", ERROR)
        elif ts < start or ts > end:
            report(line_no, f"trade at {iso(ts)} is outside the manifest's range", ERROR)
    return seen
