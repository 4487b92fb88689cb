"""`btcbot replay-validate`: every problem of a dataset, each with its file and line.

Checks, in this order: the manifest (JSON, schema version, keys, rules); that every listed table
exists with the listed checksum and row count and that no table is unlisted; that every symbol
has candles; then every row of every table (see `tables.py` for the per-kind rules). Problems are
collected, never raised, and nothing is written.
"""

from __future__ import annotations

import re
from pathlib import Path

from btcbot_engine.replay.dataset import (
    ERROR,
    KINDS,
    MANIFEST,
    REQUIRED_KINDS,
    WARNING,
    DatasetError,
    DatasetProblem,
    Manifest,
    data_files,
    read_manifest,
    sha256_file,
)
from btcbot_engine.replay.tables import Report, scan_books, scan_candles, scan_tickers, scan_trades

MAX_PER_FILE = 1000  # listed per file; the rest are counted in one closing line
_TABLE_RE = re.compile(r"^(?P<kind>[a-z]+)/(?P<symbol>[A-Z0-9]+)\.csv(\.gz)?$")


class _Collector:
    """Problems of one file, capped, with a count of what was left out."""

    def __init__(self, name: str, out: list[DatasetProblem]) -> None:
        self.name = name
        self.out = out
        self.count = 0

    def __call__(self, line: int | None, message: str, severity: str) -> None:
        self.count += 1
        if self.count <= MAX_PER_FILE:
            self.out.append(DatasetProblem(self.name, line, message, severity))

    def close(self) -> None:
        if self.count > MAX_PER_FILE:
            more = self.count - MAX_PER_FILE
            self.out.append(
                DatasetProblem(self.name, None, f"{more} more problem(s) in this file not listed")
            )


def _scan(directory: Path, manifest: Manifest, name: str, report: Report) -> int:
    kind, symbol = name.split("/", 1)[0], _TABLE_RE.match(name).group("symbol")  # type: ignore[union-attr]
    rules = manifest.rules[symbol]
    window = (manifest.start_ms, manifest.end_ms)
    path = directory / name
    scales = {"price_scale": rules.price_scale, "qty_scale": rules.quantity_scale}
    if kind == "candles":
        _, seen = scan_candles(
            path, report, resolution_ms=manifest.resolution_ms, window=window, **scales
        )
    elif kind == "tickers":
        _, seen = scan_tickers(path, report, window=window, **scales)
    elif kind == "books":
        _, seen = scan_books(path, report, window=window, **scales)
    else:
        seen = scan_trades(path, report, window=window, **scales)
    return seen


class _FirstError(Exception):
    def __init__(self, problem: DatasetProblem) -> None:
        self.problem = problem


def first_error(directory: Path, manifest: Manifest, name: str) -> DatasetProblem | None:
    """The first error-severity problem in the rows of one table, or None."""

    def report(line: int | None, message: str, severity: str) -> None:
        if severity == ERROR:
            raise _FirstError(DatasetProblem(name, line, message, severity))

    try:
        _scan(directory, manifest, name, report)
    except _FirstError as found:
        return found.problem
    return None


def validate(directory: Path) -> list[DatasetProblem]:
    """Every problem in the dataset at `directory` (see the module docstring)."""
    problems: list[DatasetProblem] = []
    try:
        manifest = read_manifest(directory)
    except DatasetError as exc:
        return [exc.problem]
    listed = dict(manifest.files)
    for name in data_files(directory):
        if name not in listed:
            problems.append(
                DatasetProblem(name, None, f"not listed in {MANIFEST} (no checksum to verify it)")
            )
    tables: list[str] = []
    for name in sorted(listed):
        match = _TABLE_RE.match(name)
        if match is None or match.group("kind") not in KINDS:
            problems.append(
                DatasetProblem(
                    MANIFEST, None, f"files lists {name!r}, not <kind>/<SYMBOL>.csv[.gz]"
                )
            )
            continue
        if match.group("symbol") not in manifest.symbols:
            problems.append(
                DatasetProblem(MANIFEST, None, f"files lists {name} but symbols has no such pair")
            )
            continue
        path = directory / name
        if not path.is_file():
            problems.append(DatasetProblem(name, None, f"listed in {MANIFEST} but missing"))
            continue
        actual = sha256_file(path)
        if actual != listed[name].sha256:
            problems.append(
                DatasetProblem(
                    name,
                    None,
                    f"checksum mismatch: {MANIFEST} says {listed[name].sha256[:16]}…, "
                    f"the file is {actual[:16]}… (changed or damaged since it was written)",
                )
            )
        tables.append(name)
    for symbol in manifest.symbols:
        for kind in REQUIRED_KINDS:
            if manifest.table(kind, symbol) is None:
                problems.append(DatasetProblem(MANIFEST, None, f"{symbol} has no {kind} table"))
    for name in tables:
        collector = _Collector(name, problems)
        seen = _scan(directory, manifest, name, collector)
        collector.close()
        expected = listed[name].rows
        if seen != expected and not any(
            p.file == name and p.line == 1 and p.severity == ERROR for p in problems
        ):
            problems.append(
                DatasetProblem(name, None, f"{seen} data rows, {MANIFEST} says {expected}")
            )
    order = {WARNING: 1, ERROR: 0}
    problems.sort(key=lambda p: (p.file, p.line if p.line is not None else -1, order[p.severity]))
    return problems
