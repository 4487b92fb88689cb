"""A dataset loaded for replay: per symbol, bars (and optional tickers and books) in flat arrays.

Prices are integers of 10**-price_scale and volumes of 10**-quantity_scale (see `tables.py`);
`price()` and `qty()` turn one back into an exact Decimal. A million one-minute bars take about
50 MB this way.
"""

from __future__ import annotations

import json
import os
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

from btcbot_engine.domain.market import normalize_symbol
from btcbot_engine.domain.rules import SymbolRules, scale_unit
from btcbot_engine.replay.dataset import (
    ERROR,
    DatasetError,
    DatasetProblem,
    Manifest,
    dataset_checksum,
    read_manifest,
    sha256_file,
)
from btcbot_engine.replay.tables import (
    BookSnapshot,
    CandleColumns,
    Report,
    TickerColumns,
    scan_books,
    scan_candles,
    scan_tickers,
)

DAY_MS = 86_400_000


@dataclass(slots=True)
class SymbolSeries:
    """One pair's recorded market."""

    symbol: str
    rules: SymbolRules
    candles: CandleColumns
    tickers: TickerColumns | None = None
    books: list[BookSnapshot] | None = None
    book_ts: array[int] = field(default_factory=lambda: array("q"))
    # cum_volume[i] = volume of bars 0..i-1 (so a window's volume is one subtraction)
    cum_volume: array[int] = field(default_factory=lambda: array("q"))

    @property
    def price_scale(self) -> int:
        return self.rules.price_scale

    @property
    def qty_scale(self) -> int:
        return self.rules.quantity_scale

    def price(self, units: int) -> Decimal:
        """Integer price units -> the exact Decimal (e.g. 215000050 -> 2150000.50)."""
        # Times the scale's unit: the same value, digits and exponent as .scaleb(-scale), cheaper.
        return Decimal(units) * scale_unit(self.rules.price_scale)

    def qty(self, units: int) -> Decimal:
        """Integer quantity units -> the exact Decimal."""
        return Decimal(units) * scale_unit(self.rules.quantity_scale)

    def bar_at_or_before(self, ts_ms: int) -> int:
        """Index of the last bar whose open time is <= ts_ms, or -1."""
        return bisect_right(self.candles.ts, ts_ms) - 1

    def volume_between(self, first: int, last: int) -> int:
        """Summed volume units of bars first..last inclusive."""
        if last < first:
            return 0
        return self.cum_volume[last + 1] - self.cum_volume[max(first, 0)]


@dataclass(slots=True)
class Dataset:
    """A loaded dataset: its manifest, its series and the warnings (gaps) found loading it."""

    path: Path
    manifest: Manifest
    series: dict[str, SymbolSeries]
    warnings: list[DatasetProblem] = field(default_factory=list)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.series)

    @property
    def resolution_ms(self) -> int:
        return self.manifest.resolution_ms

    @property
    def checksum(self) -> str:
        """The content hash of the whole dataset (every table's checksum)."""
        return dataset_checksum(self.manifest)

    def bar_count(self) -> int:
        """Bars over all symbols."""
        return sum(len(s.candles) for s in self.series.values())

    def first_bar_ms(self) -> int:
        """The earliest bar open time of any symbol."""
        return min(s.candles.ts[0] for s in self.series.values() if len(s.candles))

    def last_close_ms(self) -> int:
        """The latest bar close time of any symbol."""
        res = self.resolution_ms
        return max(s.candles.ts[-1] + res for s in self.series.values() if len(s.candles))


def _strict(name: str, warnings: list[DatasetProblem]) -> Report:
    def report(line: int | None, message: str, severity: str) -> None:
        problem = DatasetProblem(name, line, message, severity)
        if severity == ERROR:
            raise DatasetError(problem)
        warnings.append(problem)

    return report


def _verify(directory: Path, manifest: Manifest, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise DatasetError(DatasetProblem(name, None, "listed in manifest.json but missing"))
    actual = sha256_file(path)
    if actual != manifest.files[name].sha256:
        # Damaged: name the first bad line if the damage shows in the rows themselves.
        from btcbot_engine.replay.validate import first_error

        problem = first_error(directory, manifest, name)
        if problem is not None:
            raise DatasetError(problem)
        raise DatasetError(
            DatasetProblem(
                name,
                None,
                "checksum mismatch: the file changed or was damaged since the manifest was "
                "written (run `btcbot replay-validate` for details)",
            )
        )
    return path


CACHE_DIR = ".cache"
_CACHE_MAGIC = b"btcbot-bars-v1\n"
_COLUMN_NAMES = ("ts", "open", "high", "low", "close", "volume")


def _cache_path(directory: Path, name: str, sha256: str) -> Path:
    return directory / CACHE_DIR / f"{name.replace('/', '_')}.{sha256[:24]}.bin"


def _read_cache(path: Path, name: str) -> tuple[CandleColumns, list[DatasetProblem]] | None:
    """Bars a previous load checked and saved, or None (no cache, or a damaged one)."""
    try:
        with path.open("rb") as handle:
            if handle.read(len(_CACHE_MAGIC)) != _CACHE_MAGIC:
                return None
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
            rows = int(header["rows"])
            cols = CandleColumns()
            for column in _COLUMN_NAMES:
                arr: array[int] = getattr(cols, column)
                arr.fromfile(handle, rows)
            if handle.read(1):
                return None
            warnings = [
                DatasetProblem(name, w["line"], w["message"], w["severity"])
                for w in header["warnings"]
            ]
            return cols, warnings
    except (OSError, EOFError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, cols: CandleColumns, warnings: list[DatasetProblem]) -> None:
    """Save checked bars for the next load; silently skipped where the directory is read-only."""
    header = json.dumps(
        {
            "rows": len(cols),
            "warnings": [
                {"line": w.line, "message": w.message, "severity": w.severity} for w in warnings
            ],
        }
    ).encode()
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as handle:
            handle.write(_CACHE_MAGIC)
            handle.write(len(header).to_bytes(8, "little"))
            handle.write(header)
            for column in _COLUMN_NAMES:
                getattr(cols, column).tofile(handle)
        os.replace(tmp, path)
    except OSError:
        pass


def _load_candles(
    directory: Path,
    manifest: Manifest,
    name: str,
    warnings: list[DatasetProblem],
    *,
    cache: bool,
    **scan: Any,
) -> CandleColumns:
    """Check and read one candles table, or its cached arrays when the checksum matches.

    The CSV's checksum is verified either way; the cache (DIR/.cache, keyed by that checksum)
    only saves re-parsing rows that were already checked, and is written only after a clean
    strict scan. The tables themselves are never modified.
    """
    path = _verify(directory, manifest, name)
    cache_file = _cache_path(directory, name, manifest.files[name].sha256)
    if cache:
        cached = _read_cache(cache_file, name)
        if cached is not None:
            warnings.extend(cached[1])
            return cached[0]
    found: list[DatasetProblem] = []
    cols, _ = scan_candles(path, _strict(name, found), **scan)
    warnings.extend(found)
    if cache:
        _write_cache(cache_file, cols, found)
    return cols


def _trim(cols: CandleColumns, first: int, last: int) -> CandleColumns:
    if first == 0 and last == len(cols):
        return cols
    return CandleColumns(
        ts=cols.ts[first:last],
        open=cols.open[first:last],
        high=cols.high[first:last],
        low=cols.low[first:last],
        close=cols.close[first:last],
        volume=cols.volume[first:last],
    )


def load(
    directory: Path,
    *,
    symbols: Iterable[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    cache: bool = True,
) -> Dataset:
    """See `dataset.load_dataset`."""
    manifest = read_manifest(directory)
    wanted = manifest.symbols
    if symbols is not None:
        wanted = tuple(normalize_symbol(s) for s in symbols)
        unknown = [s for s in wanted if s not in manifest.symbols]
        if unknown:
            have = ", ".join(manifest.symbols)
            raise DatasetError(
                DatasetProblem(
                    "manifest.json",
                    None,
                    f"no {', '.join(unknown)} in this dataset (it has {have})",
                )
            )
    warnings: list[DatasetProblem] = []
    window = (manifest.start_ms, manifest.end_ms)
    res = manifest.resolution_ms
    series: dict[str, SymbolSeries] = {}
    for symbol in wanted:
        rules = manifest.rules[symbol]
        scales = {"price_scale": rules.price_scale, "qty_scale": rules.quantity_scale}
        name = manifest.table("candles", symbol)
        if name is None:
            raise DatasetError(DatasetProblem("manifest.json", None, f"{symbol} has no candles"))
        cols = _load_candles(
            directory,
            manifest,
            name,
            warnings,
            cache=cache,
            resolution_ms=res,
            window=window,
            **scales,
        )
        first = 0 if start_ms is None else bisect_right(cols.ts, start_ms - 1)
        last = len(cols) if end_ms is None else bisect_right(cols.ts, end_ms - res)
        cols = _trim(cols, first, last)
        item = SymbolSeries(symbol, rules, cols)
        item.cum_volume = array("q", accumulate(cols.volume, initial=0))
        ticker_name = manifest.table("tickers", symbol)
        if ticker_name is not None:
            item.tickers, _ = scan_tickers(
                _verify(directory, manifest, ticker_name),
                _strict(ticker_name, warnings),
                window=window,
                **scales,
            )
        book_name = manifest.table("books", symbol)
        if book_name is not None:
            item.books, _ = scan_books(
                _verify(directory, manifest, book_name),
                _strict(book_name, warnings),
                window=window,
                **scales,
            )
            item.book_ts = array("q", (b[0] for b in item.books))
        series[symbol] = item
    if not any(len(s.candles) for s in series.values()):
        raise DatasetError(DatasetProblem("manifest.json", None, "no bars in the requested window"))
    return Dataset(directory, manifest, series, warnings)
