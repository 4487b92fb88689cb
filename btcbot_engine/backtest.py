"""Backtests: the real trading cycle driven by a replay exchange and a simulated clock.

`run_backtest(config, settings)` composes the same parts the engine composes for paper trading
(universe, strategy, risk, gates and pre-write guard, OMS, fill sync, ledger, store) around a
`ReplayExchange` instead of the network, and steps a `SimClock` through the dataset. The guard is
the paper guard (DRY_RUN forced on, no keys anywhere), so a backtest cannot reach an exchange.

Quiet steps. When nothing can happen at a step (no order open, no fill pending, every quote fresh
and clean, and the strategy's `preview` says its windows did not cross), the runner does only
what a full cycle would have changed for later decisions: it records each pair's mid in the
cycle's price history, feeds the strategy, and values the books (the peak equity drives the
drawdown limit). Every other step runs `TradingCycle.run` unchanged. `every_step=True` runs the
full cycle on every step instead; both give the same fingerprint (a test proves it).

Results go to `config.out`, a database with the live schema (written through `WriteBehindStore`,
flushed every `flush_every` full cycles and at the end, so the file always ends at a cycle
boundary), plus the summary under meta key `backtest` and an equity SVG next to it.

The fingerprint is a SHA-256 over the ordered stream of order decisions (strategy intents, risk
verdicts, gate and OMS outcomes, with their timestamps and details) and fills. The same dataset,
window, step, seed, strategy, parameters and settings give the same fingerprint on any machine:
no wall clock, float or unseeded randomness reaches the stream.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import time
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from btcbot_engine.config import Settings
from btcbot_engine.cycle import HISTORY_LENGTH, TradingCycle, risk_limits, universe_config
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.money import MoneyError, to_decimal
from btcbot_engine.domain.records import Decision, DecisionStage, MetricPoint
from btcbot_engine.exchange.fill_model import FeeSchedule
from btcbot_engine.exchange.replay import ReplayExchange
from btcbot_engine.gates import GateDecision, evaluate_gates, gate_inputs
from btcbot_engine.guard import PreWriteGuard, SafetyFlags
from btcbot_engine.ledger import Ledger
from btcbot_engine.market import MarketData
from btcbot_engine.metrics import EQUITY_TRY
from btcbot_engine.oms import OrderManager
from btcbot_engine.replay.dataset import DatasetError, DatasetProblem, load_dataset
from btcbot_engine.replay.market import ReplayMarket, SimClock
from btcbot_engine.replay.series import Dataset
from btcbot_engine.replay.summary import BacktestSummary, summarize, write_equity_svg
from btcbot_engine.store.db import open_database
from btcbot_engine.store.lock import InstanceLock
from btcbot_engine.store.write_behind import WriteBehindStore
from btcbot_engine.strategies import make_strategy

log = logging.getLogger(__name__)

META_KEY = "backtest"
ACTION_STAGES = frozenset(
    {DecisionStage.STRATEGY, DecisionStage.RISK, DecisionStage.GATES, DecisionStage.OMS}
)
STATE_ACTIONS = frozenset({"mode", "invariant_failed"})  # risk state reports, not decisions
HASHED_DETAIL_SKIP = frozenset({"client_id"})
# Settings that cannot change what a backtest decides (where it talks to, how it logs).
_SETTINGS_IGNORED = frozenset(
    {
        "btcturk_api_key",
        "btcturk_api_secret",
        "btcturk_base_url",
        "btcturk_graph_url",
        "btcturk_ws_url",
        "btcturk_api_scopes",
        "btcturk_secret_rotated_at",
        "btcturk_secret_max_age_days",
        "http_timeout_seconds",
        "rate_limit_share",
        "state_db_path",
        "log_level",
        "market_data_mode",
        "cycle_seconds",
        "paper_balances",
        "safe_mode",
        "dry_run",
        "kill_switch",
        "live_trading",
        "live_trading_ack",
    }
)


class BacktestGuard(PreWriteGuard):
    """The paper guard of a backtest: the same checks, with the gate decision computed once.

    Its inputs cannot change during a backtest (frozen Settings with DRY_RUN forced on and no
    keys, flags nobody else holds, no operator kill file for a simulation's database), and
    `check` still refuses any submit unless the mode is PAPER. Never used live.
    """

    def __init__(self, settings: Settings, flags: SafetyFlags, *, live: bool) -> None:
        if live or not settings.dry_run or settings.has_api_keys:
            raise BacktestError("a backtest guard is for dry-run settings without keys only")
        super().__init__(settings, flags, live=False)
        self._decision = evaluate_gates(gate_inputs(settings))

    def decision(self) -> GateDecision:
        """The (unchanging) gate decision of this backtest."""
        return self._decision


class BacktestError(Exception):
    """A backtest that cannot start (bad dataset, window, parameters or output path)."""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Everything that defines one backtest besides the Settings (risk caps, universe...)."""

    dataset: Path
    out: Path
    start_ms: int | None = None
    end_ms: int | None = None
    step_seconds: int | None = None  # default: the dataset's resolution
    seed: int = 0
    strategy: str = "sma_cross"
    params: tuple[tuple[str, str], ...] = ()
    symbols: tuple[str, ...] | None = None
    balances: tuple[tuple[str, str], ...] = (("TRY", "100000"),)
    fee_maker: Decimal = Decimal("0.0005")
    fee_taker: Decimal = Decimal("0.0009")
    tax_share: Decimal = Decimal("0.18")
    slippage_bps: Decimal = Decimal(0)
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    participation: Decimal = Decimal(1)
    every_step: bool = False
    flush_every: int = 2000  # full cycles per write-behind flush
    equity_every: int = 60  # steps between stored equity samples on quiet steps
    force: bool = False  # replace an existing output database
    svg: bool = True

    def key(self, settings: Settings) -> dict[str, Any]:
        """What defines the result: the config (minus where output goes) and the settings."""
        data = asdict(self)
        for name in ("dataset", "out", "flush_every", "equity_every", "force", "svg", "every_step"):
            data.pop(name)
        data = {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()}
        data["settings"] = {
            k: v for k, v in settings.model_dump(mode="json").items() if k not in _SETTINGS_IGNORED
        }
        return data


@dataclass(slots=True)
class BacktestResult:
    """The outcome of one run."""

    run_id: str
    out: Path
    summary: BacktestSummary
    fingerprint: str
    interrupted: bool
    svg: Path | None
    warnings: list[DatasetProblem] = field(default_factory=list)
    stream: list[str] | None = None  # the hashed lines, when asked for (parity)


@dataclass(slots=True)
class _Progress:
    step: int = 0
    total: int = 0


def backtest_settings(
    settings: Settings, config: BacktestConfig, symbols: Iterable[str]
) -> Settings:
    """The settings a backtest runs with: the operator's risk configuration, with every safety
    switch set for simulated trading only (paper mode, no keys) and the universe pinned to the
    dataset's loaded symbols (choose them with `symbols`), so a local UNIVERSE_SYMBOLS cannot
    make the same command decide differently on another machine."""
    universe = tuple(symbols)
    return settings.model_copy(
        update={
            "safe_mode": False,
            "kill_switch": False,
            "dry_run": True,
            "live_trading": False,
            "live_trading_ack": "",
            "btcturk_api_key": None,
            "btcturk_api_secret": None,
            "state_db_path": config.out,
            "universe_symbols": universe,
            "strategy": config.strategy,
            "market_data_mode": "rest",
        }
    )


def parse_balances(pairs: Iterable[tuple[str, str]]) -> dict[str, Decimal]:
    """(asset, amount text) -> Decimals; BacktestError naming a bad one."""
    out: dict[str, Decimal] = {}
    for asset, amount in pairs:
        try:
            value = to_decimal(amount, field=f"balance {asset}")
        except MoneyError as exc:
            raise BacktestError(str(exc)) from None
        if value < 0:
            raise BacktestError(f"balance {asset}: {value} is negative")
        out[asset.upper()] = value
    return out


def run_id_for(key: Mapping[str, Any], dataset_checksum: str) -> str:
    """A run id derived from what defines the run (so client ids are reproducible too)."""
    text = json.dumps({"key": key, "dataset": dataset_checksum}, sort_keys=True, default=str)
    return "bt-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def decision_line(d: Decision) -> str | None:
    """The fingerprint line of one decision, or None when it is not an order decision."""
    if d.stage not in ACTION_STAGES or d.action in STATE_ACTIONS:
        return None
    detail = ";".join(f"{k}={d.detail[k]}" for k in sorted(d.detail) if k not in HASHED_DETAIL_SKIP)
    return f"D|{d.ts_ms}|{d.stage.value}|{d.action}|{d.reason_code}|{d.symbol or '-'}|{detail}"


def fill_line(f: Fill) -> str:
    """The fingerprint line of one fill."""
    return (
        f"F|{f.timestamp_ms}|{f.symbol}|{f.side.value}|{f.price}|{f.quantity}|{f.fee}|{f.tax}"
        f"|{f.order_id}"
    )


class _Fingerprint:
    """Two ordered streams, decisions and fills, each hashed as it grows; the fingerprint
    hashes both digests. Fills are kept apart because they happen on the exchange between
    cycles: their own order is fixed, their interleaving with decisions depends only on when
    the engine looks."""

    def __init__(self, keep: bool) -> None:
        self._decisions = hashlib.sha256()
        self._fills = hashlib.sha256()
        self.lines: list[str] | None = [] if keep else None
        self.count = 0

    def add(self, line: str) -> None:
        target = self._fills if line.startswith("F|") else self._decisions
        target.update(line.encode())
        target.update(b"\n")
        self.count += 1
        if self.lines is not None:
            self.lines.append(line)

    def hexdigest(self) -> str:
        both = f"decisions={self._decisions.hexdigest()}\nfills={self._fills.hexdigest()}\n"
        return hashlib.sha256(both.encode()).hexdigest()


def _cents(value: Decimal) -> int:
    return round(value.scaleb(2))  # round() on a Decimal: half-even, to an int


def prepare_output(out: Path, *, force: bool) -> None:
    """Refuse to write into an existing database unless `force` (then remove it and its WAL)."""
    if out.exists() and not force:
        raise BacktestError(f"{out} already exists; choose another --out or pass --force")
    if force:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{out}{suffix}").unlink(missing_ok=True)


def load_for(config: BacktestConfig) -> Dataset:
    """Load (and strictly check) the dataset a config names; BacktestError on any problem."""
    try:
        return load_dataset(
            config.dataset, symbols=config.symbols, start_ms=config.start_ms, end_ms=config.end_ms
        )
    except DatasetError as exc:
        raise BacktestError(f"dataset: {exc}") from None


def run_backtest(
    config: BacktestConfig,
    settings: Settings,
    *,
    dataset: Dataset | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    keep_stream: bool = False,
) -> BacktestResult:
    """Run one backtest (see the module docstring); blocks until done or `should_stop()`.

    Raises BacktestError before anything is written if the dataset, window or parameters are
    unusable. `progress(step, total)` is called every few thousand steps.
    """
    if dataset is None:
        dataset = load_for(config)
    if config.step_seconds is not None and config.step_seconds <= 0:
        raise BacktestError("--step-seconds must be positive")
    balances = parse_balances(config.balances)
    try:
        strategy = make_strategy(config.strategy, **dict(config.params))
    except ValueError as exc:
        raise BacktestError(str(exc)) from None
    effective = backtest_settings(settings, config, dataset.symbols)
    key = config.key(effective)
    run_id = run_id_for(key, dataset.checksum)
    prepare_output(config.out, force=config.force)
    lock = InstanceLock(config.out, effective.account_key, command="btcbot backtest")
    lock.acquire()
    try:
        inner = open_database(config.out, account_key=effective.account_key)
        try:
            # Writes batched per `flush_every` full cycles, written by a background thread, and
            # metric samples stored when they change (see WriteBehindStore).
            store = WriteBehindStore(inner, metric_changes_only=True, background=True)
            runner = _Runner(config, effective, dataset, store, strategy, balances, run_id)
            runner.fingerprint = _Fingerprint(keep_stream)
            gc_was_enabled = gc.isenabled()
            # A backtest keeps millions of long-lived objects; collections scanning them every
            # few thousand allocations cost ~15 % of the run, and the engine's cycles make no
            # cyclic garbage (a collection at each flush of a 1M-bar run found 0 objects; it
            # only cost 1-2 %), so the collector is off until the run ends.
            gc.disable()
            try:
                asyncio.run(runner.run(progress, should_stop))
                runner.close_series()
            finally:
                store.drain()
                # What the run made is alive (books, results): move it to the oldest generation
                # instead of letting the first young collection after enable() scan it all.
                gc.freeze()
                gc.unfreeze()
                if gc_was_enabled:
                    gc.enable()
            summary = runner.summary()
            store.set_meta(
                META_KEY,
                {
                    "run_id": run_id,
                    "config": key,
                    "dataset": str(config.dataset),
                    "dataset_checksum": dataset.checksum,
                    "summary": summary.to_json(),
                },
            )
        finally:
            inner.close()
    finally:
        lock.release()
    svg = None
    if config.svg and runner.curve_len:
        svg = Path(f"{config.out}.equity.svg")
        write_equity_svg(svg, runner.curve_ms, runner.curve, title=f"{config.strategy} {run_id}")
    return BacktestResult(
        run_id=run_id,
        out=config.out,
        summary=summary,
        fingerprint=summary.fingerprint,
        interrupted=summary.interrupted,
        svg=svg,
        warnings=list(dataset.warnings),
        stream=runner.fingerprint.lines,
    )


class _Runner:
    """One backtest's composed parts and its step loop."""

    def __init__(
        self,
        config: BacktestConfig,
        settings: Settings,
        dataset: Dataset,
        store: WriteBehindStore,
        strategy: Any,
        balances: dict[str, Decimal],
        run_id: str,
    ) -> None:
        self.config = config
        self.settings = settings
        self.dataset = dataset
        self.store = store
        self.strategy = strategy
        self.run_id = run_id
        res = dataset.resolution_ms
        self.step_ms = (config.step_seconds or res // 1000) * 1000
        first = dataset.first_bar_ms() + res
        if config.start_ms is not None:
            first = max(first, config.start_ms)
        last = dataset.last_close_ms()
        if config.end_ms is not None:
            last = min(last, config.end_ms)
        if last < first:
            raise BacktestError("the window holds no complete bar")
        self.first_ms = first
        self.steps = (last - first) // self.step_ms + 1
        self.clock = SimClock(first)
        self.market = ReplayMarket(dataset, self.clock)
        fees = FeeSchedule(
            maker=config.fee_maker, taker=config.fee_taker, tax_share=config.tax_share
        )
        self.exchange = ReplayExchange(
            self.market,
            balances=balances,
            fees=fees,
            participation=config.participation,
            slippage_bps=config.slippage_bps,
            latency_ms=config.latency_ms,
            latency_jitter_ms=config.latency_jitter_ms,
            seed=config.seed,
        )
        guard = BacktestGuard(settings, SafetyFlags(), live=False)
        self.ledger = Ledger()
        self.oms = OrderManager(store, self.exchange, guard, run_id=run_id, clock_ms=self.clock)
        self.cycle = TradingCycle(
            settings=settings,
            store=store,
            exchange=self.exchange,
            market=MarketData(self.exchange, max_age_ms=settings.max_market_data_age_ms),
            oms=self.oms,
            guard=guard,
            ledger=self.ledger,
            strategy=strategy,
            run_id=run_id,
            clock_ms=self.clock,
            paper=None,
            private_reads=True,
        )
        self.fingerprint = _Fingerprint(False)
        self.curve = array("q")  # equity per step, in cents
        self.curve_ms = (first, self.step_ms)
        self.exposed_steps = 0
        self.full_cycles = 0
        self.interrupted = False
        self.steps_done = 0
        self.started = time.perf_counter()
        self.elapsed = 0.0
        self.final_equity: Decimal | None = None
        self.initial_equity: Decimal | None = None
        self._fills_seen = 0
        self._holding = False
        self._quiet_ok = False
        self._last_cents = 0
        self._flat_equity: Decimal | None = None
        self._totals: dict[str, Decimal] = {}
        self._totals_at = -1
        self._quotes = {r.quote for r in self.market.series_rules.values()}
        cfg = universe_config(settings)
        self._symbols = tuple(self.market.series)
        self._explicit = set(cfg.symbols) == set(self._symbols) and not cfg.deny
        self._has_tickers = any(s.tickers is not None for s in self.market.series.values())
        self._can_preview = callable(getattr(strategy, "preview", None))
        self._max_age = settings.max_market_data_age_ms
        self._limits = risk_limits(settings)

    @property
    def curve_len(self) -> int:
        return len(self.curve)

    async def run(
        self, progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool]
    ) -> None:
        """The step loop (see the module docstring)."""
        every = self.config.every_step or not (self._explicit and self._can_preview)
        exchange, clock = self.exchange, self.clock
        last_step = self.steps - 1
        check_every = 512  # steps between looks at should_stop (Ctrl-C answers within them)
        report_every = check_every
        k = 0
        while k < self.steps:
            if k % check_every == 0:
                if progress is not None and k % report_every == 0:
                    progress(k, self.steps)
                if should_stop():
                    # Close with one real cycle at this step, so the database holds every fill
                    # the exchange made (cycles book fills), then stop.
                    self.interrupted = True
                    clock.now_ms = self.first_ms + k * self.step_ms
                    self._record(await self._full_cycle(k))
                    self.steps_done = k + 1
                    break
            clock.now_ms = self.first_ms + k * self.step_ms
            if not every and k < last_step and self._quiet_ok:
                if exchange.busy:
                    await exchange.advance()
                if not exchange.busy:
                    # Quiet steps in one tight loop, up to the next look at should_stop.
                    stop_at = min(last_step, (k // check_every + 1) * check_every)
                    k = self._quiet_run(k, stop_at)
                    self.steps_done = k
                    if k == stop_at:
                        continue
                    clock.now_ms = self.first_ms + k * self.step_ms
            self._record(await self._full_cycle(k))
            k += 1
            self.steps_done = k
        if progress is not None:
            progress(self.steps_done, self.steps)
        self.elapsed = time.perf_counter() - self.started

    def close_series(self) -> None:
        """The last step's equity, stored even if unchanged: the curve ends where the run did."""
        if self.final_equity is not None and self.steps_done:
            last_ms = self.first_ms + (self.steps_done - 1) * self.step_ms
            self.store.metrics.record_always([MetricPoint(last_ms, EQUITY_TRY, self.final_equity)])

    def _update_holding(self) -> None:
        """Re-read the exchange's totals after fills: are we holding anything but quotes?"""
        exchange = self.exchange
        if exchange.fill_count != self._totals_at:
            self._totals = exchange.totals()
            self._totals_at = exchange.fill_count
            quotes = self._quotes
            self._holding = any(v > 0 for a, v in self._totals.items() if a not in quotes)
            self._flat_equity = None

    def _quiet_run(self, k: int, stop_at: int) -> int:
        """Process quiet steps from `k` until one needs a full cycle (or `stop_at`); return the
        index of the first step not processed. Only reads of the market, the strategy's
        `preview`, the price history and the valuation of the books happen here."""
        market, ledger = self.market, self.ledger
        preview = self.strategy.preview
        history = self.cycle.history
        symbols, max_age = self._symbols, self._max_age
        first, step_ms = self.first_ms, self.step_ms
        clock = self.clock
        curve_append = self.curve.append
        equity_every = max(self.config.equity_every, 1)
        record_metrics = self.store.metrics.record_many
        # No order rests, so nothing fills until the next full cycle: balances are fixed.
        self._update_holding()
        holding, totals = self._holding, self._totals
        rates: dict[str, Decimal] = {}
        lasts = self._has_tickers
        hists = []
        for symbol in symbols:
            hist = history.get(symbol)
            if hist is None:
                hist = history[symbol] = deque(maxlen=HISTORY_LENGTH)
            hists.append(hist)
        pairs = list(zip(symbols, hists, strict=True))
        equity = self._flat_equity if not holding else None
        cents = self._last_cents
        if len(symbols) == 1 and not lasts:
            return self._quiet_run_one(k, stop_at, hists[0], holding, totals, equity, cents)
        exposed = 0
        while k < stop_at:
            now = first + k * step_ms
            clock.now_ms = now
            mids = {}
            for symbol, _ in pairs:
                mid = market.quiet_mid(symbol, max_age)
                if mid is None:
                    break
                mids[symbol] = mid
            else:
                signal = False
                for symbol, mid in mids.items():
                    if preview(symbol, mid, now):
                        signal = True
                        break
                if not signal:
                    for symbol, hist in pairs:
                        hist.append(mids[symbol])
                    if holding or equity is None:
                        if "USDTTRY" in mids:
                            rates["USDT"] = mids["USDTTRY"]
                        marks = mids if not lasts else self._lasts()
                        value = ledger.equity_try(marks, rates, cash=totals)
                        if value is not None:
                            ledger.note_equity(value)
                            cents = _cents(value)
                            if self.initial_equity is None:
                                self.initial_equity = value
                            self.final_equity = value
                        equity = value
                        if not holding:
                            self._flat_equity = value
                        if k % equity_every == 0 and value is not None:
                            record_metrics([MetricPoint(now, EQUITY_TRY, value)])
                    elif k % equity_every == 0:
                        record_metrics([MetricPoint(now, EQUITY_TRY, equity)])
                    if equity is not None or self.curve:
                        curve_append(cents)
                    if holding:
                        exposed += 1
                    k += 1
                    continue
            break  # this step needs the full cycle
        self._last_cents = cents
        self.exposed_steps += exposed
        return k

    def _record(self, equity: Decimal | None) -> None:
        if equity is not None:
            if self.initial_equity is None:
                self.initial_equity = equity
            if equity is not self.final_equity:
                self._last_cents = _cents(equity)
            self.final_equity = equity
            self.curve.append(self._last_cents)
        elif self.curve:
            self.curve.append(self.curve[-1])
        if self._holding:
            self.exposed_steps += 1

    async def _full_cycle(self, k: int) -> Decimal | None:
        cycle = self.cycle
        await self.exchange.advance()
        res = await cycle.run(f"{self.run_id}-{k:08d}")
        self.full_cycles += 1
        fp = self.fingerprint
        for d in res.decisions:
            line = decision_line(d)
            if line is not None:
                fp.add(line)
        for fill in self.exchange.fills_since(self._fills_seen):
            fp.add(fill_line(fill))
        self._fills_seen = self.exchange.fill_count
        self._update_holding()
        # A later step may skip the cycle only if this one saw every pair included and fresh
        # and nothing went wrong reading the exchange (then a quiet step decides nothing).
        included = {e.symbol for e in res.universe if e.included}
        self._quiet_ok = (
            set(self._symbols) <= included
            and all(res.quotes[s].tradable for s in self._symbols if s in res.quotes)
            and not res.errors
        )
        if self.full_cycles % self.config.flush_every == 0:
            self.store.flush()
        return res.pnl.equity_try if res.pnl is not None and res.pnl.complete else None

    def _quiet_run_one(
        self,
        k: int,
        stop_at: int,
        hist: deque[Decimal],
        holding: bool,
        totals: dict[str, Decimal],
        equity: Decimal | None,
        cents: int,
    ) -> int:
        """`_quiet_run` for the common case of one pair and bars only, with the market's
        quiet-mid arithmetic inlined (the same computation; the general loop is the reference
        and a test holds the two to the same fingerprint)."""
        symbol = self._symbols[0]
        market, ledger = self.market, self.ledger
        ts, closes, step, scale = market.quiet_source(symbol)
        unit = Decimal(1).scaleb(scale)
        res, cbps, max_age = market.resolution_ms, market.spread_cbps, self._max_age
        preview, note_equity = self.strategy.preview, ledger.note_equity
        first, step_ms = self.first_ms, self.step_ms
        curve_append = self.curve.append
        equity_every = max(self.config.equity_every, 1)
        record_metrics = self.store.metrics.record_many
        marks: dict[str, Decimal] = {}
        rates: dict[str, Decimal] = {}
        # Nothing fills during quiet steps: the books' valuation is prepared once per run.
        valuate = ledger.valuation((symbol,), rates, cash=totals)
        track = equity is not None or bool(self.curve)
        valued: Decimal | None = None  # the newest complete valuation of this run
        n = len(ts)
        i = bisect_right(ts, first + k * step_ms - res) - 1
        exposed = 0
        # The clock is not moved here: nothing in a quiet step reads it, and the caller sets
        # it for the step that needs the full cycle.
        while k < stop_at:
            now = first + k * step_ms
            target = now - res
            while i + 1 < n and ts[i + 1] <= target:
                i += 1
            if i < 0 or now - ts[i] - res > max_age:
                break
            close = closes[i]
            half = close * cbps // 2_000_000
            half = (half + step - 1) // step * step if half > step else step
            if close <= half:
                break
            mid = Decimal(close) * unit  # == Decimal(close).scaleb(scale), same exponent too
            if preview(symbol, mid, now):
                break  # a cross: this step runs the full cycle
            hist.append(mid)
            if holding or equity is None:
                marks[symbol] = mid
                value = None if valuate is None else valuate(marks)
                if value is not None:
                    note_equity(value)
                    cents = _cents(value)
                    if valued is None and self.initial_equity is None:
                        self.initial_equity = value
                    valued = value
                    track = True
                equity = value
                if k % equity_every == 0 and value is not None:
                    record_metrics([MetricPoint(now, EQUITY_TRY, value)])
            elif k % equity_every == 0:
                record_metrics([MetricPoint(now, EQUITY_TRY, equity)])
            if track:
                curve_append(cents)
            if holding:
                exposed += 1
            k += 1
        if valued is not None:
            self.final_equity = valued
        if not holding:
            self._flat_equity = equity  # unchanged, or the valuation made above
        self._last_cents = cents
        self.exposed_steps += exposed
        return k

    def _lasts(self) -> dict[str, Decimal]:
        return {s: t.last for s, t in self.market.ticker_table().items()}

    def summary(self) -> BacktestSummary:
        """The run's figures (from the ledger, the equity curve and the fingerprint)."""
        ledger = self.ledger
        return summarize(
            run_id=self.run_id,
            fingerprint=self.fingerprint.hexdigest(),
            curve=self.curve,
            step_ms=self.step_ms,
            initial_equity=self.initial_equity,
            final_equity=self.final_equity,
            trades=self.exchange.fill_count,
            fees_try=ledger.fees_try + ledger.tax_try,
            turnover_try=ledger.turnover_try,
            exposed_steps=self.exposed_steps,
            steps=self.steps_done,
            steps_planned=self.steps,
            full_cycles=self.full_cycles,
            bars=self.steps_done * len(self.market.series),
            elapsed_s=self.elapsed,
            interrupted=self.interrupted,
            start_ms=self.first_ms,
            end_ms=self.first_ms + max(self.steps_done - 1, 0) * self.step_ms,
        )


def parse_params(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`k=v` strings -> pairs, refusing anything without '='."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BacktestError(f"{item!r} is not NAME=VALUE")
        out.append((name.strip(), value.strip()))
    return tuple(out)


def check_decimal(text: str, what: str) -> Decimal:
    """A CLI decimal option, refusing floats' spelling problems and non-finite values."""
    try:
        return to_decimal(text, field=what)
    except MoneyError as exc:
        raise BacktestError(str(exc)) from None


def dataset_problem_error(problem: DatasetProblem) -> BacktestError:
    """A dataset problem as a backtest error (one line, file:line first)."""
    return BacktestError(f"dataset: {problem}")
