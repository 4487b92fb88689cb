"""`btcbot replay-capture`: record a public market feed into the dataset format, resumably.

Public REST only (tickers, order books, exchangeinfo), no keys: it works against BTCTurk or the
bundled simulator alike. Every `interval` seconds it reads all tickers and each pair's book:

- tickers/<PAIR>.csv gets a row whenever the exchange's ticker timestamp moved (crossed or
  one-sided tickers are counted and skipped: the format refuses them);
- books/<PAIR>.csv gets each new book snapshot (top `depth` levels per side);
- candles/<PAIR>.csv gets one bar per completed `resolution` bucket, built from the sampled
  last prices (open, high, low, close) and the growth of the 24h volume between samples. The
  bucket the capture started in is dropped (it was only partly seen) and so is the one still
  open when it stops; buckets without a sample are missing (the validator reports the gap).

Resuming: run the same command again on the same directory. Tables are appended to (a line
half-written by a killed process is cut off first), rows at or before what is already there are
skipped, and the manifest (checksums, row counts, time range) is rewritten from the files at the
end of each session and every minute during one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from btcbot_engine.domain.market import OrderBook, Ticker, normalize_symbol
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.replay.dataset import (
    COLUMNS,
    MANIFEST,
    RESOLUTIONS_MS,
    DatasetError,
    DatasetProblem,
    FileEntry,
    Manifest,
    read_manifest,
    sha256_file,
    write_manifest,
)
from btcbot_engine.replay.writer import units_text

MANIFEST_EVERY_S = 60.0


class CaptureError(Exception):
    """The capture cannot start or continue; the message says why."""


@dataclass(slots=True)
class CaptureReport:
    """What one session added."""

    manifest: Manifest
    resumed: bool
    added: dict[str, int] = field(default_factory=dict)  # table name -> rows added
    skipped_tickers: int = 0
    polls: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Bar:
    start: int
    open: int
    high: int
    low: int
    close: int
    volume: int


class _Table:
    """One appended CSV table: header on creation, last timestamp for de-duplication."""

    def __init__(self, directory: Path, kind: str, symbol: str) -> None:
        self.name = f"{kind}/{symbol}.csv"
        self.path = directory / self.name
        self.kind = kind
        self.last_ts: int | None = None
        self.first_ts: int | None = None
        self.added = 0
        self._handle: IO[str] | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _cut_partial_line(self.path)
            self.first_ts, self.last_ts = _first_last_ts(self.path)
            self._handle = self.path.open("a", encoding="utf-8", newline="\n")
        else:
            self._handle = self.path.open("w", encoding="utf-8", newline="\n")
            self._handle.write(",".join(COLUMNS[self.kind]) + "\n")

    def write(self, ts: int, lines: Sequence[str]) -> None:
        assert self._handle is not None
        self._handle.writelines(lines)
        self.added += len(lines)
        self.last_ts = ts
        if self.first_ts is None:
            self.first_ts = ts

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _cut_partial_line(path: Path) -> None:
    """Drop a last line without its newline (a write cut short by a killed process)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with path.open("r+b") as handle:
            handle.truncate(keep)


def _first_last_ts(path: Path) -> tuple[int | None, int | None]:
    first = last = None
    with path.open("r", encoding="utf-8") as handle:
        handle.readline()  # header
        for line in handle:
            head = line.split(",", 1)[0]
            if head.isdigit():
                ts = int(head)
                first = ts if first is None else first
                last = ts
    return first, last


def _data_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _price(value: Decimal, scale: int) -> str:
    return units_text(int(value.scaleb(scale).to_integral_value(ROUND_HALF_EVEN)), scale)


def _qty(value: Decimal, scale: int) -> str:
    return units_text(int(value.scaleb(scale).to_integral_value(ROUND_DOWN)), scale)


class _Recorder:
    """Everything recorded for one pair."""

    def __init__(self, directory: Path, symbol: str, rules: SymbolRules, res_ms: int) -> None:
        self.symbol = symbol
        self.rules = rules
        self.res_ms = res_ms
        self.candles = _Table(directory, "candles", symbol)
        self.tickers = _Table(directory, "tickers", symbol)
        self.books = _Table(directory, "books", symbol)
        self.bar: _Bar | None = None
        self.first_bucket: int | None = None  # the bucket the session started in: dropped
        self.last_volume: Decimal | None = None

    @property
    def tables(self) -> tuple[_Table, ...]:
        return (self.candles, self.tickers, self.books)

    def on_ticker(self, t: Ticker) -> bool:
        """Record one ticker; False when it was unusable (crossed, one-sided)."""
        ps, qs = self.rules.price_scale, self.rules.quantity_scale
        ts = t.exchange_ts_ms
        if t.bid <= 0 or t.ask <= 0 or t.last <= 0 or t.bid >= t.ask:
            return False
        if self.tickers.last_ts is None or ts > self.tickers.last_ts:
            prices = ",".join(_price(v, ps) for v in (t.bid, t.ask, t.last))
            self.tickers.write(ts, [f"{ts},{prices},{_qty(t.volume, qs)}\n"])
        # The bar: last prices sampled, volume from the growth of the 24h volume.
        bucket = ts // self.res_ms * self.res_ms
        price = int(t.last.scaleb(ps).to_integral_value(ROUND_HALF_EVEN))
        grew = Decimal(0)
        if self.last_volume is not None and t.volume > self.last_volume:
            grew = t.volume - self.last_volume
        self.last_volume = t.volume
        vol = int(grew.scaleb(qs).to_integral_value(ROUND_DOWN))
        if self.first_bucket is None:
            self.first_bucket = bucket
        bar = self.bar
        if bar is not None and bucket > bar.start:
            self._close_bar()
            bar = None
        if bar is None:
            if bucket == self.first_bucket:
                return True  # only part of this bucket is seen: not a bar
            if self.candles.last_ts is not None and bucket <= self.candles.last_ts:
                return True  # already recorded by an earlier session
            self.bar = _Bar(bucket, price, price, price, price, vol)
        elif bucket == bar.start:
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
            bar.volume += vol
        return True

    def _close_bar(self) -> None:
        bar = self.bar
        if bar is None:
            return
        ps, qs = self.rules.price_scale, self.rules.quantity_scale
        line = (
            f"{bar.start},{units_text(bar.open, ps)},{units_text(bar.high, ps)},"
            f"{units_text(bar.low, ps)},{units_text(bar.close, ps)},{units_text(bar.volume, qs)}\n"
        )
        self.candles.write(bar.start, [line])
        self.bar = None

    def on_book(self, book: OrderBook, depth: int) -> None:
        ts = book.exchange_ts_ms
        if self.books.last_ts is not None and ts <= self.books.last_ts:
            return
        bids, asks = book.bids[:depth], book.asks[:depth]
        if bids and asks and bids[0].price >= asks[0].price:
            return
        ps, qs = self.rules.price_scale, self.rules.quantity_scale
        lines = []
        for side, levels in (("bid", bids), ("ask", asks)):
            previous: str | None = None
            level_no = 0
            for lv in levels:
                price, qty = _price(lv.price, ps), _qty(lv.quantity, qs)
                if price == previous or Decimal(qty) <= 0 or Decimal(price) <= 0:
                    continue  # levels that collapse at this scale, or dust
                lines.append(f"{ts},{side},{level_no},{price},{qty}\n")
                previous = price
                level_no += 1
        if lines:
            self.books.write(ts, lines)


def _bounds(recorders: Sequence[_Recorder], res_ms: int, old: Manifest | None) -> tuple[int, int]:
    firsts = [t.first_ts for r in recorders for t in r.tables if t.first_ts is not None]
    lasts = []
    for r in recorders:
        if r.candles.last_ts is not None:
            lasts.append(r.candles.last_ts + res_ms)
        for t in (r.tickers, r.books):
            if t.last_ts is not None:
                lasts.append(-(-t.last_ts // res_ms) * res_ms)
    if not firsts or not lasts:
        raise CaptureError("nothing was recorded (no usable ticker or book yet)")
    start = min(firsts) // res_ms * res_ms
    end = max(lasts)
    if old is not None:
        start, end = min(start, old.start_ms), max(end, old.end_ms)
    return start, max(end, start + res_ms)


def _write_manifest(
    directory: Path,
    recorders: Sequence[_Recorder],
    res_name: str,
    source: str,
    rules: dict[str, SymbolRules],
    old: Manifest | None,
) -> Manifest | None:
    try:
        start, end = _bounds(recorders, RESOLUTIONS_MS[res_name], old)
    except CaptureError:
        return None
    files = {}
    for r in recorders:
        for t in r.tables:
            t.flush()
            if t.path.exists():
                files[t.name] = FileEntry(sha256_file(t.path), _data_rows(t.path))
    if not any(name.startswith("candles/") and e.rows for name, e in files.items()):
        # The format needs bars: until the first one closes there is nothing to replay.
        return None
    manifest = Manifest(
        symbols=tuple(r.symbol for r in recorders),
        start_ms=start,
        end_ms=end,
        resolution=res_name,
        source=source,
        seed=None,
        rules=rules,
        files=files,
        notes={"capture": "REST polling of tickers and books; bars from sampled last prices"},
    )
    write_manifest(directory, manifest)
    return manifest


async def capture(
    directory: Path,
    *,
    symbols: Sequence[str],
    minutes: float,
    base_url: str,
    graph_url: str,
    interval_s: float = 5.0,
    resolution: str = "1m",
    depth: int = 10,
    timeout_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[float, float], None] | None = None,
) -> CaptureReport:
    """Record `minutes` of the public feed into `directory` (resuming what is there)."""
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
    from btcbot_engine.exchange.port import ExchangeError

    if resolution not in RESOLUTIONS_MS:
        raise CaptureError(f"resolution {resolution!r} is not one of {', '.join(RESOLUTIONS_MS)}")
    if minutes <= 0 or interval_s <= 0 or depth < 1:
        raise CaptureError("--minutes and --interval-seconds must be positive, --depth >= 1")
    res_ms = RESOLUTIONS_MS[resolution]
    names = [normalize_symbol(s) for s in symbols]
    if not names or len(set(names)) != len(names):
        raise CaptureError("give each symbol once")
    old: Manifest | None = None
    if (directory / MANIFEST).exists():
        try:
            old = read_manifest(directory)
        except DatasetError as exc:
            raise CaptureError(f"cannot resume: {exc}") from None
        if not old.source.startswith("capture:"):
            raise DatasetError(
                DatasetProblem(
                    MANIFEST, None, f"{directory} holds a {old.source} dataset; not appending"
                )
            )
        if old.resolution != resolution or list(old.symbols) != names:
            raise CaptureError(
                f"cannot resume: the dataset records {','.join(old.symbols)} at {old.resolution}"
            )
    source = f"capture:{urlparse(base_url).netloc}"
    exchange = BtcturkExchange(base_url, graph_url, timeout_s=timeout_s, max_retries=1)
    recorders: list[_Recorder] = []
    report: CaptureReport | None = None
    try:
        try:
            info = await exchange.exchange_info()
        except ExchangeError as exc:
            raise CaptureError(f"exchangeinfo: {exc}") from None
        rules: dict[str, SymbolRules] = {}
        for symbol in names:
            if symbol not in info:
                raise CaptureError(f"{symbol} is not listed by {urlparse(base_url).netloc}")
            rules[symbol] = dataclasses.replace(info[symbol], min_price=None, max_price=None)
        if old is not None:
            rules = dict(old.rules)  # the recorded rows were scaled with these
        recorders = [_Recorder(directory, s, rules[s], res_ms) for s in names]
        for r in recorders:
            for t in r.tables:
                t.open()
        started = clock()
        deadline = started + minutes * 60
        last_manifest = started
        report = CaptureReport(manifest=old, resumed=old is not None)  # type: ignore[arg-type]
        while not should_stop():
            now = clock()
            if now >= deadline:
                break
            report.polls += 1
            try:
                tickers = {t.symbol: t for t in await exchange.tickers(None)}
                for r in recorders:
                    t = tickers.get(r.symbol)
                    if t is None:
                        continue
                    if not r.on_ticker(t):
                        report.skipped_tickers += 1
                    r.on_book(await exchange.order_book(r.symbol, depth), depth)
            except ExchangeError as exc:
                report.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            for r in recorders:
                for t in r.tables:
                    t.flush()
            if clock() - last_manifest >= MANIFEST_EVERY_S:
                written = _write_manifest(directory, recorders, resolution, source, rules, old)
                report.manifest = written or report.manifest
                last_manifest = clock()
            if progress is not None:
                progress(min(clock() - started, minutes * 60), minutes * 60)
            await sleep(max(0.0, min(interval_s, deadline - clock())))
    finally:
        for r in recorders:
            for t in r.tables:
                t.close()
        await exchange.close()
    written = _write_manifest(directory, recorders, resolution, source, rules, old)
    if written is None:
        raise CaptureError(
            "no complete bar was recorded; capture for longer than two "
            f"{resolution} bars (nothing was written to the manifest)"
        )
    report.manifest = written
    report.added = {t.name: t.added for r in recorders for t in r.tables}
    return report
