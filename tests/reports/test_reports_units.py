"""Small pure parts of reports and export: percentiles, timestamps, CSV cell escaping."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from btcbot_engine.cli import main
from btcbot_engine.export import escape_cell, iso_utc, unescape_cell
from btcbot_engine.reports import build_report, percentile
from btcbot_engine.store.db import open_database, open_readonly


def test_percentile_is_nearest_rank_on_exact_values() -> None:
    values = [Decimal(v) for v in ("5", "1", "3", "2", "4")]
    assert percentile(values, 50) == Decimal(3)
    assert percentile(values, 95) == Decimal(5)
    assert percentile(values, 0) == Decimal(1)
    assert percentile([Decimal("0.1")], 95) == Decimal("0.1")
    assert percentile([], 50) is None


def test_iso_utc_is_exact_to_the_millisecond() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000_999) == "2023-11-14T22:13:20.999Z"
    assert iso_utc(None) is None


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+1", "-x", "@A1", "\tx", "\rx", "'q", "''", "plain", "", "-0.5", "12", "-12.30"],
)
def test_escaping_is_reversible_and_leaves_numbers_alone(text: str) -> None:
    cell = escape_cell(text)
    assert unescape_cell(cell) == text
    if text[:1] in ("=", "+", "@", "\t", "\r") or text.startswith(("-x", "'")):
        assert cell.startswith("'")
    if text in ("-0.5", "12", "-12.30"):
        assert cell == text


def test_empty_database_reports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "empty.db"
    open_database(db, account_key="test").close()
    store = open_readonly(db)
    try:
        report = build_report(store, last_cycles=5)
    finally:
        store.close()
    assert report.cycles == 0 and report.duration_ms.count == 0 and report.fill_count == 0
    assert main(["report", "--db", str(db)]) == 0
    assert "no cycles recorded yet" in capsys.readouterr().out
    assert main(["report", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cycles"]["count"] == 0


def test_last_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--last", "0", "--db", str(tmp_path / "x.db")])
    assert exc.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
