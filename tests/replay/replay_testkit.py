"""Helpers for the dataset tests: hand-made datasets with exact rows, and line surgery."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from btcbot_engine.config import Settings
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.replay.dataset import (
    COLUMNS,
    FileEntry,
    Manifest,
    read_manifest,
    sha256_file,
    write_manifest,
)

T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
MIN = 60_000

RULES = SymbolRules(
    symbol="BTCTRY",
    base="BTC",
    quote="TRY",
    status="TRADING",
    price_scale=2,
    quantity_scale=8,
    tick_size=Decimal("10"),
    min_notional=Decimal("99.91"),
    has_fraction=False,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No btcbot settings from the environment or a .env file."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    yield


def bar_rows(count: int, *, start: int = T0, price: int = 3_000_000, step: int = 10) -> list[str]:
    """`count` clean 1m candle rows drifting up by one tick per bar."""
    rows = []
    for i in range(count):
        o = price + i * step
        c = o + step
        rows.append(f"{start + i * MIN},{o}.00,{c + step}.00,{o - step}.00,{c}.00,1.50000000")
    return rows


def write_table(
    directory: Path, name: str, rows: Sequence[str], *, header: str | None = None
) -> None:
    """Write DIR/name with a header (the kind's columns unless given) and `rows`."""
    kind = name.split("/", 1)[0]
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    head = header if header is not None else ",".join(COLUMNS[kind])
    path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")


def make_dataset(
    directory: Path,
    tables: dict[str, Sequence[str]],
    *,
    symbols: Sequence[str] = ("BTCTRY",),
    start_ms: int = T0,
    end_ms: int | None = None,
    resolution: str = "1m",
    rules: SymbolRules = RULES,
) -> Manifest:
    """A dataset from table rows, with a manifest whose checksums match what was written."""
    for name, rows in tables.items():
        write_table(directory, name, rows)
    candle_rows = sum(len(r) for n, r in tables.items() if n.startswith("candles/"))
    manifest = Manifest(
        symbols=tuple(symbols),
        start_ms=start_ms,
        end_ms=end_ms if end_ms is not None else start_ms + max(candle_rows, 1) * MIN,
        resolution=resolution,
        source="test",
        seed=None,
        rules={s: _rules_for(rules, s) for s in symbols},
        files={n: FileEntry(sha256_file(directory / n), len(r)) for n, r in tables.items()},
    )
    write_manifest(directory, manifest)
    return manifest


def _rules_for(rules: SymbolRules, symbol: str) -> SymbolRules:
    if symbol == rules.symbol:
        return rules
    from dataclasses import replace

    return replace(rules, symbol=symbol, base=symbol[:-3], quote=symbol[-3:])


def replace_line(path: Path, line_no: int, text: str) -> None:
    """Put `text` on 1-based line `line_no` of a table (keeps the other lines byte-identical)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line_no - 1] = text
    path.write_text("\n".join(lines), encoding="utf-8")


def refresh_checksums(directory: Path) -> None:
    """Rewrite the manifest's checksums and row counts to match the files (a 'valid' edit)."""
    manifest = read_manifest(directory)
    files = {}
    for name in manifest.files:
        path = directory / name
        rows = max(len(path.read_bytes().splitlines()) - 1, 0)
        files[name] = FileEntry(sha256_file(path), rows)
    from dataclasses import replace

    write_manifest(directory, replace(manifest, files=files))


def tree_bytes(directory: Path) -> dict[str, bytes]:
    """Every file under a directory (hidden cache included) -> its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
