"""`btcbot replay-init`: a seeded synthetic dataset, bit-identical for the same arguments.

The market is a regime-switching random walk: every bar may switch (rarely) between calm,
normal, volatile and two trending regimes, each with its own volatility, drift, spread and volume
level. Shocks are near-normal (a sum of four uniforms), bars open at (or a tick or two from) the
previous close, high and low extend past open and close by a random share of the bar's
volatility, volume grows with the regime and the size of the move, and the top of book sits a
regime-dependent spread around the close.

Everything is integer arithmetic on a Mersenne Twister seeded with a string (the same on every
platform and Python version): no float reaches a price, so the files are byte-identical across
machines. Known pairs take the simulator's listing rules (BTCTRY tick 10, ...); any other
`<BASE><TRY|USDT>` name gets rules and a start price derived from the seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from math import isqrt
from pathlib import Path

from btcbot_engine.domain.market import normalize_symbol
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.replay.dataset import (
    MANIFEST,
    RESOLUTIONS_MS,
    DatasetError,
    DatasetProblem,
    FileEntry,
    Manifest,
    write_manifest,
)
from btcbot_engine.replay.writer import TableWriter, units_text

DEFAULT_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z: a fixed start keeps files identical
PPM = 1_000_000
_SHOCK_STD = 37_837  # std of the sum of four uniforms on [-32768, 32768)
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Regime:
    """One market regime: per-minute volatility and drift (ppm), spread (bps x100), volume (%)."""

    name: str
    sigma_ppm: int
    drift_ppm: int
    spread_cbps: int  # hundredths of a basis point
    volume_pct: int


REGIMES: tuple[Regime, ...] = (
    Regime("calm", 250, 0, 150, 60),
    Regime("normal", 600, 0, 300, 100),
    Regime("volatile", 1600, 0, 800, 230),
    Regime("trend_up", 700, 40, 350, 140),
    Regime("trend_down", 900, -45, 450, 170),
)
SWITCH_PER_DAY = 2  # expected regime changes per day


@dataclass(frozen=True, slots=True)
class PairModel:
    """Rules and start of one synthetic pair."""

    rules: SymbolRules
    start_price: Decimal
    daily_volume: Decimal  # base units per day in the normal regime


def _known_pairs() -> dict[str, PairModel]:
    from btcbot_engine.exchange.simulator.pairs import PAIRS

    out = {}
    for p in PAIRS:
        rules = SymbolRules(
            symbol=p.name,
            base=p.base,
            quote=p.quote,
            status="TRADING",
            price_scale=p.price_scale,
            quantity_scale=p.quantity_scale,
            tick_size=p.tick_size,
            min_notional=p.min_exchange_value,
            has_fraction=p.has_fraction,
            order_methods=frozenset(m for m in p.order_methods if m in ("LIMIT", "MARKET")),
        )
        out[p.name] = PairModel(rules, p.start_price, p.daily_volume)
    return out


def pair_model(symbol: str, seed: int) -> PairModel:
    """The simulator's listing for known pairs; seeded generic rules for any other name."""
    known = _known_pairs()
    if symbol in known:
        return known[symbol]
    quote = "USDT" if symbol.endswith("USDT") else "TRY" if symbol.endswith("TRY") else None
    if quote is None or len(symbol) - len(quote) < 2:
        raise ValueError(f"{symbol!r} is not <BASE>TRY or <BASE>USDT")
    digest = hashlib.sha256(f"pair:{seed}:{symbol}".encode()).digest()
    magnitude = digest[0] % 6  # start price between 1 and 999,999 quote units
    start = Decimal(100 + int.from_bytes(digest[1:3], "big") % 900).scaleb(magnitude - 2)
    tick = Decimal(1).scaleb(max(magnitude - 4, -2))
    rules = SymbolRules(
        symbol=symbol,
        base=symbol[: -len(quote)],
        quote=quote,
        status="TRADING",
        price_scale=2,
        quantity_scale=8 if magnitude >= 3 else 2,
        tick_size=tick,
        min_notional=Decimal("99.91") if quote == "TRY" else Decimal("10"),
    )
    daily = (Decimal(20_000_000) / start).quantize(Decimal(1).scaleb(-rules.quantity_scale))
    return PairModel(rules, start.quantize(tick), max(daily, Decimal(1)))


def _walk(
    model: PairModel,
    rng: random.Random,
    *,
    bars: int,
    start_ms: int,
    resolution_ms: int,
    emit_bar: Callable[[int, int, int, int, int, int], None],
    emit_top: Callable[[int, int, int, int, int], None] | None,
) -> None:
    """Generate `bars` bars; prices in integer units of 10**-price_scale."""
    rules = model.rules
    step = int(rules.price_step.scaleb(rules.price_scale))  # price step in units
    qstep = 1  # quantity units are already the quantity step
    # Price kept with 6 extra digits so small moves accumulate instead of rounding away.
    scale_up = PPM
    price = int(model.start_price.scaleb(rules.price_scale)) * scale_up
    # Volatility scales with the square root of the bar length (integer sqrt: exact everywhere).
    vol_num = isqrt(resolution_ms * PPM // 60_000)  # sqrt(bar / 1 minute) * 1000
    bars_per_day = max(_DAY_MS // resolution_ms, 1)
    vol_per_bar = int(model.daily_volume.scaleb(rules.quantity_scale)) // bars_per_day
    switch_threshold = SWITCH_PER_DAY * (1 << 32) // bars_per_day
    regime = REGIMES[1]
    window = [0] * min(bars_per_day, 1440 * 60)  # rolling 24h volume ring
    window_sum = 0
    prev_close = (price // scale_up // step) * step or step
    for i in range(bars):
        bits = rng.getrandbits(128)
        if (bits & 0xFFFFFFFF) < switch_threshold:
            regime = REGIMES[(bits >> 32) % len(REGIMES)]
        bits >>= 40
        shock = sum(((bits >> (16 * k)) & 0xFFFF) - 0x8000 for k in range(4))
        bits >>= 64
        sigma = regime.sigma_ppm * vol_num // 1000
        move_ppm = regime.drift_ppm + sigma * shock // _SHOCK_STD
        # The opening print: usually the previous close, sometimes a tick or two away.
        jump = bits & 0x1F
        bits >>= 5
        open_ = prev_close
        if jump == 0:
            open_ += step
        elif jump == 1:
            open_ = max(open_ - step, step)
        elif jump == 2:
            open_ += 2 * step
        price = max(price + price * move_ppm // PPM, step * scale_up)
        close = max((price // scale_up + step // 2) // step * step, step)
        wick_hi = (bits & 0xFF) * sigma // 255
        wick_lo = ((bits >> 8) & 0xFF) * sigma // 255
        bits >>= 16
        top, bottom = max(open_, close), min(open_, close)
        high = top + (top * wick_hi // PPM) // step * step
        low = max(bottom - (bottom * wick_lo // PPM) // step * step, step)
        size = 50 + (bits & 0x7F) * 100 // 127  # 50..150 %
        bits >>= 7
        move = abs(move_ppm) * 100 // max(sigma, 1)  # the move in % of sigma
        volume = vol_per_bar * regime.volume_pct // 100 * size // 100 * (100 + move // 2) // 100
        volume = volume // qstep * qstep
        ts = start_ms + i * resolution_ms
        emit_bar(ts, open_, high, low, close, volume)
        if emit_top is not None:
            slot = i % len(window)
            window_sum += volume - window[slot]
            window[slot] = volume
            spread_cbps = regime.spread_cbps * (70 + (bits & 0x3F)) // 100  # 0.7x .. 1.33x
            half = max((close * spread_cbps // 2_000_000 + step - 1) // step * step, step)
            emit_top(ts + resolution_ms, close - half, close + half, close, window_sum)
        prev_close = close


class _Lines:
    """Formats generated rows into CSV lines, collected until a chunk is written."""

    def __init__(self, price_scale: int, qty_scale: int) -> None:
        self.ps, self.qs = price_scale, qty_scale
        self.bars: list[str] = []
        self.tops: list[str] = []

    def bar(self, ts: int, o: int, h: int, lo: int, c: int, v: int) -> None:
        ps = self.ps
        self.bars.append(
            f"{ts},{units_text(o, ps)},{units_text(h, ps)},{units_text(lo, ps)},"
            f"{units_text(c, ps)},{units_text(v, self.qs)}\n"
        )

    def top(self, ts: int, bid: int, ask: int, last: int, vol: int) -> None:
        ps = self.ps
        self.tops.append(
            f"{ts},{units_text(bid, ps)},{units_text(ask, ps)},"
            f"{units_text(last, ps)},{units_text(vol, self.qs)}\n"
        )


def generate(
    directory: Path,
    *,
    seed: int,
    symbols: Sequence[str] = ("BTCTRY",),
    days: float | None = None,
    bars: int | None = None,
    resolution: str = "1m",
    start_ms: int = DEFAULT_START_MS,
    tickers: bool = True,
    compress: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Write a synthetic dataset into `directory` (which must not hold a dataset yet).

    Give either `days` or `bars` (bars per symbol). Raises DatasetError if a manifest already
    exists there (never overwrites) and ValueError for bad arguments.
    """
    if resolution not in RESOLUTIONS_MS:
        raise ValueError(f"resolution {resolution!r} is not one of {', '.join(RESOLUTIONS_MS)}")
    res = RESOLUTIONS_MS[resolution]
    if bars is None:
        if days is None or days <= 0:
            raise ValueError("give --days (> 0) or a bar count")
        bars = int(Decimal(str(days)) * _DAY_MS) // res
    if bars < 1:
        raise ValueError("the dataset needs at least one bar")
    if start_ms % res:
        raise ValueError(f"start {start_ms} is not on the {resolution} grid")
    names = [normalize_symbol(s) for s in symbols]
    if not names or len(set(names)) != len(names):
        raise ValueError("give each symbol once")
    models = {s: pair_model(s, seed) for s in names}
    if (directory / MANIFEST).exists():
        raise DatasetError(
            DatasetProblem(MANIFEST, None, f"{directory} already holds a dataset; not overwritten")
        )
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, FileEntry] = {}
    total = bars * len(names)
    done = 0
    for symbol in names:
        model = models[symbol]
        ps, qs = model.rules.price_scale, model.rules.quantity_scale
        rng = random.Random(f"replay-init:{seed}:{symbol}:{resolution}:{start_ms}")
        candles = TableWriter(directory, "candles", symbol, compress=compress)
        tops = TableWriter(directory, "tickers", symbol, compress=compress) if tickers else None
        lines = _Lines(ps, qs)
        bar_lines, top_lines = lines.bars, lines.tops
        emit_bar, emit_top = lines.bar, lines.top

        chunk = 50_000
        try:
            for first in range(0, bars, chunk):
                count = min(chunk, bars - first)
                _walk(
                    model,
                    rng,
                    bars=count,
                    start_ms=start_ms + first * res,
                    resolution_ms=res,
                    emit_bar=emit_bar,
                    emit_top=emit_top if tops is not None else None,
                )
                candles.write_lines(bar_lines, len(bar_lines))
                bar_lines.clear()
                if tops is not None:
                    tops.write_lines(top_lines, len(top_lines))
                    top_lines.clear()
                done += count
                if progress is not None:
                    progress(done, total)
        except BaseException:
            candles.abort()
            if tops is not None:
                tops.abort()
            raise
        files[candles.name] = candles.close()
        if tops is not None:
            files[tops.name] = tops.close()
    manifest = Manifest(
        symbols=tuple(names),
        start_ms=start_ms,
        end_ms=start_ms + bars * res,
        resolution=resolution,
        source="synthetic:replay-init",
        seed=seed,
        rules={s: m.rules for s, m in models.items()},
        files=files,
        notes={"generator": "regime-switching random walk", "regimes": [r.name for r in REGIMES]},
    )
    write_manifest(directory, manifest)
    return manifest


def symbols_arg(text: Iterable[str]) -> list[str]:
    """`--symbols BTCTRY,ETHTRY` (repeatable, comma-separated) -> normalized names."""
    out: list[str] = []
    for part in text:
        out.extend(normalize_symbol(s) for s in part.split(",") if s.strip())
    return out
