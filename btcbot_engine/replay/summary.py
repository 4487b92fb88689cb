"""A backtest's summary figures and its equity curve as a small hand-written SVG.

Money figures (equity, fees, turnover) are Decimals from the ledger. The curve is kept as whole
cents per step (8 bytes a step, however long the run); drawdown and exposure come from it
exactly. Sharpe is a statistic, not money: it is computed in floats from the per-step returns
and annualized with the step length (365-day year); IEEE arithmetic in a fixed order, so it too
is the same on every machine.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

YEAR_MS = 365 * 86_400_000
_PCT = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class BacktestSummary:
    """What `btcbot backtest` prints and stores under meta key `backtest`."""

    run_id: str
    fingerprint: str
    start_ms: int
    end_ms: int
    step_ms: int
    steps: int
    steps_planned: int
    bars: int
    full_cycles: int
    trades: int
    initial_equity_try: Decimal | None
    final_equity_try: Decimal | None
    return_pct: Decimal | None
    max_drawdown_pct: Decimal
    sharpe: float | None
    fees_try: Decimal
    turnover_try: Decimal
    exposure_pct: Decimal
    elapsed_s: float
    interrupted: bool

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-safe (Decimals as strings)."""
        return {
            "run_id": self.run_id,
            "fingerprint": self.fingerprint,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "step_ms": self.step_ms,
            "steps": self.steps,
            "steps_planned": self.steps_planned,
            "bars": self.bars,
            "full_cycles": self.full_cycles,
            "trades": self.trades,
            "initial_equity_try": _s(self.initial_equity_try),
            "final_equity_try": _s(self.final_equity_try),
            "return_pct": _s(self.return_pct),
            "max_drawdown_pct": str(self.max_drawdown_pct),
            "sharpe": None if self.sharpe is None else round(self.sharpe, 4),
            "fees_try": str(self.fees_try),
            "turnover_try": str(self.turnover_try),
            "exposure_pct": str(self.exposure_pct),
            "elapsed_s": round(self.elapsed_s, 3),
            "bars_per_s": round(self.bars_per_s, 1),
            "interrupted": self.interrupted,
        }


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def max_drawdown_pct(curve: array[int]) -> Decimal:
    """The largest fall from a running peak, in percent of that peak (0 for an empty curve)."""
    peak = 0
    worst_num, worst_den = 0, 1
    for value in curve:
        if value > peak:
            peak = value
        elif peak > 0 and (peak - value) * worst_den > worst_num * peak:
            worst_num, worst_den = peak - value, peak
    return (Decimal(worst_num) * 100 / Decimal(worst_den)).quantize(_PCT)


def sharpe_ratio(curve: array[int], step_ms: int) -> float | None:
    """Annualized mean/std of per-step returns; None with fewer than 3 points or no variance."""
    n = len(curve)
    if n < 3:
        return None
    total = 0.0
    total_sq = 0.0
    count = 0
    prev = curve[0]
    for value in curve[1:]:
        if prev > 0:
            r = value / prev - 1.0
            total += r
            total_sq += r * r
            count += 1
        prev = value
    if count < 2:
        return None
    mean = total / count
    var = (total_sq - count * mean * mean) / (count - 1)
    if var <= 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(YEAR_MS / step_ms)


def summarize(
    *,
    run_id: str,
    fingerprint: str,
    curve: array[int],
    step_ms: int,
    initial_equity: Decimal | None,
    final_equity: Decimal | None,
    trades: int,
    fees_try: Decimal,
    turnover_try: Decimal,
    exposed_steps: int,
    steps: int,
    steps_planned: int,
    full_cycles: int,
    bars: int,
    elapsed_s: float,
    interrupted: bool,
    start_ms: int,
    end_ms: int,
) -> BacktestSummary:
    """Assemble the summary from what the runner tracked."""
    ret = None
    if initial_equity is not None and final_equity is not None and initial_equity > 0:
        ret = ((final_equity - initial_equity) * 100 / initial_equity).quantize(_PCT)
    exposure = Decimal(0)
    if steps:
        exposure = (Decimal(exposed_steps) * 100 / Decimal(steps)).quantize(_PCT)
    return BacktestSummary(
        run_id=run_id,
        fingerprint=fingerprint,
        start_ms=start_ms,
        end_ms=end_ms,
        step_ms=step_ms,
        steps=steps,
        steps_planned=steps_planned,
        bars=bars,
        full_cycles=full_cycles,
        trades=trades,
        initial_equity_try=initial_equity,
        final_equity_try=final_equity,
        return_pct=ret,
        max_drawdown_pct=max_drawdown_pct(curve),
        sharpe=sharpe_ratio(curve, step_ms),
        fees_try=fees_try,
        turnover_try=turnover_try,
        exposure_pct=exposure,
        elapsed_s=elapsed_s,
        interrupted=interrupted,
    )


def _day(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def write_equity_svg(
    path: Path,
    time_axis: tuple[int, int],
    curve: array[int],
    *,
    title: str,
    width: int = 900,
    height: int = 320,
    max_points: int = 1200,
) -> None:
    """Draw the equity curve (cents per step from `time_axis` = (first ms, step ms)) as an SVG:
    a polyline with min/max per pixel bucket (so drawdowns stay visible), axes labels, title."""
    n = len(curve)
    if n == 0:
        return
    first_ms, step_ms = time_axis
    left, right, top, bottom = 80, 20, 36, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = min(curve), max(curve)
    span = hi - lo or 1
    buckets = min(n, max_points // 2 or 1)
    points: list[str] = []
    for b in range(buckets):
        a, z = b * n // buckets, max((b + 1) * n // buckets, b * n // buckets + 1)
        chunk = curve[a:z]
        i_lo = a + chunk.index(min(chunk))
        i_hi = a + chunk.index(max(chunk))
        for i in sorted({i_lo, i_hi}):
            x = left + plot_w * (i / max(n - 1, 1))
            y = top + plot_h * (1 - (curve[i] - lo) / span)
            points.append(f"{x:.1f},{y:.1f}")
    up = curve[-1] >= curve[0]
    colour = "#1a7f37" if up else "#cf222e"

    def money(cents: int) -> str:
        return f"{cents / 100:,.2f}"

    end_ms = first_ms + (n - 1) * step_ms
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" \
viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{left}" y="20" font-size="14">{escape(title)} — equity (TRY)</text>
<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>
<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>
<text x="{left - 6}" y="{top + 4}" text-anchor="end">{money(hi)}</text>
<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">{money(lo)}</text>
<text x="{left}" y="{height - 14}">{_day(first_ms)}</text>
<text x="{left + plot_w}" y="{height - 14}" text-anchor="end">{_day(end_ms)}</text>
<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{" ".join(points)}"/>
<text x="{left + plot_w}" y="20" text-anchor="end">final {money(curve[-1])}</text>
</svg>
"""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(svg, encoding="utf-8")
    tmp.replace(path)
