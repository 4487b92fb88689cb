"""`btcbot replay-fetch`: seed a dataset with candle history from the graph API's klines.

Public endpoints only, no keys: the pairs' rules from exchangeinfo and candles from
`/v1/klines/history` (the bundled simulator serves both). The window is fetched in pages of at
most 5,000 candles (the API's cap), bars that have not closed yet are left out, and prices are
checked against the pair's scales (values with more decimals than the pair allows are rounded
to them, and the manifest's notes say how many were). The result has candles only; the replay
synthesizes the top of book around each close with the manifest's spread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from urllib.parse import urlparse

from btcbot_engine.domain.market import normalize_symbol
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.replay.dataset import (
    MANIFEST,
    DatasetError,
    DatasetProblem,
    FileEntry,
    Manifest,
    write_manifest,
)
from btcbot_engine.replay.writer import TableWriter, units_text

PAGE_CANDLES = 5000
# Graph API resolutions (minutes) by dataset resolution name.
GRAPH_RESOLUTIONS: dict[str, int] = {
    "1m": 1,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "4h": 240,
    "1d": 1440,
}


class FetchError(Exception):
    """The fetch cannot run or failed; the message names the pair or endpoint."""


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What was written."""

    manifest: Manifest
    bars: dict[str, int]
    rounded: int


def _units(value: Decimal, scale: int, rounding: str) -> tuple[int, bool]:
    scaled = value.scaleb(scale)
    whole = scaled.to_integral_value(rounding=rounding)
    return int(whole), whole != scaled


async def fetch(
    directory: Path,
    *,
    symbols: Sequence[str],
    from_ms: int,
    to_ms: int,
    resolution: str,
    base_url: str,
    graph_url: str,
    timeout_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> FetchReport:
    """Fetch candles for `symbols` in [from_ms, to_ms) into a new dataset at `directory`."""
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
    from btcbot_engine.exchange.port import ExchangeError

    if resolution not in GRAPH_RESOLUTIONS:
        raise FetchError(
            f"resolution {resolution!r}: the graph API serves {', '.join(GRAPH_RESOLUTIONS)}"
        )
    minutes = GRAPH_RESOLUTIONS[resolution]
    res_ms = minutes * 60_000
    if to_ms <= from_ms:
        raise FetchError("--to must be after --from")
    if (directory / MANIFEST).exists():
        raise DatasetError(
            DatasetProblem(MANIFEST, None, f"{directory} already holds a dataset; not overwritten")
        )
    names = [normalize_symbol(s) for s in symbols]
    if not names:
        raise FetchError("give at least one symbol")
    start = from_ms // res_ms * res_ms
    # No key, no write guard: this adapter can only read public data.
    exchange = BtcturkExchange(base_url, graph_url, timeout_s=timeout_s, max_retries=2)
    files: dict[str, FileEntry] = {}
    bars: dict[str, int] = {}
    rounded = 0
    try:
        try:
            info = await exchange.exchange_info()
            now_ms = await exchange.server_time_ms()
        except ExchangeError as exc:
            raise FetchError(f"exchangeinfo: {exc}") from None
        end = min(to_ms, now_ms) // res_ms * res_ms  # only bars that have closed
        if end <= start:
            raise FetchError("the window holds no closed bar yet")
        rules: dict[str, SymbolRules] = {}
        for symbol in names:
            if symbol not in info:
                raise FetchError(f"{symbol} is not listed by {urlparse(base_url).netloc}")
            # Today's price band says nothing about last month's prices: drop it.
            rules[symbol] = dataclasses.replace(info[symbol], min_price=None, max_price=None)
        total_pages = len(names) * max(1, -(-(end - start) // (PAGE_CANDLES * res_ms)))
        page_no = 0
        for symbol in names:
            rule = rules[symbol]
            writer = TableWriter(directory, "candles", symbol)
            last_ts: int | None = None
            try:
                page_start = start
                while page_start < end:
                    page_end = min(page_start + PAGE_CANDLES * res_ms, end)
                    try:
                        candles = await exchange.klines(
                            symbol, minutes, page_start // 1000, (page_end - res_ms) // 1000
                        )
                    except ExchangeError as exc:
                        raise FetchError(f"klines {symbol}: {exc}") from None
                    for c in candles:
                        ts = c.open_time_s * 1000
                        if ts < page_start or ts + res_ms > end or ts % res_ms:
                            continue
                        if last_ts is not None and ts <= last_ts:
                            continue  # pages may overlap at their edges
                        row = []
                        for value in (c.open, c.high, c.low, c.close):
                            units, changed = _units(value, rule.price_scale, ROUND_HALF_EVEN)
                            rounded += changed
                            row.append(units_text(units, rule.price_scale))
                        vol, changed = _units(c.volume, rule.quantity_scale, ROUND_DOWN)
                        rounded += changed
                        writer.write([str(ts), *row, units_text(vol, rule.quantity_scale)])
                        last_ts = ts
                    page_no += 1
                    if progress is not None:
                        progress(page_no, total_pages)
                    page_start = page_end
            except BaseException:
                writer.abort()
                raise
            files[writer.name] = writer.close()
            bars[symbol] = files[writer.name].rows
    finally:
        await exchange.close()
    if not any(bars.values()):
        for name in files:
            (directory / name).unlink(missing_ok=True)
        raise FetchError("the graph API returned no candles for this window")
    manifest = Manifest(
        symbols=tuple(names),
        start_ms=start,
        end_ms=end,
        resolution=resolution,
        source=f"fetch:{urlparse(graph_url).netloc}",
        seed=None,
        rules=rules,
        files=files,
        notes={"rounded_values": rounded, "klines_resolution_min": minutes},
    )
    write_manifest(directory, manifest)
    return FetchReport(manifest, bars, rounded)
