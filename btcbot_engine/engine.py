"""The Engine facade: the composition root, the run loop, commands in, snapshots out.

Clients (CLI, TUI) talk to the engine only through this class:
- `run()` blocks in the calling thread, owning its own asyncio loop, the SQLite connection and
  the instance lock (peewee connections are per thread, so the store lives in this thread).
- `submit(command)` and `kill()` are safe from any thread. `kill()` also flips the kill flag
  synchronously, so the pre-write guard sees it even mid-cycle, inside a slow HTTP call.
- After each cycle and each command the engine publishes an immutable `EngineSnapshot` through
  `on_snapshot` (called in the engine thread) and keeps it for `snapshot()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

from btcbot_engine import kill_request
from btcbot_engine.canary import ABORTED, KILL, CanaryRunner
from btcbot_engine.commands import (
    AbortCanary,
    CancelAll,
    CancelOrder,
    ClearKill,
    Command,
    Kill,
    RunDoctor,
    RunOneCycle,
    SetSafeMode,
    StartCanary,
)
from btcbot_engine.config import Settings
from btcbot_engine.cycle import PAPER_STATE_KEY, PEAK_EQUITY_KEY, CycleResult, TradingCycle
from btcbot_engine.domain.canary import CanaryPlan
from btcbot_engine.domain.snapshot import (
    DoctorCheckView,
    EngineSnapshot,
    PnlView,
    RiskView,
    StatusView,
    UniverseRow,
)
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange
from btcbot_engine.exchange.btcturk.ws import BtcturkFeed
from btcbot_engine.exchange.paper import PaperExchange
from btcbot_engine.exchange.port import ExchangePort
from btcbot_engine.guard import PreWriteGuard, SafetyFlags
from btcbot_engine.ledger import Ledger
from btcbot_engine.market import MarketData
from btcbot_engine.metrics import CounterDeltas, read_transport_counters
from btcbot_engine.metrics_http import PrometheusExporter, exporter_from_settings
from btcbot_engine.observability import log_context, new_run_id, register_secret
from btcbot_engine.oms import OrderManager
from btcbot_engine.recovery import RECOVERY_REASON, RecoveryReport, recover
from btcbot_engine.store.db import Store, open_database
from btcbot_engine.store.lock import InstanceLock
from btcbot_engine.strategies import make_strategy

log = logging.getLogger(__name__)

SnapshotListener = Callable[[EngineSnapshot], None]
CANARY_WAIT_S = 0.5  # longest wait between canary checks (kill requests, commands)


def wall_clock_ms() -> int:
    """Unix milliseconds."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How long to run: one cycle, N cycles, or until stopped."""

    loop: bool = True
    max_cycles: int | None = None
    cycle_seconds: float = 10.0
    jitter_seconds: float = 0.0
    first_cycle_now: bool = True
    until_canary_done: bool = False  # `btcbot canary`: only the canary, stop when it ends


class Engine:
    """The engine facade; see the module docstring for the threading contract."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        clock_ms: Callable[[], int] = wall_clock_ms,
        on_snapshot: SnapshotListener | None = None,
        command_name: str = "btcbot run",
        unknown_grace_ms: int | None = None,
        env_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.env_file = env_file  # where settings came from, for the doctor's permission check
        self.demo = demo
        self.clock_ms = clock_ms
        self.run_id = new_run_id()
        self.flags = SafetyFlags()
        self._on_snapshot = on_snapshot
        self._listeners: list[SnapshotListener] = []
        self._listeners_lock = threading.Lock()
        self._command_name = command_name
        self._unknown_grace_ms = unknown_grace_ms
        self._snapshot: EngineSnapshot | None = None
        self._pending: deque[Command] = deque()
        self._pending_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._messages: deque[str] = deque(maxlen=5)
        self._equity_history: deque[Decimal] = deque(maxlen=120)
        self._doctor: tuple[DoctorCheckView, ...] = ()
        self.cycles_run = 0
        self.last_result: CycleResult | None = None
        self.recovery: RecoveryReport | None = None
        self._cycle: TradingCycle | None = None
        self._live: BtcturkExchange | None = None
        self._feed: BtcturkFeed | None = None
        self._exporter: PrometheusExporter | None = None
        self._next_cycle_ms: int | None = None
        self._error: str | None = None
        self._canary: CanaryRunner | None = None  # the running or last canary
        for secret in settings.secret_values:
            register_secret(secret)

    # --- thread-safe client API -------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Queue a command; safe from any thread."""
        with self._pending_lock:
            self._pending.append(command)
        self._poke()

    def kill(self, reason: str = "operator") -> None:
        """Trip the kill switch now (synchronously), then cancel our orders in the engine."""
        self.flags.set_killed(True)
        self.submit(Kill(reason))

    def stop(self) -> None:
        """Ask the run loop to finish the current step and exit cleanly."""
        self._stop.set()
        self._poke()

    @property
    def metrics_exporter(self) -> PrometheusExporter | None:
        """The running prometheus exporter (None when not configured or not running)."""
        exporter = self._exporter
        return exporter if exporter is not None and exporter.running else None

    def snapshot(self) -> EngineSnapshot | None:
        """The latest published snapshot (immutable)."""
        return self._snapshot

    def subscribe(self, listener: SnapshotListener) -> Callable[[], None]:
        """Also call `listener(snapshot)` (in the engine thread) on every publish; safe from any
        thread. Returns a function that unsubscribes. A listener must not block."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(wake.set)

    # --- run ------------------------------------------------------------------------------

    def run(self, options: RunOptions | None = None) -> None:
        """Block: take the lock, open the store, recover, run cycles and commands until done.

        Raises InstanceLocked (another holder) or StoreError before anything else happens.
        """
        options = options or RunOptions(cycle_seconds=self.settings.cycle_seconds)
        lock = InstanceLock(
            self.settings.state_db_path, self.settings.account_key, command=self._command_name
        )
        lock.acquire()
        try:
            store = open_database(
                self.settings.state_db_path, account_key=self.settings.account_key
            )
            try:
                with log_context(run_id=self.run_id):
                    asyncio.run(self._main(store, options))
            finally:
                store.close()
        finally:
            lock.release()

    async def _main(self, store: Store, options: RunOptions) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.flags.set_killed(store.runtime.kill_switch())
        self.flags.set_safe_mode(store.runtime.safe_mode())
        cycle, closers = self._compose(store)
        self._cycle = cycle
        feed_task = None
        feed_stop = asyncio.Event()
        if self._feed is not None:
            feed_task = asyncio.create_task(self._feed.run(feed_stop))
        try:
            # Raises ExporterError (e.g. port in use) before any cycle runs.
            self._exporter = exporter_from_settings(self.settings)
            if self._exporter is not None:
                self._exporter.start()
            self.recovery = await recover(cycle)
            cycle.unreported_fills += self.recovery.new_fills
            # A canary cut short by a crash: cancel its orders, safe mode on, before anything.
            self._canary = await CanaryRunner.finish_interrupted(
                cycle,
                set_safe_mode=lambda: self._apply_safe_mode(cycle.store, True),
                publish=self._publish,
            )
            self._publish()
            try:
                await self._loop_forever(cycle, options)
            finally:
                await self._end_canary(ABORTED, "engine stopping")  # never leave its order
        finally:
            feed_stop.set()
            if feed_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(feed_task, timeout=5)
            for close in closers:
                with contextlib.suppress(Exception):
                    await close()
            if self._exporter is not None:
                self._exporter.stop()  # the port is free again when run() returns
            self._loop = None

    def _compose(self, store: Store) -> tuple[TradingCycle, list[Callable[[], object]]]:
        s = self.settings
        guard = PreWriteGuard(s, self.flags, live=not s.dry_run)
        public = BtcturkExchange(
            s.btcturk_base_url,
            s.btcturk_graph_url,
            timeout_s=s.http_timeout_seconds,
            rate_limit_share=s.rate_limit_share,
        )
        closers: list[Callable[[], object]] = [public.close]
        rest_clients = [public]
        paper: PaperExchange | None = None
        exchange: ExchangePort
        if s.dry_run:
            saved = store.runtime.get(PAPER_STATE_KEY)
            if saved:
                paper = PaperExchange.from_state(public, json.loads(saved), clock_ms=self.clock_ms)
            else:
                paper = PaperExchange(public, balances=s.paper_balance_map, clock_ms=self.clock_ms)
            exchange = paper
            private_reads = True
            self._live = public
        else:
            live = BtcturkExchange(
                s.btcturk_base_url,
                s.btcturk_graph_url,
                api_key=s.btcturk_api_key.get_secret_value() if s.btcturk_api_key else None,
                api_secret=(
                    s.btcturk_api_secret.get_secret_value() if s.btcturk_api_secret else None
                ),
                write_guard=guard,
                timeout_s=s.http_timeout_seconds,
                rate_limit_share=s.rate_limit_share,
            )
            closers.append(live.close)
            rest_clients.append(live)
            exchange = live
            private_reads = live.has_credentials
            self._live = live
        feed = None
        if s.market_data_mode == "ws" and s.universe_symbols:
            feed = BtcturkFeed(s.btcturk_ws_url, s.universe_symbols, channels=("ticker",))
            self._feed = feed
        market = MarketData(public, max_age_ms=s.max_market_data_age_ms, feed=feed)
        ledger = Ledger.replay(store.ledger.all())
        peak = store.cursors.get(PEAK_EQUITY_KEY)
        if peak:
            ledger.restore_peak(Decimal(peak))
        oms = OrderManager(store, exchange, guard, run_id=self.run_id, clock_ms=self.clock_ms)
        if self._unknown_grace_ms is not None:
            oms.unknown_grace_ms = self._unknown_grace_ms
        live_adapter = self._live
        cycle = TradingCycle(
            settings=s,
            store=store,
            exchange=exchange,
            market=market,
            oms=oms,
            guard=guard,
            ledger=ledger,
            strategy=make_strategy(s.strategy, **self._strategy_params()),
            run_id=self.run_id,
            clock_ms=self.clock_ms,
            paper=paper,
            private_reads=private_reads,
            server_offset_ms=lambda: (live_adapter.clock_offset_ms or 0) if live_adapter else 0,
        )
        cycle.counter_deltas = CounterDeltas(lambda: read_transport_counters(rest_clients, feed))
        cycle.clock_skew_ms = lambda: live_adapter.clock_offset_ms if live_adapter else None
        return cycle, closers

    def _strategy_params(self) -> dict[str, object]:
        if self.settings.strategy == "profit_aware":
            return {"min_profit_bps": self.settings.min_profit_bps}
        return {}

    async def _loop_forever(self, cycle: TradingCycle, options: RunOptions) -> None:
        assert self._wake is not None
        period_ms = int(options.cycle_seconds * 1000)
        next_at = self.clock_ms() if options.first_cycle_now else self.clock_ms() + period_ms
        failures = 0
        while not self._stop.is_set():
            await self._drain_commands(cycle)
            if self._stop.is_set():
                break
            if self._canary is not None and self._canary.active:
                await self._canary_tick()  # the normal strategy waits while a canary runs
                continue
            if options.until_canary_done:
                break
            if options.max_cycles is not None and self.cycles_run >= options.max_cycles:
                break
            now = self.clock_ms()
            if options.loop or self.cycles_run == 0:
                if now >= next_at:
                    ok = await self._run_cycle(cycle)
                    failures = 0 if ok else failures + 1
                    if not options.loop and options.max_cycles is None:
                        break
                    jitter = 0
                    if options.jitter_seconds:
                        jitter = int(random.uniform(0, options.jitter_seconds) * 1000)
                    # A failed cycle is retried with capped exponential backoff.
                    backoff = min(period_ms * (2**failures), max(period_ms, 60_000))
                    next_at = self.clock_ms() + (backoff if failures else period_ms) + jitter
                    self._next_cycle_ms = next_at
                    continue
            elif options.max_cycles is None:
                break
            self._wake.clear()
            timeout = max((next_at - self.clock_ms()) / 1000, 0.0)
            # Wake at least every ENGINE_POLL_S to notice a kill request from another process.
            timeout = min(timeout, kill_request.ENGINE_POLL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _run_cycle(self, cycle: TradingCycle) -> bool:
        """Run one cycle; False when it failed (an exception, or the exchange unreachable)."""
        self.cycles_run += 1
        cycle_id = f"{self.run_id}-{self.cycles_run:05d}"
        with log_context(run_id=self.run_id, cycle_id=cycle_id):
            try:
                result = await cycle.run(cycle_id)
            except Exception as exc:  # a bug must not take the engine down: fail closed
                log.exception("cycle %s failed", cycle_id)
                self._error = f"cycle {cycle_id} failed: {type(exc).__name__}: {exc}"[:300]
                cycle.forced_reasons["engine:cycle_failed"] = self._error
                self._publish()
                return False
        self.last_result = result
        if self._exporter is not None:
            self._exporter.observe(result.metrics)
        if RECOVERY_REASON in cycle.forced_reasons and result.reconciled:
            # A clean reconcile after a failed start-up recovery: resume, and say so.
            cycle.unreported_fills += (await recover(cycle)).new_fills
        cycle.forced_reasons.pop("engine:cycle_failed", None)
        self._error = None
        if result.pnl is not None:
            self._equity_history.append(result.pnl.equity_try)
        log.info(
            "cycle done",
            extra={
                "mode": result.mode.value,
                "risk_mode": result.risk.mode.value,
                "duration_ms": result.duration_ms,
                "submitted": result.submitted,
            },
        )
        self._publish()
        return not result.failed

    async def _drain_commands(self, cycle: TradingCycle) -> None:
        while True:
            await self._honour_kill_request(cycle)  # before each cycle and between commands
            with self._pending_lock:
                if not self._pending:
                    return
                command = self._pending.popleft()
            await self._handle(cycle, command)
            self._publish()

    async def _honour_kill_request(self, cycle: TradingCycle) -> None:
        """Run our kill path for a `<db>.kill` left by `btcbot kill`/`panic`, then consume it."""
        request = kill_request.pending_kill(self.settings.state_db_path)
        if request is None:
            return
        self.flags.set_killed(True)
        # Consumed only once the kill is persisted and our cancels were sent: a crash in
        # between leaves the request for the next start.
        await self._handle(cycle, Kill(f"request:{request.reason}"))
        kill_request.consume(self.settings.state_db_path)
        self._publish()

    async def _handle(self, cycle: TradingCycle, command: Command) -> None:
        store, oms = cycle.store, cycle.oms
        match command:
            case RunOneCycle():
                if self._canary is not None and self._canary.active:
                    self._note("cycle skipped: a canary is running")
                else:
                    await self._run_cycle(cycle)  # an operator's cycle never changes the schedule
            case SetSafeMode(on=on):
                if on:  # end the canary first: its cancel must go out before safe mode blocks it
                    await self._end_canary(ABORTED, "safe mode turned on")
                self._apply_safe_mode(store, on)
            case CancelOrder(client_id=cid):
                outcome = await oms.cancel(cid, reason="operator")
                self._note(f"cancel {cid[:10]}: {outcome.reason_code}")
            case CancelAll():
                # A running canary is one of "all": end it (its cancel, then safe mode).
                await self._end_canary(ABORTED, "operator cancelled all orders")
                outcomes = await oms.cancel_all(reason="operator")
                self._note(f"cancel all: {len(outcomes)} requested")
            case Kill(reason=reason):
                self.flags.set_killed(True)
                store.runtime.set_kill_switch(True)
                outcomes = await oms.cancel_all(reason=f"kill:{reason}")
                await oms.reconcile()
                still = [o for o in oms.open_orders() if o.state.value != "CANCELING"]
                self._note(f"KILLED: {len(outcomes)} cancels requested, {len(still)} still open")
                await self._end_canary(KILL, f"kill switch: {reason}")
            case ClearKill():
                self.flags.set_killed(False)
                store.runtime.set_kill_switch(False)
                self._note("kill cleared (env KILL_SWITCH still applies)")
            case StartCanary(plan=plan):
                await self._start_canary(cycle, plan)
            case AbortCanary(reason=reason):
                if self._canary is None or not self._canary.active:
                    self._note("abort: no canary is running")
                await self._end_canary(ABORTED, f"operator: {reason}")
            case RunDoctor():
                from btcbot_engine.doctor import run_checks

                # In this thread: the engine's own store and adapter; the lock is ours.
                report = await run_checks(
                    self.settings,
                    store=store,
                    exchange=self._live,
                    lock_held_by_us=True,
                    clock_ms=self.clock_ms,
                    env_file=self.env_file,
                )
                self._doctor = report.checks
                counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
                self._note(f"doctor: {report.worst} ({counts})")

    def _note(self, text: str) -> None:
        self._messages.append(text)
        log.info(text)

    def _apply_safe_mode(self, store: Store, on: bool) -> None:
        """SetSafeMode's path (also the canary's last step): the flag now, persisted."""
        self.flags.set_safe_mode(on)
        store.runtime.set_safe_mode(on)
        self._note(f"safe mode {'on' if on else 'off'}")

    # --- canary (btcbot_engine/canary.py does the work) ---------------------------------------

    async def _start_canary(self, cycle: TradingCycle, plan: CanaryPlan) -> None:
        if self._canary is not None and self._canary.active:
            self._note("canary refused: one is already running")
            return
        runner = CanaryRunner(
            plan,
            base=cycle,
            set_safe_mode=lambda: self._apply_safe_mode(cycle.store, True),
            publish=self._publish,
        )
        self._canary = runner
        await runner.start()
        view = runner.view
        self._note(f"canary {view.state}" + (f": {view.stop_reason}" if view.stop_reason else ""))

    async def _end_canary(self, code: str, detail: str) -> None:
        """Stop a running canary (its cancels, then safe mode, then the verified summary)."""
        if self._canary is not None and self._canary.active:
            await self._canary.stop(code, detail)
            self._note(f"canary stopped: {code}")

    async def _canary_tick(self) -> None:
        """Run the canary's next step when due, else wait for it (or for a command)."""
        runner, wake = self._canary, self._wake
        assert runner is not None and wake is not None
        wait_ms = runner.due_in_ms()
        if wait_ms <= 0:
            result = await runner.step()
            if result is not None:
                self.last_result = result  # the dashboard keeps moving during the canary
            self._publish()
            return
        wake.clear()
        with self._pending_lock:
            if self._pending:
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=min(wait_ms / 1000, CANARY_WAIT_S))

    # --- snapshots ------------------------------------------------------------------------

    def _publish(self) -> None:
        cycle = self._cycle
        if cycle is None:
            return
        snap = self._build_snapshot(cycle)
        self._snapshot = snap
        with self._listeners_lock:
            listeners = list(self._listeners)
        if self._on_snapshot is not None:
            listeners.insert(0, self._on_snapshot)
        for listener in listeners:
            try:
                listener(snap)
            except Exception:  # a UI problem must never stop trading safety work
                log.exception("snapshot listener failed")

    def _build_snapshot(self, cycle: TradingCycle) -> EngineSnapshot:
        res = self.last_result
        now = self.clock_ms()
        store = cycle.store
        universe: list[UniverseRow] = []
        if res is not None:
            for entry in res.universe:
                q = res.quotes.get(entry.symbol)
                universe.append(
                    UniverseRow(
                        symbol=entry.symbol,
                        included=entry.included,
                        reason=entry.reason,
                        bid=q.bid if q else None,
                        ask=q.ask if q else None,
                        spread_bps=entry.spread_bps,
                        age_ms=q.age_ms if q else None,
                        quote_status=q.status.value if q else "missing",
                    )
                )
        pnl = PnlView()
        risk = RiskView(mode="OBSERVE_ONLY", reasons=("engine:starting",))
        if res is not None and res.pnl is not None:
            p = res.pnl
            pnl = PnlView(
                realized=p.realized_try,
                unrealized=p.unrealized_try,
                fees=p.fees_try,
                tax=p.tax_try,
                equity=p.equity_try,
                peak_equity=p.peak_equity_try,
                drawdown_pct=p.drawdown_pct,
                loss_today=res.loss_today,
                daily_loss_budget=self.settings.max_daily_loss_try,
                equity_history=tuple(self._equity_history),
            )
        if res is not None:
            risk = RiskView(res.risk.mode.value, res.risk.reasons, res.risk.details)
        elif cycle.forced_reasons:
            risk = RiskView("OBSERVE_ONLY", tuple(cycle.forced_reasons))
        recent_fills = tuple(store.fills.recent(200))
        live = self._live
        budget = max(live.budget_used().values(), default=0.0) if live else 0.0
        feed_state = "off"
        if self._feed is not None:
            st = self._feed.status
            feed_state = "connected" if st.connected else f"down ({st.reconnects} reconnects)"
        status = StatusView(
            cycle_count=self.cycles_run,
            last_cycle_ms=res.finished_ms if res else None,
            last_cycle_duration_ms=res.duration_ms if res else None,
            next_cycle_ms=self._next_cycle_ms,
            rate_budget_used=Decimal(str(round(budget, 4))),
            ws_state=feed_state,
            clock_skew_ms=live.clock_offset_ms if live else None,
            last_error=self._error or (res.errors[0] if res and res.errors else None),
        )
        return EngineSnapshot(
            ts_ms=now,
            run_id=self.run_id,
            gates=cycle.guard.decision(),
            exchange_host=urlparse(self.settings.btcturk_base_url).netloc,
            key_hint=self.settings.key_hint,
            demo=self.demo,
            risk=risk,
            universe=tuple(universe),
            open_orders=tuple(cycle.oms.open_orders()),
            recent_fills=recent_fills,
            pnl=pnl,
            decisions=tuple(store.decisions.recent(limit=50)),
            doctor=self._doctor,
            status=status,
            max_data_age_ms=self.settings.max_market_data_age_ms,
            engine_error=self._error,
            messages=tuple(self._messages),
            canary=self._canary.view if self._canary is not None else None,
        )

    def with_doctor(self, checks: tuple[DoctorCheckView, ...]) -> None:
        """Attach doctor results to the next snapshots."""
        self._doctor = checks
        if self._snapshot is not None:
            self._snapshot = replace(self._snapshot, doctor=checks)
