"""Writing dataset tables byte-for-byte reproducibly (gzip without a timestamp or file name)."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from btcbot_engine.replay.dataset import COLUMNS, FileEntry, sha256_file


def units_text(units: int, scale: int) -> str:
    """Integer units of 10**-scale as plain decimal text with exactly `scale` decimals."""
    if scale == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def table_name(kind: str, symbol: str, *, compress: bool) -> str:
    """The relative path of a table: candles/BTCTRY.csv or candles/BTCTRY.csv.gz."""
    return f"{kind}/{symbol}.csv" + (".gz" if compress else "")


class TableWriter:
    """Writes one table: the header, then rows; `close()` returns its manifest entry.

    Writes to a temporary name and renames on close, so an interrupted write never leaves a
    half table under the real name. gzip output has mtime 0 and no file name inside, so the same
    rows always give the same bytes.
    """

    def __init__(self, directory: Path, kind: str, symbol: str, *, compress: bool = False) -> None:
        self.name = table_name(kind, symbol, compress=compress)
        self.path = directory / self.name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        raw = self._tmp.open("wb")
        self._raw = raw
        self._gz: gzip.GzipFile | None = None
        stream: IO[bytes] = raw
        if compress:
            self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            stream = self._gz
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
        self._text.write(",".join(COLUMNS[kind]) + "\n")
        self.rows = 0

    def write(self, fields: Sequence[str]) -> None:
        """One row of already formatted fields."""
        self._text.write(",".join(fields) + "\n")
        self.rows += 1

    def write_lines(self, lines: Iterable[str], count: int) -> None:
        """Many preformatted lines (each ending in a newline) at once."""
        self._text.writelines(lines)
        self.rows += count

    def close(self) -> FileEntry:
        """Finish the file, move it into place and return its checksum and row count."""
        self._text.flush()
        self._text.detach()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()
        os.replace(self._tmp, self.path)
        return FileEntry(sha256_file(self.path), self.rows)

    def abort(self) -> None:
        """Drop the temporary file (nothing under the real name changes)."""
        with contextlib.suppress(ValueError):
            self._text.detach()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()
        self._tmp.unlink(missing_ok=True)
