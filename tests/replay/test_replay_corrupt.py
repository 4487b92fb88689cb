"""Corrupt datasets: a clear error naming file and line, and nothing overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from replay_testkit import T0, bar_rows, make_dataset, replace_line, tree_bytes

from btcbot_engine.config import Settings
from btcbot_engine.replay.dataset import DatasetError, load_dataset


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    directory = tmp_path / "ds"
    make_dataset(directory, {"candles/BTCTRY.csv": bar_rows(40)})
    return directory


def test_loading_a_damaged_table_names_the_first_bad_line(dataset: Path) -> None:
    replace_line(dataset / "candles/BTCTRY.csv", 17, f"{T0},1.00,1.00,1.00,1.00,1")
    with pytest.raises(DatasetError) as info:
        load_dataset(dataset)
    assert str(info.value).startswith("candles/BTCTRY.csv:17: unsorted")
    assert info.value.problem.line == 17


def test_a_changed_but_well_formed_table_is_a_checksum_mismatch(dataset: Path) -> None:
    text = (dataset / "candles/BTCTRY.csv").read_text()
    (dataset / "candles/BTCTRY.csv").write_text(text.replace("1.50000000", "2.50000000", 1))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_dataset(dataset)


def test_backtest_refuses_a_corrupt_dataset_and_writes_nothing(
    dataset: Path, tmp_path: Path
) -> None:
    replace_line(dataset / "candles/BTCTRY.csv", 9, "1704067680000,3000080.00,abc,1,1,1")
    out = tmp_path / "result.db"
    result = _cli(["backtest", "--dataset", str(dataset), "--out", str(out)], tmp_path)
    assert result.returncode == 1
    assert "candles/BTCTRY.csv:9: high: 'abc' is not a number" in result.stderr
    assert result.stdout == ""
    assert not out.exists()

    # An existing result is not replaced either, even with --force: the dataset is checked first.
    out.write_bytes(b"previous result")
    before = tree_bytes(dataset)
    result = _cli(["backtest", "--dataset", str(dataset), "--out", str(out), "--force"], tmp_path)
    assert result.returncode == 1
    assert out.read_bytes() == b"previous result"
    assert tree_bytes(dataset) == before


def test_replay_validate_exit_codes_and_json(dataset: Path, tmp_path: Path) -> None:
    ok = _cli(["replay-validate", "--dataset", str(dataset), "--json"], tmp_path)
    assert ok.returncode == 0 and '"ok": true' in ok.stdout
    replace_line(dataset / "candles/BTCTRY.csv", 30, "x,y")
    bad = _cli(["replay-validate", "--dataset", str(dataset)], tmp_path)
    assert bad.returncode == 1
    assert "candles/BTCTRY.csv:30: 2 fields, the header has 6  [error]" in bad.stdout
    assert "INVALID" in bad.stdout
