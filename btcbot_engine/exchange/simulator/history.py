"""Candles for the graph API: synthetic past before the simulator started, live ticks after.

The past is a deterministic function of (seed, pair, time) anchored so that it ends exactly at the
pair's start price when the simulator starts: a few seeded slow waves plus hashed per-minute noise.
Any candle can be computed on its own (no walk from the beginning of time), so a year of daily
candles is as cheap as an hour of minutes. After the start, candles come from the live market.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from btcbot_engine.exchange.simulator.pairs import PairSpec

RESOLUTIONS_MIN = (1, 5, 15, 30, 60, 240)
MAX_CANDLES = 5000  # a request asking for more gets the most recent ones
_SAMPLES_PER_CANDLE = 48
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Candle:
    """One OHLCV bucket; `time_s` is the bucket start in Unix seconds."""

    time_s: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def _mix64(value: int) -> int:
    # splitmix64: a cheap, well-spread hash so per-minute noise needs no RNG state.
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _unit(value: int) -> float:
    """A hash mapped to [-1, 1)."""
    return (_mix64(value) / float(1 << 63)) - 1.0


class _SyntheticPast:
    """log(price) as a function of time for one pair, zero at the anchor."""

    PERIODS_MIN = (37, 190, 1140, 6200, 33000, 140000)
    AMPLITUDES = (0.0012, 0.003, 0.008, 0.02, 0.05, 0.11)

    def __init__(self, seed: int, spec: PairSpec, anchor_min: int) -> None:
        rng = random.Random(f"history:{seed}:{spec.name}")
        self.phases = [rng.uniform(0, 2 * math.pi) for _ in self.PERIODS_MIN]
        self.key = rng.getrandbits(64)
        self.anchor_min = anchor_min
        self.spec = spec
        self.start = float(spec.start_price)
        self.offset = self._raw(anchor_min)

    def _raw(self, minute: int) -> float:
        total = 0.0
        for period, amplitude, phase in zip(
            self.PERIODS_MIN, self.AMPLITUDES, self.phases, strict=True
        ):
            total += amplitude * math.sin(2 * math.pi * minute / period + phase)
        return total + 0.0006 * _unit(self.key ^ minute)

    def price(self, minute: int) -> float:
        """The synthetic price at a minute (a float: it is quantized before it is served)."""
        return self.start * math.exp(self._raw(minute) - self.offset)

    def volume(self, minute: int, minutes: int) -> float:
        """Synthetic base volume of `minutes` minutes starting at `minute`."""
        per_minute = float(self.spec.daily_volume) / 1440.0
        return per_minute * minutes * (0.5 + (_unit(self.key ^ (minute * 7919)) + 1.0) * 0.5)


class PriceHistory:
    """Graph-API candles for every pair: the synthetic past plus minute bars of the live run."""

    def __init__(self, seed: int, pairs: tuple[PairSpec, ...], anchor_s: int) -> None:
        self.anchor_min = anchor_s // 60
        self._past = {p.name: _SyntheticPast(seed, p, self.anchor_min) for p in pairs}
        self._specs = {p.name: p for p in pairs}
        # minute -> [open, high, low, close, volume] of the live market
        self._live: dict[str, dict[int, list[Decimal]]] = {p.name: {} for p in pairs}

    def record(self, pair: str, ts_ms: int, price: Decimal, volume: Decimal) -> None:
        """Fold one live tick (mid or trade price, traded volume) into its minute bar."""
        minute = ts_ms // 60_000
        bars = self._live[pair]
        bar = bars.get(minute)
        if bar is None:
            bars[minute] = [price, price, price, price, volume]
        else:
            bar[1] = max(bar[1], price)
            bar[2] = min(bar[2], price)
            bar[3] = price
            bar[4] += volume

    def _q(self, spec: PairSpec, value: float) -> Decimal:
        step = spec.price_step
        price = (Decimal(f"{value:.10f}") / step).to_integral_value(ROUND_HALF_UP) * step
        return max(price, step)

    def _synthetic(self, spec: PairSpec, start_min: int, minutes: int) -> Candle:
        past = self._past[spec.name]
        stride = max(1, minutes // _SAMPLES_PER_CANDLE)
        samples = [past.price(m) for m in range(start_min, start_min + minutes, stride)]
        close = past.price(min(start_min + minutes, self.anchor_min))
        samples.append(close)
        volume = Decimal(f"{past.volume(start_min, minutes):.8f}")
        return Candle(
            time_s=start_min * 60,
            open=self._q(spec, samples[0]),
            high=self._q(spec, max(samples)),
            low=self._q(spec, min(samples)),
            close=self._q(spec, close),
            volume=volume.quantize(spec.quantity_step, ROUND_DOWN),
        )

    def _mixed(self, spec: PairSpec, start_min: int, minutes: int) -> Candle | None:
        # A bucket that reaches into the live run: combine minute bars one by one.
        bars: list[list[Decimal]] = []
        live = self._live[spec.name]
        for minute in range(start_min, start_min + minutes):
            if minute < self.anchor_min:
                c = self._synthetic(spec, minute, 1)
                bars.append([c.open, c.high, c.low, c.close, c.volume])
            elif minute in live:
                bars.append(live[minute])
        if not bars:
            return None
        return Candle(
            time_s=start_min * 60,
            open=bars[0][0],
            high=max(b[1] for b in bars),
            low=min(b[2] for b in bars),
            close=bars[-1][3],
            volume=sum((b[4] for b in bars), Decimal(0)).quantize(spec.quantity_step, ROUND_DOWN),
        )

    def candles(self, pair: str, resolution_min: int, from_s: int, to_s: int) -> list[Candle]:
        """Candles whose bucket starts in [from_s, to_s], oldest first, at most MAX_CANDLES."""
        spec = self._specs[pair]
        first = (from_s // 60) // resolution_min * resolution_min
        last = (to_s // 60) // resolution_min * resolution_min
        if last < first:
            return []
        count = (last - first) // resolution_min + 1
        if count > MAX_CANDLES:
            first = last - (MAX_CANDLES - 1) * resolution_min
        out: list[Candle] = []
        for start in range(first, last + 1, resolution_min):
            if start + resolution_min <= self.anchor_min:
                out.append(self._synthetic(spec, start, resolution_min))
            else:
                candle = self._mixed(spec, start, resolution_min)
                if candle is not None:
                    out.append(candle)
        return out
