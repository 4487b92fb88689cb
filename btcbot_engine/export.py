"""`btcbot export`: the last N cycles' rows as JSON Lines or CSV, read-only, written atomically.

Tables: cycles, decisions, orders (created in those cycles), fills and ledger entries (in the
cycles' time span). The same row layout is used for both formats:

- money and quantities are Decimals written as plain decimal text (`format(d, "f")`: never an
  exponent, never a float), so they read back exactly;
- every `*_ms` column (unix milliseconds) is followed by a `*_utc` column with the same instant
  as ISO-8601 UTC (`2025-01-02T03:04:05.678Z`);
- ids that can exceed a float's precision (trade and order ids) are text;
- `detail` / `summary` are JSON objects (nested in JSONL, JSON text in CSV).

JSONL: one file, one object per line, each with a `"table"` field first.

CSV: one file per table, named `<stem>.<table>.csv` beside `--out` (`out/run.csv` gives
`out/run.cycles.csv`, `out/run.decisions.csv`, ...), so each sheet has its own header row.
UTF-8 with a byte-order mark (so spreadsheet programs detect UTF-8), CRLF line ends, a header
row. Text cells that a spreadsheet could run as a formula (starting with = + - @, tab or CR) are
prefixed with `'`; so are cells already starting with `'`, which keeps the escaping reversible
(`unescape_cell`). Plain numbers, negative ones included, are written as they are.

Every file is written to a temporary file in the target folder and renamed into place once all
of them are complete: nothing half-written is left behind. Existing files are refused unless
`force`. The database holds no secrets, so none can reach an export.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from btcbot_engine.reports import DEFAULT_LAST_CYCLES, Window, load_window
from btcbot_engine.store.db import Store

Format = Literal["jsonl", "csv"]
FORMATS: tuple[str, ...] = ("jsonl", "csv")
TABLES: tuple[str, ...] = ("cycles", "decisions", "orders", "fills", "ledger")

#: Columns of each table, in order (`*_utc` columns are added after each `*_ms` one).
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "cycles": ("cycle_id", "run_id", "started_ms", "finished_ms", "mode", "outcome", "summary"),
    "decisions": (
        "id",
        "run_id",
        "cycle_id",
        "ts_ms",
        "stage",
        "action",
        "reason_code",
        "symbol",
        "detail",
    ),
    "orders": (
        "client_id",
        "exchange_order_id",
        "symbol",
        "side",
        "method",
        "price",
        "quantity",
        "filled_quantity",
        "state",
        "run_id",
        "cycle_id",
        "intent",
        "reason",
        "created_ms",
        "updated_ms",
        "last_error",
    ),
    "fills": (
        "trade_id",
        "order_id",
        "client_id",
        "symbol",
        "base",
        "quote",
        "side",
        "price",
        "quantity",
        "fee",
        "tax",
        "fee_asset",
        "timestamp_ms",
    ),
    "ledger": (
        "seq",
        "ts_ms",
        "kind",
        "symbol",
        "asset",
        "quantity",
        "amount_quote",
        "price",
        "ref",
        "detail",
    ),
}
_TEXT_IDS = frozenset({"exchange_order_id", "trade_id", "order_id"})
_JSON_COLUMNS = frozenset({"summary", "detail"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


class ExportError(Exception):
    """The export cannot be written as asked (file exists, bad folder); nothing was written."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What was written: the files and the row count of each table."""

    files: tuple[Path, ...]
    rows: Mapping[str, int]


def iso_utc(ms: int | None) -> str | None:
    """Unix milliseconds as ISO-8601 UTC with milliseconds and a Z, computed exactly."""
    if ms is None:
        return None
    seconds, millis = divmod(int(ms), 1000)
    stamp = datetime.fromtimestamp(seconds, UTC).replace(microsecond=millis * 1000)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def header(table: str) -> list[str]:
    """The column names of `table` as exported (with the `*_utc` columns)."""
    names: list[str] = []
    for col in COLUMNS[table]:
        names.append(col)
        if col.endswith("_ms"):
            names.append(col[:-3] + "_utc")
    return names


def _value(col: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    if col in _TEXT_IDS:
        return str(value)
    if col in _JSON_COLUMNS and isinstance(value, Mapping):
        # Plain JSON types only (Decimals as text), so both formats write the same object.
        return json.loads(json.dumps(dict(value), default=_json_default, sort_keys=True))
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    return str(value)


def _row(table: str, obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in COLUMNS[table]:
        value = _value(col, getattr(obj, col))
        out[col] = value
        if col.endswith("_ms"):
            out[col[:-3] + "_utc"] = iso_utc(value)
    return out


def table_rows(window: Window) -> dict[str, list[dict[str, Any]]]:
    """Every exported row of the window, per table (values JSON-ready)."""
    return {
        "cycles": [_row("cycles", c) for c in window.cycles],
        "decisions": [_row("decisions", d) for d in window.decisions],
        "orders": [_row("orders", o) for o in window.orders],
        "fills": [_row("fills", f) for f in window.fills],
        "ledger": [_row("ledger", e) for e in window.ledger],
    }


# -- CSV cells ---------------------------------------------------------------------------------


def escape_cell(value: Any) -> str:
    """One CSV cell: JSON text for objects, '' for None, formula-looking text prefixed by '."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """Undo `escape_cell`'s formula guard (the exact text that was exported)."""
    if text.startswith("'") and not _PLAIN_NUMBER.match(text):
        return text[1:]
    return text


# -- writing -------------------------------------------------------------------------------------


def csv_paths(out: Path) -> dict[str, Path]:
    """The per-table CSV files for `--out out` (`<stem>.<table>.csv` in the same folder)."""
    stem = out.name[: -len(".csv")] if out.name.lower().endswith(".csv") else out.name
    return {table: out.with_name(f"{stem}.{table}.csv") for table in TABLES}


def _jsonl_lines(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> Iterator[str]:
    for table in TABLES:
        for row in rows[table]:
            yield json.dumps({"table": table, **row}, ensure_ascii=False) + "\n"


def _write_jsonl(handle: Any, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    for line in _jsonl_lines(rows):
        handle.write(line)


def _write_csv(handle: Any, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    writer = csv.writer(handle, lineterminator="\r\n")
    names = header(table)
    writer.writerow(names)
    for row in rows:
        writer.writerow([escape_cell(row.get(name)) for name in names])


def _check_targets(targets: Sequence[Path], force: bool) -> None:
    for path in targets:
        if not path.parent.is_dir():
            raise ExportError(f"{path.parent} is not an existing folder")
        if path.is_dir():
            raise ExportError(f"{path} is a folder")
        if path.exists() and not force:
            raise ExportError(f"{path} exists; pass --force to overwrite it")


def write_export(
    store: Store,
    out: Path,
    *,
    fmt: Format = "jsonl",
    last_cycles: int = DEFAULT_LAST_CYCLES,
    force: bool = False,
) -> ExportResult:
    """Export the last `last_cycles` cycles to `out` (see the module docstring)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use jsonl or csv")
    out = Path(out)
    targets = list(csv_paths(out).values()) if fmt == "csv" else [out]
    _check_targets(targets, force)  # before reading anything: fail fast, write nothing
    rows = table_rows(load_window(store, last_cycles))
    temps: list[tuple[Path, Path]] = []
    try:
        if fmt == "jsonl":
            temps.append((_write_temp(out, lambda h: _write_jsonl(h, rows), "utf-8"), out))
        else:
            for table, path in csv_paths(out).items():

                def write(handle: Any, table: str = table) -> None:
                    _write_csv(handle, table, rows[table])

                temps.append((_write_temp(path, write, "utf-8-sig"), path))
        # Re-check just before renaming: a file that appeared meanwhile is not overwritten.
        _check_targets([dest for _, dest in temps], force)
        for temp, dest in temps:
            os.replace(temp, dest)
    except BaseException:
        for temp, _ in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    return ExportResult(tuple(dest for _, dest in temps), {t: len(rows[t]) for t in TABLES})


def _write_temp(dest: Path, write: Any, encoding: str) -> Path:
    """Write into a fresh temp file (mode 0600) beside `dest`, synced; return its path."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return temp
