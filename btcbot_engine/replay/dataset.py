"""The dataset format: a directory with `manifest.json` and one CSV table per symbol and kind.

```
DIR/manifest.json
DIR/candles/BTCTRY.csv[.gz]   ts_ms,open,high,low,close,volume      (required, one row per bar)
DIR/tickers/BTCTRY.csv[.gz]   ts_ms,bid,ask,last,volume             (optional top of book)
DIR/books/BTCTRY.csv[.gz]     ts_ms,side,level,price,quantity       (optional book snapshots)
DIR/trades/BTCTRY.csv[.gz]    ts_ms,trade_id,side,price,quantity    (optional public trades)
```

Times are Unix milliseconds (a candle's `ts_ms` is its bar's open time); prices are decimal text
in the pair's quote with at most the pair's `price_scale` decimals; quantities at most its
`quantity_scale`. The manifest names the symbols, the time range, the resolution, the source, the
seed, the schema version, the pairs' trading rules and a SHA-256 checksum and row count of every
table. docs/DATASET.md is the full description.

This module owns the manifest and the two entry points: `validate_dataset` (every problem, with
file and line) and `load_dataset` (strict: the first error stops it, naming file and line).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btcbot_engine.domain.market import normalize_symbol
from btcbot_engine.domain.rules import SymbolRules

if TYPE_CHECKING:
    from btcbot_engine.replay.series import Dataset

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
KINDS: tuple[str, ...] = ("candles", "tickers", "books", "trades")
REQUIRED_KINDS: tuple[str, ...] = ("candles",)
COLUMNS: dict[str, tuple[str, ...]] = {
    "candles": ("ts_ms", "open", "high", "low", "close", "volume"),
    "tickers": ("ts_ms", "bid", "ask", "last", "volume"),
    "books": ("ts_ms", "side", "level", "price", "quantity"),
    "trades": ("ts_ms", "trade_id", "side", "price", "quantity"),
}
RESOLUTIONS_MS: dict[str, int] = {
    "1s": 1_000,
    "5s": 5_000,
    "15s": 15_000,
    "30s": 30_000,
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
DEFAULT_SPREAD_BPS = Decimal("2")
ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class DatasetProblem:
    """One thing wrong with a dataset: the file (relative to the dataset directory), the 1-based
    line in that file (the header is line 1; None when the problem is about the whole file) and
    what is wrong. `severity` is "error" (the dataset must not be replayed) or "warning" (gaps:
    real data has them; the replay treats missing bars as stale data)."""

    file: str
    line: int | None
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class DatasetError(Exception):
    """A dataset that cannot be used; `problem` names the file and line."""

    def __init__(self, problem: DatasetProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A table's checksum (SHA-256 of the bytes on disk, compressed or not) and data rows."""

    sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """What `manifest.json` says. `end_ms` is exclusive (the last bar's close time)."""

    symbols: tuple[str, ...]
    start_ms: int
    end_ms: int
    resolution: str
    source: str
    seed: int | None
    rules: Mapping[str, SymbolRules]
    files: Mapping[str, FileEntry]
    spread_bps: Decimal = DEFAULT_SPREAD_BPS
    schema_version: int = SCHEMA_VERSION
    notes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolution_ms(self) -> int:
        return RESOLUTIONS_MS[self.resolution]

    def table(self, kind: str, symbol: str) -> str | None:
        """The relative path of one table if the manifest lists it (plain or gzip)."""
        for name in (f"{kind}/{symbol}.csv", f"{kind}/{symbol}.csv.gz"):
            if name in self.files:
                return name
        return None

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form (sorted keys when dumped: the file is bit-reproducible)."""
        return {
            "schema_version": self.schema_version,
            "symbols": list(self.symbols),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "resolution": self.resolution,
            "source": self.source,
            "seed": self.seed,
            "spread_bps": str(self.spread_bps),
            "rules": {s: rules_to_json(r) for s, r in sorted(self.rules.items())},
            "files": {
                name: {"sha256": e.sha256, "rows": e.rows} for name, e in sorted(self.files.items())
            },
            "notes": dict(self.notes),
        }


def rules_to_json(rules: SymbolRules) -> dict[str, Any]:
    """SymbolRules as manifest JSON (Decimals as strings)."""
    return {
        "base": rules.base,
        "quote": rules.quote,
        "status": rules.status,
        "price_scale": rules.price_scale,
        "quantity_scale": rules.quantity_scale,
        "tick_size": str(rules.tick_size),
        "min_notional": str(rules.min_notional),
        "min_price": None if rules.min_price is None else str(rules.min_price),
        "max_price": None if rules.max_price is None else str(rules.max_price),
        "has_fraction": rules.has_fraction,
        "order_methods": sorted(rules.order_methods),
    }


def _dec(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{what} must be a decimal string")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a decimal") from None
    if not result.is_finite():
        raise ValueError(f"{what} {value!r} is not finite")
    return result


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer")
    return value


def rules_from_json(symbol: str, data: Any) -> SymbolRules:
    """Manifest JSON -> SymbolRules; ValueError naming the field otherwise."""
    if not isinstance(data, Mapping):
        raise ValueError(f"rules for {symbol} must be an object")
    where = f"rules.{symbol}"
    try:
        methods = data.get("order_methods", ["LIMIT", "MARKET"])
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise ValueError(f"{where}.order_methods must be a list of strings")
        return SymbolRules(
            symbol=symbol,
            base=str(data["base"]).upper(),
            quote=str(data["quote"]).upper(),
            status=str(data.get("status", "TRADING")),
            price_scale=_int(data["price_scale"], f"{where}.price_scale"),
            quantity_scale=_int(data["quantity_scale"], f"{where}.quantity_scale"),
            tick_size=_dec(data["tick_size"], f"{where}.tick_size"),
            min_notional=_dec(data["min_notional"], f"{where}.min_notional"),
            min_price=None
            if data.get("min_price") is None
            else _dec(data["min_price"], f"{where}.min_price"),
            max_price=None
            if data.get("max_price") is None
            else _dec(data["max_price"], f"{where}.max_price"),
            has_fraction=bool(data.get("has_fraction", True)),
            order_methods=frozenset(m.upper() for m in methods),
        )
    except KeyError as exc:
        raise ValueError(f"{where} is missing {exc.args[0]!r}") from None


def manifest_from_json(data: Any) -> Manifest:
    """Parse manifest JSON; ValueError with a message naming the bad field."""
    if not isinstance(data, Mapping):
        raise ValueError("the manifest must be a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {version!r} is not supported (this btcbot reads {SCHEMA_VERSION})"
        )
    for key in ("symbols", "start_ms", "end_ms", "resolution", "source", "rules", "files"):
        if key not in data:
            raise ValueError(f"missing key {key!r}")
    symbols = data["symbols"]
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise ValueError("symbols must be a non-empty list of pair symbols")
    norm = tuple(normalize_symbol(s) for s in symbols)
    if len(set(norm)) != len(norm):
        raise ValueError("symbols lists a pair twice")
    resolution = data["resolution"]
    if resolution not in RESOLUTIONS_MS:
        raise ValueError(f"resolution {resolution!r} is not one of {', '.join(RESOLUTIONS_MS)}")
    start_ms, end_ms = _int(data["start_ms"], "start_ms"), _int(data["end_ms"], "end_ms")
    if end_ms <= start_ms:
        raise ValueError(f"end_ms {end_ms} is not after start_ms {start_ms}")
    seed = data.get("seed")
    if seed is not None:
        seed = _int(seed, "seed")
    rules_json = data["rules"]
    if not isinstance(rules_json, Mapping):
        raise ValueError("rules must be an object keyed by symbol")
    rules = {}
    for symbol in norm:
        if symbol not in rules_json:
            raise ValueError(f"rules has no entry for {symbol}")
        rules[symbol] = rules_from_json(symbol, rules_json[symbol])
    files_json = data["files"]
    if not isinstance(files_json, Mapping):
        raise ValueError("files must be an object keyed by relative path")
    files = {}
    for name, entry in files_json.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("sha256"), str):
            raise ValueError(f"files.{name} needs a sha256 string")
        files[str(name)] = FileEntry(str(entry["sha256"]), _int(entry.get("rows", 0), "rows"))
    spread = _dec(data.get("spread_bps", str(DEFAULT_SPREAD_BPS)), "spread_bps")
    if spread < 0:
        raise ValueError("spread_bps must not be negative")
    notes = data.get("notes", {})
    return Manifest(
        symbols=norm,
        start_ms=start_ms,
        end_ms=end_ms,
        resolution=str(resolution),
        source=str(data["source"]),
        seed=seed,
        rules=rules,
        files=files,
        spread_bps=spread,
        notes=notes if isinstance(notes, Mapping) else {},
    )


def read_manifest(directory: Path) -> Manifest:
    """Read and parse DIR/manifest.json; DatasetError naming the file (and line) otherwise."""
    path = directory / MANIFEST
    if not directory.is_dir():
        raise DatasetError(DatasetProblem(str(directory), None, "no such dataset directory"))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(DatasetProblem(MANIFEST, None, "missing")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(DatasetProblem(MANIFEST, None, f"unreadable: {exc}")) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(DatasetProblem(MANIFEST, exc.lineno, f"not JSON: {exc.msg}")) from None
    try:
        return manifest_from_json(data)
    except ValueError as exc:
        raise DatasetError(DatasetProblem(MANIFEST, None, str(exc))) from None


def manifest_bytes(manifest: Manifest) -> bytes:
    """The exact bytes written for a manifest (sorted keys, 2-space indent, trailing newline)."""
    return (json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n").encode()


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write the manifest atomically (temp file + rename): a reader never sees half of it."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{MANIFEST}.tmp"
    tmp.write_bytes(manifest_bytes(manifest))
    os.replace(tmp, directory / MANIFEST)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_files(directory: Path) -> list[str]:
    """Every table file under the kind folders, relative, sorted."""
    found = []
    for kind in KINDS:
        folder = directory / kind
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.name.endswith((".csv", ".csv.gz")):
                    found.append(f"{kind}/{path.name}")
    return found


def dataset_checksum(manifest: Manifest) -> str:
    """One hash over every table's checksum: names the dataset's content in fingerprints."""
    text = "\n".join(f"{name}={e.sha256}" for name, e in sorted(manifest.files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def validate_dataset(path: Path) -> list[DatasetProblem]:
    """Every problem of the dataset at `path` (errors and warnings), in file and line order.

    Never raises for bad data and never writes. An empty list means the dataset is clean.
    """
    from btcbot_engine.replay.validate import validate

    return validate(Path(path))


def errors_only(problems: Iterable[DatasetProblem]) -> list[DatasetProblem]:
    """The problems that make a dataset unusable (warnings dropped)."""
    return [p for p in problems if p.severity == ERROR]


def load_dataset(
    path: Path,
    *,
    symbols: Iterable[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    cache: bool = True,
) -> Dataset:
    """Load a dataset into memory for replay, strictly: checksums are verified and the first
    error raises DatasetError naming the file and line. The tables are never written; with
    `cache` the checked bars are kept in DIR/.cache keyed by each table's checksum, so the next
    load skips re-parsing them.

    `symbols` limits which pairs are loaded; `start_ms`/`end_ms` trim the bars kept (the whole
    file is still checked).
    """
    from btcbot_engine.replay.series import load

    return load(Path(path), symbols=symbols, start_ms=start_ms, end_ms=end_ms, cache=cache)
