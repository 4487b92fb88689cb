"""Corrupt state databases: a clear StoreError naming the file, and not one byte changed.

A real database (a few paper cycles against the simulator) is corrupted the ways disks and
careless copies do it: cut short, overwritten with garbage, a page zeroed, bytes flipped, the
header damaged. Opening it for the engine (read-write) or for a report (read-only) must refuse
with a StoreError that names the file, and leave the file byte-identical.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from drills_fuzzing import fuzz_settings
from drills_testkit import drill_settings, environment_without_settings, record_figure, run_engine
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.config import Settings
from btcbot_engine.exchange.simulator.harness import running_simulator
from btcbot_engine.store.db import StoreError, open_database, open_readonly

EXAMPLES = 120


@dataclass(frozen=True)
class Golden:
    """A healthy database's bytes and the account key it is bound to."""

    data: bytes
    account_key: str


@pytest.fixture(scope="module")
def golden_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    """A healthy database with a few paper cycles of decisions, metrics and orders."""
    home = tmp_path_factory.mktemp("golden")
    with pytest.MonkeyPatch.context() as mp:
        for name in Settings.model_fields:
            mp.delenv(name.upper(), raising=False)
        mp.chdir(home)
        with running_simulator(seed=81, tick_interval_s=0) as sim:
            settings = drill_settings(sim, home / "state.db", live=False)
            run_engine(settings, 6)
    # A clean close checkpoints the WAL into the file.
    store = open_database(home / "state.db", account_key=settings.account_key)
    store.close()
    for extra in ("state.db-wal", "state.db-shm"):
        assert not (home / extra).exists() or (home / extra).stat().st_size == 0
    data = (home / "state.db").read_bytes()
    assert len(data) >= 8 * 4096, "the golden database spans several pages"
    yield Golden(data, settings.account_key)


@st.composite
def corruptions(draw: st.DrawFn, size: int) -> tuple[str, int, int]:
    """(kind, offset, length) of one corruption of a `size`-byte file of 4096-byte pages."""
    pages = size // 4096
    kind = draw(st.sampled_from(("truncate", "garbage", "zero_page", "flip", "header")))
    if kind == "truncate":
        # Not to 0 bytes: an empty file is what open_database itself creates for a new
        # database, so it is initialised (no byte of data exists to be lost).
        return kind, draw(st.integers(min_value=1, max_value=size - 1)), 0
    if kind == "garbage":
        return kind, 0, draw(st.integers(min_value=1, max_value=size))
    if kind == "zero_page":
        return kind, draw(st.integers(min_value=0, max_value=pages - 1)) * 4096, 4096
    if kind == "flip":
        return kind, draw(st.integers(min_value=100, max_value=size - 1)), 1
    return kind, draw(st.integers(min_value=0, max_value=99)), 1


def _corrupt(data: bytes, kind: str, offset: int, length: int, salt: int) -> bytes:
    if kind == "truncate":
        return data[:offset]
    if kind == "garbage":
        noise = hashlib.sha256(str(salt).encode()).digest() * (length // 32 + 1)
        return noise[:length] + data[length:]
    if kind == "zero_page":
        return data[:offset] + bytes(length) + data[offset + length :]
    # flip / header: invert every bit of one byte
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_corrupt_databases_are_refused_and_left_untouched(
    golden_db: Golden, tmp_path: Path
) -> None:
    healthy = tmp_path / "healthy.db"
    healthy.write_bytes(golden_db.data)
    # The healthy copy opens: refusals below come from the corruption, not an account mismatch.
    open_database(healthy, account_key=golden_db.account_key).close()
    outcomes: Counter[str] = Counter()
    accepted: list[tuple[str, int]] = []
    counter = iter(range(10**9))

    @fuzz_settings(EXAMPLES)
    @given(spec=corruptions(len(golden_db.data)))
    def check(spec: tuple[str, int, int]) -> None:
        kind, offset, length = spec
        n = next(counter)
        folder = tmp_path / f"case{n}"
        folder.mkdir()
        path = folder / "state.db"
        path.write_bytes(_corrupt(golden_db.data, kind, offset, length, n))
        before = _digest(path)
        for opener in ("read-write", "read-only"):
            try:
                if opener == "read-write":
                    open_database(path, account_key=golden_db.account_key).close()
                else:
                    open_readonly(path).close()
            except StoreError as exc:
                message = str(exc)
                assert str(path) in message, f"{kind}: the error must name the file: {message}"
                assert "\n" not in message
                outcomes[f"{kind} refused"] += 1
            else:
                # Harmless damage opens (a flipped byte in free space or an unused header
                # field); a zeroed page is caught by quick_check when the file is opened.
                accepted.append((kind, offset))
                outcomes[f"{kind} opened"] += 1
            assert _digest(path) == before, f"{kind} at {offset}: the file was modified"
        shutil.rmtree(folder)

    check()
    refused = sum(v for k, v in outcomes.items() if k.endswith("refused"))
    record_figure(
        "corrupt databases: opens tried (refused / opened)",
        f"{sum(outcomes.values())} ({refused} / {len(accepted)}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
    )
    assert not [a for a in accepted if a[0] in ("truncate", "garbage", "zero_page")], accepted
    assert outcomes["zero_page refused"] > 0 and outcomes["header refused"] > 0


def test_btcbot_run_refuses_a_corrupt_database_in_one_line(
    golden_db: Golden, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(_corrupt(golden_db.data, "zero_page", 4096, 4096, 0))
    before = _digest(path)
    env = environment_without_settings() | {"STATE_DB_PATH": str(path), "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-m", "btcbot_engine.cli", "run", "--once", "--dry-run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    # (JSON log lines may precede it on stderr; the error itself is one line.)
    errors = [line for line in done.stderr.splitlines() if line.startswith("btcbot:")]
    assert len(errors) == 1 and str(path) in errors[0] and "corrupt" in errors[0], done.stderr
    assert _digest(path) == before
