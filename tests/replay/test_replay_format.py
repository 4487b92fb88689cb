"""The on-disk format: manifest and table round trips, exact numbers, gzip, the load cache."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from replay_testkit import MIN, RULES, T0, bar_rows, make_dataset, tree_bytes

from btcbot_engine.replay.dataset import (
    DatasetError,
    load_dataset,
    manifest_bytes,
    manifest_from_json,
    read_manifest,
    validate_dataset,
)
from btcbot_engine.replay.tables import fixed
from btcbot_engine.replay.writer import TableWriter, units_text


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = make_dataset(tmp_path, {"candles/BTCTRY.csv": bar_rows(5)})
    again = read_manifest(tmp_path)
    assert again == manifest
    assert manifest_from_json(json.loads(manifest_bytes(manifest))) == manifest
    assert again.rules["BTCTRY"] == RULES
    assert again.table("candles", "BTCTRY") == "candles/BTCTRY.csv"
    assert again.table("tickers", "BTCTRY") is None


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("3000000.00", 2, 300000000),
        ("3000000.5", 2, 300000050),
        ("3000000", 2, 300000000),
        ("0.00000001", 8, 1),
        ("1.50000000", 8, 150000000),
        ("1.2300", 2, 123),  # trailing zeros beyond the scale are fine
        ("-4.5", 2, -450),  # negative parses; the scanners reject it as a price
        ("1e2", 2, 10000),
    ],
)
def test_fixed_point_round_trip(text: str, scale: int, units: int) -> None:
    assert fixed(text, scale) == units
    assert Decimal(units_text(units, scale)) == Decimal(text)


@pytest.mark.parametrize("text", ["1.234", "abc", "", "NaN", "Infinity", "1.2.3"])
def test_fixed_point_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        fixed(text, 2)


def test_written_rows_load_back_exactly(tmp_path: Path) -> None:
    rows = bar_rows(30)
    make_dataset(tmp_path, {"candles/BTCTRY.csv": rows})
    dataset = load_dataset(tmp_path, cache=False)
    series = dataset.series["BTCTRY"]
    assert len(series.candles) == 30
    for i, row in enumerate(rows):
        ts, o, h, lo, c, v = row.split(",")
        assert series.candles.ts[i] == int(ts)
        assert series.price(series.candles.open[i]) == Decimal(o)
        assert series.price(series.candles.high[i]) == Decimal(h)
        assert series.price(series.candles.low[i]) == Decimal(lo)
        assert series.price(series.candles.close[i]) == Decimal(c)
        assert series.qty(series.candles.volume[i]) == Decimal(v)
    assert str(series.price(series.candles.close[0])) == rows[0].split(",")[4]


def test_gzip_tables_are_reproducible_and_load(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        writer = TableWriter(tmp_path / name, "candles", "BTCTRY", compress=True)
        for row in bar_rows(10):
            writer.write(row.split(","))
        outputs.append(writer.close())
    assert outputs[0] == outputs[1]  # same rows -> same bytes (no timestamp in the gzip header)
    assert (tmp_path / "a/candles/BTCTRY.csv.gz").read_bytes()[:2] == b"\x1f\x8b"
    # A manifest around the gzip table: it loads like the plain one.
    plain = tmp_path / "plain"
    make_dataset(plain, {"candles/BTCTRY.csv": bar_rows(10)})
    text = (plain / "manifest.json").read_text()
    text = text.replace("candles/BTCTRY.csv", "candles/BTCTRY.csv.gz")
    text = text.replace(
        json.loads(text)["files"]["candles/BTCTRY.csv.gz"]["sha256"], outputs[0].sha256
    )
    (tmp_path / "a/manifest.json").write_text(text)
    assert validate_dataset(tmp_path / "a") == []
    gz = load_dataset(tmp_path / "a", cache=False).series["BTCTRY"].candles
    ref = load_dataset(plain, cache=False).series["BTCTRY"].candles
    assert list(gz.close) == list(ref.close) and list(gz.ts) == list(ref.ts)


def test_the_load_cache_gives_the_same_bars_and_warnings(tmp_path: Path) -> None:
    rows = bar_rows(12)
    rows[6] = rows[6].replace(str(T0 + 6 * MIN), str(T0 + 7 * MIN), 1)  # a gap (a warning)
    del rows[7]
    make_dataset(tmp_path, {"candles/BTCTRY.csv": rows}, end_ms=T0 + 13 * MIN)
    first = load_dataset(tmp_path)
    cache_files = list((tmp_path / ".cache").iterdir())
    assert len(cache_files) == 1
    second = load_dataset(tmp_path)
    a, b = first.series["BTCTRY"].candles, second.series["BTCTRY"].candles
    assert list(a.ts) == list(b.ts) and list(a.close) == list(b.close)
    assert first.warnings == second.warnings and first.warnings[0].line == 8
    # A damaged cache is ignored (and rebuilt), never trusted.
    cache_files[0].write_bytes(b"btcbot-bars-v1\n" + b"\x00" * 10)
    third = load_dataset(tmp_path)
    assert list(third.series["BTCTRY"].candles.close) == list(a.close)


def test_load_refuses_unknown_symbols_and_empty_windows(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"candles/BTCTRY.csv": bar_rows(5)})
    with pytest.raises(DatasetError, match="no ETHTRY in this dataset"):
        load_dataset(tmp_path, symbols=["ETHTRY"])
    with pytest.raises(DatasetError, match="no bars in the requested window"):
        load_dataset(tmp_path, start_ms=T0 + 100 * MIN)


def test_loading_writes_only_the_cache(tmp_path: Path) -> None:
    make_dataset(tmp_path, {"candles/BTCTRY.csv": bar_rows(5)})
    before = tree_bytes(tmp_path)
    load_dataset(tmp_path)
    after = tree_bytes(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith(".cache")} == before
