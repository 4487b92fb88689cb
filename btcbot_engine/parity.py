"""Parity checks: does a backtest decide the same way twice, and the way a recorded run did?

- `parity_twice`: run the same backtest twice into two scratch databases and compare the
  fingerprints (and, if they differ, the first differing line of the hashed stream).
- `parity_against`: run the backtest and compare its order decisions and fills with the ones a
  paper or live run recorded in its database over the same window, listing the first
  divergence. A recorded run's timing differs from a replay's (its cycles ran every few
  seconds of wall time), so the comparison is on what was decided, in order: stage, action,
  reason code and pair for decisions; pair, side and quantity for fills; and each pair of
  entries must be no further apart in time than a tolerance (default: one backtest step).
  Prices, ids and details are shown, not compared.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btcbot_engine.backtest import (
    ACTION_STAGES,
    STATE_ACTIONS,
    BacktestConfig,
    BacktestError,
    BacktestResult,
    run_backtest,
)
from btcbot_engine.config import Settings
from btcbot_engine.store.db import StoreError, open_readonly


@dataclass(frozen=True, slots=True)
class Entry:
    """One comparable item: `key` is compared, `text` (with its timestamp) is shown."""

    kind: str  # "decision" or "fill"
    ts_ms: int
    key: str
    text: str


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where two streams first differ (None on a side that ended first)."""

    index: int
    kind: str
    ours: Entry | None
    theirs: Entry | None

    def to_json(self) -> dict[str, Any]:
        def side(e: Entry | None) -> dict[str, Any] | None:
            return None if e is None else {"ts_ms": e.ts_ms, "key": e.key, "text": e.text}

        return {
            "index": self.index,
            "kind": self.kind,
            "ours": side(self.ours),
            "theirs": side(self.theirs),
        }


@dataclass(slots=True)
class ParityReport:
    """The verdict and what it was based on."""

    mode: str  # "twice" or "against"
    identical: bool
    fingerprints: tuple[str, ...]
    compared: dict[str, int] = field(default_factory=dict)
    divergences: list[Divergence] = field(default_factory=list)
    outs: tuple[Path, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "identical": self.identical,
            "fingerprints": list(self.fingerprints),
            "compared": self.compared,
            "first_divergence": [d.to_json() for d in self.divergences],
            "outputs": [str(p) for p in self.outs],
        }


def _first_difference(
    kind: str, ours: Sequence[Entry], theirs: Sequence[Entry], tolerance_ms: int | None = None
) -> Divergence | None:
    for i in range(max(len(ours), len(theirs))):
        a = ours[i] if i < len(ours) else None
        b = theirs[i] if i < len(theirs) else None
        if a is None or b is None or a.key != b.key:
            return Divergence(i, kind, a, b)
        if tolerance_ms is not None and abs(a.ts_ms - b.ts_ms) > tolerance_ms:
            return Divergence(i, kind, a, b)
    return None


def _stream_entries(lines: Sequence[str]) -> tuple[list[Entry], list[Entry]]:
    """A backtest's hashed stream -> comparable decision and fill entries."""
    decisions, fills = [], []
    for line in lines:
        parts = line.split("|", 6)
        if parts[0] == "D":
            _, ts, stage, action, reason, symbol, _detail = parts[:7]
            key = f"{stage}|{action}|{reason}|{symbol}"
            decisions.append(Entry("decision", int(ts), key, line))
        elif parts[0] == "F":
            _, ts, symbol, side, _price, quantity = parts[:6]
            fills.append(Entry("fill", int(ts), f"{symbol}|{side}|{quantity}", line))
    return decisions, fills


def _recorded_entries(db: Path, start_ms: int, end_ms: int) -> tuple[list[Entry], list[Entry]]:
    """Order decisions and fills a run recorded in `db` within [start_ms, end_ms]."""
    store = open_readonly(db)
    try:
        conn = store.db.connection()
        stages = tuple(s.value for s in ACTION_STAGES)
        marks = ",".join("?" * len(stages))
        rows = conn.execute(
            "SELECT ts_ms, stage, action, reason_code, symbol, detail FROM decisions"
            f" WHERE ts_ms BETWEEN ? AND ? AND stage IN ({marks}) ORDER BY id",
            (start_ms, end_ms, *stages),
        ).fetchall()
        decisions = [
            Entry(
                "decision",
                int(ts),
                f"{stage}|{action}|{reason}|{symbol or '-'}",
                f"D|{ts}|{stage}|{action}|{reason}|{symbol or '-'}|{detail}",
            )
            for ts, stage, action, reason, symbol, detail in rows
            if action not in STATE_ACTIONS
        ]
        fill_rows = conn.execute(
            "SELECT timestamp_ms, symbol, side, price, quantity, fee, tax, order_id FROM fills"
            " WHERE timestamp_ms BETWEEN ? AND ? ORDER BY timestamp_ms, trade_id",
            (start_ms, end_ms),
        ).fetchall()
        fills = [
            Entry(
                "fill",
                int(ts),
                f"{symbol}|{side}|{quantity}",
                f"F|{ts}|{symbol}|{side}|{price}|{quantity}|{fee}|{tax}|{oid}",
            )
            for ts, symbol, side, price, quantity, fee, tax, oid in fill_rows
        ]
        return decisions, fills
    finally:
        store.close()


def parity_twice(
    config: BacktestConfig,
    settings: Settings,
    *,
    scratch: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ParityReport:
    """Run the backtest twice (into scratch databases) and compare the two runs."""
    with tempfile.TemporaryDirectory(prefix="btcbot-parity-") as tmp:
        base = scratch or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        results: list[BacktestResult] = []
        for name in ("first", "second"):
            run_config = dataclasses.replace(
                config, out=base / f"parity-{name}.db", force=True, svg=False
            )
            results.append(run_backtest(run_config, settings, progress=progress, keep_stream=True))
        a, b = results
        report = ParityReport(
            mode="twice",
            identical=a.fingerprint == b.fingerprint,
            fingerprints=(a.fingerprint, b.fingerprint),
            compared={"lines": len(a.stream or ())},
            outs=(a.out, b.out) if scratch is not None else (),
        )
        if not report.identical:
            da, fa = _stream_entries(a.stream or [])
            db_, fb = _stream_entries(b.stream or [])
            for kind, ours, theirs in (("decision", da, db_), ("fill", fa, fb)):
                found = _first_difference(kind, ours, theirs)
                if found is None:
                    # Same keys, different details (a price, a fee): compare whole lines.
                    found = _first_difference(
                        kind,
                        [dataclasses.replace(e, key=e.text) for e in ours],
                        [dataclasses.replace(e, key=e.text) for e in theirs],
                    )
                if found is not None:
                    report.divergences.append(found)
        return report


def parity_against(
    config: BacktestConfig,
    settings: Settings,
    recorded_db: Path,
    *,
    tolerance_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ParityReport:
    """Run the backtest and compare it with the decisions and fills recorded in `recorded_db`
    over the backtest's window; lists the first divergence of each stream. Entries further
    apart in time than `tolerance_ms` (default: one backtest step) count as diverged."""
    if not recorded_db.exists():
        raise BacktestError(f"{recorded_db} does not exist")
    if config.start_ms is None or config.end_ms is None:
        raise BacktestError("parity needs --start and --end (the window both runs cover)")
    try:
        # Read the recorded run first: a bad file is reported before a long backtest runs.
        theirs_d, theirs_f = _recorded_entries(recorded_db, config.start_ms, config.end_ms)
    except StoreError as exc:
        raise BacktestError(f"--against: {exc}") from None
    result = run_backtest(config, settings, progress=progress, keep_stream=True)
    ours_d, ours_f = _stream_entries(result.stream or [])
    if tolerance_ms is None:
        tolerance_ms = result.summary.step_ms
    report = ParityReport(
        mode="against",
        identical=False,
        fingerprints=(result.fingerprint,),
        compared={
            "our_decisions": len(ours_d),
            "their_decisions": len(theirs_d),
            "our_fills": len(ours_f),
            "their_fills": len(theirs_f),
        },
        outs=(result.out,),
    )
    report.compared["tolerance_ms"] = tolerance_ms
    for kind, ours, theirs in (("decision", ours_d, theirs_d), ("fill", ours_f, theirs_f)):
        found = _first_difference(kind, ours, theirs, tolerance_ms)
        if found is not None:
            report.divergences.append(found)
    report.identical = not report.divergences
    return report
