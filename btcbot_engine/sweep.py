"""Parameter sweeps: one backtest per point of a grid, run in parallel, ranked.

The backtest code knows nothing about parallelism: a sweep is a list of `SweepJob`s (plain,
picklable data) and one top-level function, `run_job`, that turns a job into a `SweepRow`. An
executor maps that function over the jobs. `ProcessExecutor` uses a local
`concurrent.futures.ProcessPoolExecutor`; a cluster executor only has to implement the same
one-method protocol, e.g. with Ray:

    class RayExecutor:
        def map_unordered(self, fn, jobs):
            remote = ray.remote(fn)
            pending = [remote.remote(job) for job in jobs]
            while pending:
                done, pending = ray.wait(pending)
                yield from ray.get(done)

or with Dask (`client.map(fn, jobs)` then `as_completed`). Each job writes its own output
database, so workers share nothing but the read-only dataset.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, TypeVar

from btcbot_engine.backtest import BacktestConfig, BacktestError, load_for, run_backtest
from btcbot_engine.config import Settings
from btcbot_engine.replay.series import Dataset

J = TypeVar("J")
R = TypeVar("R")

# Grid keys that set a backtest option rather than a strategy parameter.
CONFIG_KEYS: dict[str, Callable[[str], Any]] = {
    "step_seconds": int,
    "slippage_bps": Decimal,
    "latency_ms": int,
    "latency_jitter_ms": int,
    "participation": Decimal,
    "fee_maker": Decimal,
    "fee_taker": Decimal,
    "tax_share": Decimal,
    "seed": int,
}
RANK_KEYS: dict[str, tuple[str, bool]] = {
    # name -> (summary field, higher is better)
    "sharpe": ("sharpe", True),
    "return": ("return_pct", True),
    "drawdown": ("max_drawdown_pct", False),
    "trades": ("trades", True),
    "equity": ("final_equity_try", True),
}


class SweepExecutor(Protocol):
    """Runs `fn` over `jobs`, yielding results as they complete (any order)."""

    def map_unordered(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[R]: ...


class InlineExecutor:
    """One job after another in this process (tests, debugging, a single CPU)."""

    def map_unordered(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[R]:
        for job in jobs:
            yield fn(job)


class ProcessExecutor:
    """A local process pool. Workers are spawned (not forked): nothing of the parent's state,
    open databases included, leaks into them."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map_unordered(self, fn: Callable[[J], R], jobs: Sequence[J]) -> Iterator[R]:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(jobs) or 1), mp_context=context
        ) as pool:
            futures = [pool.submit(fn, job) for job in jobs]
            for future in as_completed(futures):
                yield future.result()


@dataclass(frozen=True, slots=True)
class SweepJob:
    """One grid point: where it sits in the grid and the backtest to run."""

    index: int
    point: tuple[tuple[str, str], ...]
    config: BacktestConfig
    settings: Settings


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One grid point's outcome; `error` set (and summary empty) when it could not run."""

    index: int
    point: tuple[tuple[str, str], ...]
    out: str
    fingerprint: str | None
    summary: Mapping[str, Any]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "point": dict(self.point),
            "out": self.out,
            "fingerprint": self.fingerprint,
            "summary": dict(self.summary),
            "error": self.error,
        }


_DATASETS: dict[tuple[str, tuple[str, ...] | None, int | None, int | None], Dataset] = {}


def run_job(job: SweepJob) -> SweepRow:
    """Run one grid point (in whatever process the executor chose); never raises for a
    backtest that cannot run, so one bad point does not sink the sweep."""
    cfg = job.config
    key = (str(cfg.dataset), cfg.symbols, cfg.start_ms, cfg.end_ms)
    try:
        dataset = _DATASETS.get(key)
        if dataset is None:
            dataset = _DATASETS[key] = load_for(cfg)  # once per worker process
        result = run_backtest(cfg, job.settings, dataset=dataset)
    except BacktestError as exc:
        return SweepRow(job.index, job.point, str(cfg.out), None, {}, str(exc))
    return SweepRow(
        job.index, job.point, str(cfg.out), result.fingerprint, result.summary.to_json()
    )


def parse_grid(items: Iterable[str]) -> dict[str, list[str]]:
    """`k=a,b,c` strings -> {k: [a, b, c]}; BacktestError for a malformed one."""
    grid: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not name.strip() or not choices:
            raise BacktestError(f"--grid {item!r} is not NAME=V1,V2,...")
        if name.strip() in grid:
            raise BacktestError(f"--grid names {name.strip()!r} twice")
        grid[name.strip()] = choices
    if not grid:
        raise BacktestError("a sweep needs at least one --grid NAME=V1,V2,...")
    return grid


def build_jobs(
    base: BacktestConfig, settings: Settings, grid: Mapping[str, Sequence[str]], out_dir: Path
) -> list[SweepJob]:
    """The cartesian product of the grid as jobs, each with its own output database."""
    names = list(grid)
    jobs = []
    fixed = dict(base.params)
    for index, values in enumerate(itertools.product(*(grid[n] for n in names))):
        point = tuple(zip(names, values, strict=True))
        params = dict(fixed)
        changes: dict[str, Any] = {}
        for name, value in point:
            if name in CONFIG_KEYS:
                try:
                    changes[name] = CONFIG_KEYS[name](value)
                except (ValueError, ArithmeticError):
                    raise BacktestError(f"--grid {name}: {value!r} is not valid") from None
            else:
                params[name] = value
        config = dataclasses.replace(
            base,
            params=tuple(sorted(params.items())),
            out=out_dir / f"point-{index:04d}.db",
            **changes,
        )
        jobs.append(SweepJob(index, point, config, settings))
    return jobs


def _rank_value(row: SweepRow, field: str) -> Decimal | None:
    value = row.summary.get(field)
    if value is None:
        return None
    return Decimal(str(value))


def rank(rows: Iterable[SweepRow], by: str = "sharpe") -> list[SweepRow]:
    """Best first by `by` (see RANK_KEYS); points without a value or with an error last,
    ties by grid order."""
    if by not in RANK_KEYS:
        raise BacktestError(f"--rank-by {by!r}: choose one of {', '.join(RANK_KEYS)}")
    field, higher = RANK_KEYS[by]

    def key(row: SweepRow) -> tuple[int, Decimal, int]:
        value = _rank_value(row, field)
        if value is None or row.error:
            return (1, Decimal(0), row.index)
        return (0, -value if higher else value, row.index)

    return sorted(rows, key=key)


def run_sweep(
    jobs: Sequence[SweepJob],
    *,
    executor: SweepExecutor | None = None,
    on_result: Callable[[SweepRow], None] | None = None,
) -> list[SweepRow]:
    """Run every job through the executor (a local process pool by default); rows in grid
    order."""
    if not jobs:
        return []
    for job in jobs:
        if job.config.out.exists() and not job.config.force:
            raise BacktestError(f"{job.config.out} already exists; choose another --out-dir")
    jobs[0].config.out.parent.mkdir(parents=True, exist_ok=True)
    runner = executor or ProcessExecutor()
    rows = []
    for row in runner.map_unordered(run_job, list(jobs)):
        rows.append(row)
        if on_result is not None:
            on_result(row)
    return sorted(rows, key=lambda r: r.index)
