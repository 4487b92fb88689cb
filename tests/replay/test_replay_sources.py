"""replay-capture and replay-fetch against the bundled simulator over loopback (no keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from replay_testkit import tree_bytes

from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.replay.capture import CaptureError, capture
from btcbot_engine.replay.dataset import (
    ERROR,
    DatasetError,
    load_dataset,
    read_manifest,
    validate_dataset,
)
from btcbot_engine.replay.fetch import FetchError, fetch
from btcbot_engine.replay.tables import rows

PAIRS = ["BTCTRY", "ETHTRY"]


@pytest.fixture
def moving_sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=4, tick_interval_s=0.05) as handle:
        yield handle


@pytest.fixture
def still_sim() -> Iterator[SimulatorHandle]:
    with running_simulator(seed=4, tick_interval_s=0) as handle:
        yield handle


def _capture(sim: SimulatorHandle, directory: Path, seconds: float) -> object:
    return asyncio.run(
        capture(
            directory,
            symbols=PAIRS,
            minutes=seconds / 60,
            base_url=sim.base_url,
            graph_url=sim.graph_url,
            interval_s=0.1,
            resolution="1s",
            depth=5,
        )
    )


def _timestamps(path: Path, kind: str) -> list[int]:
    problems: list[str] = []
    return [int(f[0]) for _, f in rows(path, kind, lambda *a: problems.append(str(a)))]


def test_capture_records_a_valid_dataset_and_resumes(
    moving_sim: SimulatorHandle, tmp_path: Path
) -> None:
    directory = tmp_path / "cap"
    first = _capture(moving_sim, directory, 3.0)
    assert not first.resumed  # type: ignore[attr-defined]
    problems = validate_dataset(directory)
    assert [p for p in problems if p.severity == ERROR] == []
    manifest = read_manifest(directory)
    assert manifest.source.startswith("capture:127.0.0.1")
    assert manifest.symbols == tuple(PAIRS)
    bars_before = {s: len(_timestamps(directory / f"candles/{s}.csv", "candles")) for s in PAIRS}
    assert all(n >= 1 for n in bars_before.values())
    tickers_before = _timestamps(directory / "tickers/BTCTRY.csv", "tickers")
    assert len(tickers_before) >= 10

    # A write cut short by a killed process leaves half a line: resuming cuts it off.
    with (directory / "tickers/BTCTRY.csv").open("a") as handle:
        handle.write("17952576")
    second = _capture(moving_sim, directory, 2.5)
    assert second.resumed  # type: ignore[attr-defined]
    problems = validate_dataset(directory)
    assert [p for p in problems if p.severity == ERROR] == [], problems
    tickers_after = _timestamps(directory / "tickers/BTCTRY.csv", "tickers")
    assert tickers_after[: len(tickers_before)] == tickers_before  # appended, not rewritten
    assert len(tickers_after) > len(tickers_before)
    assert len(set(tickers_after)) == len(tickers_after)
    bars_after = len(_timestamps(directory / "candles/BTCTRY.csv", "candles"))
    assert bars_after > bars_before["BTCTRY"]
    # And it replays: the backtest loader accepts it.
    assert load_dataset(directory, cache=False).series["ETHTRY"].books


def test_capture_refuses_other_datasets_and_bad_arguments(
    still_sim: SimulatorHandle, tmp_path: Path
) -> None:
    from btcbot_engine.replay.synth import generate

    generate(tmp_path / "synthetic", seed=1, bars=10)
    before = tree_bytes(tmp_path / "synthetic")
    with pytest.raises(DatasetError, match="synthetic:replay-init dataset; not appending"):
        _capture(still_sim, tmp_path / "synthetic", 0.5)
    assert tree_bytes(tmp_path / "synthetic") == before
    with pytest.raises(CaptureError, match="not listed"):
        asyncio.run(
            capture(
                tmp_path / "x",
                symbols=["NOPETRY"],
                minutes=0.01,
                base_url=still_sim.base_url,
                graph_url=still_sim.graph_url,
            )
        )


def test_fetch_pages_through_klines_into_a_valid_dataset(
    still_sim: SimulatorHandle, tmp_path: Path
) -> None:
    directory = tmp_path / "fetched"
    now_ms = asyncio.run(_server_time(still_sim))
    report = asyncio.run(
        fetch(
            directory,
            symbols=PAIRS,
            from_ms=now_ms - 6000 * 60_000,  # more than one page of 5000 candles
            to_ms=now_ms,
            resolution="1m",
            base_url=still_sim.base_url,
            graph_url=still_sim.graph_url,
        )
    )
    assert report.bars == {"BTCTRY": 6000, "ETHTRY": 6000}
    assert validate_dataset(directory) == []
    manifest = read_manifest(directory)
    assert manifest.source.startswith("fetch:127.0.0.1")
    assert manifest.rules["BTCTRY"].tick_size == 10
    ts = _timestamps(directory / "candles/BTCTRY.csv", "candles")
    assert ts == sorted(set(ts)) and ts[-1] + 60_000 <= now_ms
    with pytest.raises(DatasetError, match="already holds a dataset"):
        asyncio.run(
            fetch(
                directory,
                symbols=PAIRS,
                from_ms=now_ms - 60 * 60_000,
                to_ms=now_ms,
                resolution="1m",
                base_url=still_sim.base_url,
                graph_url=still_sim.graph_url,
            )
        )
    with pytest.raises(FetchError, match="resolution"):
        asyncio.run(
            fetch(
                tmp_path / "other",
                symbols=PAIRS,
                from_ms=now_ms - 60_000,
                to_ms=now_ms,
                resolution="1s",
                base_url=still_sim.base_url,
                graph_url=still_sim.graph_url,
            )
        )


async def _server_time(sim: SimulatorHandle) -> int:
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange

    exchange = BtcturkExchange(sim.base_url, sim.graph_url)
    try:
        return await exchange.server_time_ms()
    finally:
        await exchange.close()
