"""The validator finds each kind of problem at its exact file and line, and never writes."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from replay_testkit import (
    MIN,
    T0,
    bar_rows,
    make_dataset,
    refresh_checksums,
    replace_line,
    tree_bytes,
)

from btcbot_engine.replay.dataset import ERROR, WARNING, DatasetProblem, validate_dataset


def _ticker_rows(count: int) -> list[str]:
    rows = []
    for i in range(count):
        c = 3_000_000 + i * 10 + 10
        rows.append(f"{T0 + (i + 1) * MIN},{c - 20}.00,{c + 20}.00,{c}.00,36.00000000")
    return rows


def _book_rows() -> list[str]:
    return [
        f"{T0 + MIN},bid,0,3000000.00,0.50000000",
        f"{T0 + MIN},bid,1,2999990.00,1.00000000",
        f"{T0 + MIN},ask,0,3000020.00,0.40000000",
        f"{T0 + MIN},ask,1,3000030.00,2.00000000",
        f"{T0 + 2 * MIN},bid,0,3000010.00,0.50000000",
        f"{T0 + 2 * MIN},ask,0,3000030.00,0.40000000",
    ]


def _trade_rows() -> list[str]:
    return [
        f"{T0 + 1000},1001,buy,3000010.00,0.01000000",
        f"{T0 + 2000},1002,sell,3000000.00,0.02000000",
        f"{T0 + 2000},1003,buy,3000010.00,0.01000000",
    ]


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    directory = tmp_path / "clean"
    make_dataset(
        directory,
        {
            "candles/BTCTRY.csv": bar_rows(20),
            "tickers/BTCTRY.csv": _ticker_rows(20),
            "books/BTCTRY.csv": _book_rows(),
            "trades/BTCTRY.csv": _trade_rows(),
        },
    )
    return directory


def _copy(clean: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(clean, target)
    return target


def test_a_clean_dataset_has_no_problems(clean: Path) -> None:
    assert validate_dataset(clean) == []


# (table, 1-based line, replacement text, expected message part, severity)
CASES = [
    ("candles/BTCTRY.csv", 1, "ts_ms,open,high,low,volume", "missing column(s) close", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 2 * MIN},3000040.00,3000060.00,3000030.00,3000050.00,1.0",
     "unsorted: timestamp", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 3 * MIN},3000040.00,3000060.00,3000030.00,3000050.00,1.0",
     "duplicate timestamp", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 6 * MIN},3000040.00,3000060.00,3000030.00,3000050.00,1.0",
     "gap: 2 bar(s) missing", WARNING),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN},0.00,3000060.00,3000030.00,3000050.00,1.0",
     "non-positive price", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN},3000040.00,3000060.00,3000030.00,-1.00,1.0",
     "non-positive price", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN},3000040.00,3000010.00,3000030.00,3000050.00,1.0",
     "do not bound", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN},3000040.00,3000060.00,3000030.00,abc,1.0",
     "close: 'abc' is not a number", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN},3000040.123,3000060.00,3000030.00,3000050.00,1.0",
     "more than 2 decimals", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN + 7},3000040.00,3000060.00,3000030.00,3000050.00,1",
     "not on the 60000 ms grid", ERROR),
    ("candles/BTCTRY.csv", 6, f"{T0 + 4 * MIN},3000040.00,3000060.00,3000030.00,3000050.00,-1",
     "negative volume", ERROR),
    ("candles/BTCTRY.csv", 6, "1,2,3", "3 fields, the header has 6", ERROR),
    ("candles/BTCTRY.csv", 6, "", "empty line", ERROR),
    ("tickers/BTCTRY.csv", 4, f"{T0 + 3 * MIN},3000050.00,3000040.00,3000040.00,36.0",
     "crossed book: bid 3000050.00 >= ask 3000040.00", ERROR),
    ("tickers/BTCTRY.csv", 4, f"{T0 + 2 * MIN},3000010.00,3000050.00,3000040.00,36.0",
     "duplicate timestamp", ERROR),
    ("tickers/BTCTRY.csv", 4, f"{T0 + 3 * MIN},-5.00,3000050.00,3000040.00,36.0",
     "non-positive price", ERROR),
    ("books/BTCTRY.csv", 4, f"{T0 + MIN},ask,0,2999990.00,0.40000000",
     "crossed book", ERROR),
    ("books/BTCTRY.csv", 3, f"{T0 + MIN},bid,1,3000010.00,1.00000000",
     "strictly descending", ERROR),
    ("books/BTCTRY.csv", 3, f"{T0 + MIN},bid,3,2999990.00,1.00000000",
     "skipped bid level 3", ERROR),
    ("trades/BTCTRY.csv", 4, f"{T0 + 2000},1002,buy,3000010.00,0.01000000",
     "duplicate trade id 1002 (also on line 3)", ERROR),
    ("trades/BTCTRY.csv", 3, f"{T0 + 500},1002,sell,3000000.00,0.02000000",
     "unsorted", ERROR),
]  # fmt: skip


@pytest.mark.parametrize(("table", "line", "text", "message", "severity"), CASES)
def test_each_problem_is_reported_at_its_file_and_line(
    clean: Path, tmp_path: Path, table: str, line: int, text: str, message: str, severity: str
) -> None:
    broken = _copy(clean, tmp_path)
    replace_line(broken / table, line, text)
    refresh_checksums(broken)  # only the content problem should show
    problems = validate_dataset(broken)
    matching = [p for p in problems if p.file == table and p.line == line]
    assert matching, problems
    assert any(message in p.message and p.severity == severity for p in matching), matching
    assert isinstance(matching[0], DatasetProblem)


def test_every_problem_is_listed_not_just_the_first(clean: Path, tmp_path: Path) -> None:
    broken = _copy(clean, tmp_path)
    table = broken / "candles/BTCTRY.csv"
    replace_line(table, 4, f"{T0 + 2 * MIN},1.00,1.00,1.00,x,1.0")
    replace_line(table, 10, f"{T0 + 8 * MIN},0.00,3000060.00,3000030.00,3000050.00,1.0")
    replace_line(broken / "tickers/BTCTRY.csv", 7, f"{T0 + 6 * MIN},9.00,8.00,8.00,1.0")
    refresh_checksums(broken)
    found = {(p.file, p.line) for p in validate_dataset(broken) if p.severity == ERROR}
    assert found == {
        ("candles/BTCTRY.csv", 4),
        ("candles/BTCTRY.csv", 10),
        ("tickers/BTCTRY.csv", 7),
    }


def test_checksum_mismatch_names_the_file(clean: Path, tmp_path: Path) -> None:
    broken = _copy(clean, tmp_path)
    # A valid row, changed: only the checksum can tell.
    replace_line(broken / "candles/BTCTRY.csv", 3, bar_rows(20)[1].replace("1.50000000", "1.5"))
    problems = validate_dataset(broken)
    assert [(p.file, p.line) for p in problems] == [("candles/BTCTRY.csv", None)]
    assert "checksum mismatch" in problems[0].message


def test_manifest_problems(clean: Path, tmp_path: Path) -> None:
    broken = _copy(clean, tmp_path)
    text = (broken / "manifest.json").read_text()
    (broken / "manifest.json").write_text(text.replace('"resolution": "1m"', '"resolution": 1m'))
    problems = validate_dataset(broken)
    assert len(problems) == 1 and problems[0].file == "manifest.json"
    assert problems[0].line is not None and "not JSON" in problems[0].message

    (broken / "manifest.json").write_text(
        text.replace('"schema_version": 1', '"schema_version": 9')
    )
    assert "schema_version 9" in validate_dataset(broken)[0].message

    (broken / "manifest.json").unlink()
    assert validate_dataset(broken) == [DatasetProblem("manifest.json", None, "missing")]


def test_missing_and_unlisted_tables(clean: Path, tmp_path: Path) -> None:
    broken = _copy(clean, tmp_path)
    (broken / "trades/BTCTRY.csv").unlink()
    (broken / "tickers/ETHTRY.csv").write_text("ts_ms,bid,ask,last,volume\n")
    problems = {(p.file, p.message) for p in validate_dataset(broken)}
    assert ("trades/BTCTRY.csv", "listed in manifest.json but missing") in problems
    assert any(f == "tickers/ETHTRY.csv" and "not listed" in m for f, m in problems)


def test_binary_garbage_and_bad_gzip_name_the_line(clean: Path, tmp_path: Path) -> None:
    broken = _copy(clean, tmp_path)
    table = broken / "candles/BTCTRY.csv"
    data = table.read_bytes().split(b"\n")
    data[7] = b"\xff\xfe\x00garbage"
    table.write_bytes(b"\n".join(data))
    refresh_checksums(broken)
    problems = [p for p in validate_dataset(broken) if p.file == "candles/BTCTRY.csv"]
    assert any(p.line == 8 and "not UTF-8" in p.message for p in problems), problems

    gz = _copy(clean, tmp_path / "gz")
    raw = (gz / "candles/BTCTRY.csv").read_bytes()
    (gz / "candles/BTCTRY.csv").unlink()
    packed = gzip.compress(raw, mtime=0)
    (gz / "candles/BTCTRY.csv.gz").write_bytes(packed[: len(packed) // 2])  # truncated
    manifest = (
        (gz / "manifest.json").read_text().replace("candles/BTCTRY.csv", "candles/BTCTRY.csv.gz")
    )
    (gz / "manifest.json").write_text(manifest)
    refresh_checksums(gz)
    problems = [p for p in validate_dataset(gz) if p.file == "candles/BTCTRY.csv.gz"]
    assert any(p.line is not None and "unreadable after line" in p.message for p in problems)


def test_validation_writes_nothing(clean: Path, tmp_path: Path) -> None:
    broken = _copy(clean, tmp_path)
    replace_line(broken / "candles/BTCTRY.csv", 5, "nonsense")
    before = tree_bytes(broken)
    assert validate_dataset(broken)
    assert tree_bytes(broken) == before
