"""Crash drill: SIGKILL `btcbot run --loop` (LIVE, simulator) over and over, then audit.

Each round starts the real CLI in a subprocess (through drills_crash_hook.py, which adds kill
points) and kills it with SIGKILL at a seeded choice of moments:

- `random`: after a random delay (start-up, recovery, mid-cycle, between cycles);
- `before_send`: an order row committed as SUBMITTING, not one byte sent;
- `in_flight`: the submit's HTTP request held on the server before it books the order (the
  simulator books it after the client died);
- `booked_no_reply`: the order booked, its HTTP reply held back;
- `mid_txn`: inside a SQLite transaction, after its writes and before COMMIT;
- `write_ahead`: the same, inside the transaction that persists a new order before its submit.

A point not reached in time (no order wanted, a pair still blocked) falls back to a kill at
that moment and counts as `random`. A last clean run reconciles what the kills left behind;
then: no client id twice on the exchange, every exchange order known to the database in its
exchange state, every exchange fill booked exactly once and the ledger's cash equal to the
exchange's balances, no half-written cycle, the lock recoverable, integrity_check ok.
"""

from __future__ import annotations

import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pytest
from drills_testkit import (
    TRY_PAIRS,
    environment_without_settings,
    record_figure,
)

from btcbot_engine.domain.orders import OrderState
from btcbot_engine.exchange.simulator.harness import SimulatorHandle, running_simulator
from btcbot_engine.ledger import Ledger
from btcbot_engine.store.db import open_database
from btcbot_engine.store.lock import InstanceLock

HOOK = Path(__file__).with_name("drills_crash_hook.py")
KILLS = 32
SEED = 20261121
KINDS = ("random", "before_send", "in_flight", "booked_no_reply", "mid_txn", "write_ahead")
WEIGHTS = (3, 2, 2, 2, 3, 1)
# How long a round waits for its kill point before killing anyway (start-up, recovery and TTL
# cancels come first, and the slow-reply rounds slow the cancels too).
POINT_TIMEOUT_S = 8.0
SUBMIT_DELAY_S = 0.5  # in_flight rounds: the request waits this long before booking
SLOW_ACK_S = 1.5  # booked_no_reply rounds: the reply waits this long after booking
UNKNOWN_GRACE_MS = 2_000  # above SUBMIT_DELAY_S: a restart takes longer than the delay
_STATUS = {"Canceled": OrderState.CANCELED, "Closed": OrderState.FILLED}


class _Bot:
    """One `btcbot run --loop` subprocess and a thread reading its stdout lines."""

    def __init__(self, env: dict[str, str], cwd: Path, stderr: IO[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HOOK), "run", "--loop", "--cycle-seconds", "0.05"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.tail: deque[str] = deque(maxlen=20)  # the last stdout lines, for failure messages
        self.cycles = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.tail.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next stdout line, or None at the deadline or when the process ended."""
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is not None and line.startswith("cycle "):
            self.cycles += 1
        return line

    def await_point(self, prefix: str, timeout_s: float) -> str | None:
        """Read until a line starts with `prefix` (returned) or the timeout/exit (None)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.next_line(deadline)
            if line is None:
                return None
            if line.startswith(prefix):
                return line
        return None

    def read_for(self, seconds: float) -> None:
        """Keep reading (and counting cycles) for `seconds`, or until the process ends."""
        deadline = time.monotonic() + seconds
        while self.next_line(deadline) is not None:
            pass

    def sigkill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def _poll(check: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return False


def _aim(kind: str, bot: _Bot, sim: SimulatorHandle, rng: random.Random) -> str:
    """Wait for this round's kill point; return the point actually hit."""
    if kind == "random":
        bot.read_for(rng.uniform(0.3, 3.0))
        return "random"
    line = bot.await_point("DRILL-POINT ", POINT_TIMEOUT_S)
    if line is None:
        return "random"
    detail = line.split()[-1]
    if kind == "before_send":
        return kind
    if kind in ("mid_txn", "write_ahead"):
        return f"{kind}:{detail}"  # the function whose transaction was cut
    client_id = detail

    def booked() -> bool:
        return any(o["orderClientId"] == client_id for o in sim.control.orders())

    def on_server() -> bool:
        return sim.control.in_flight("POST", "/api/v1/order") > 0

    if kind == "in_flight":
        hit = _poll(on_server, 2.0) and not booked()
        return "in_flight" if hit else "random"
    hit = _poll(lambda: booked() and on_server(), 2.0)
    return "booked_no_reply" if hit else "random"


def _move_market(sim: SimulatorHandle, rng: random.Random) -> None:
    """Push one or two pairs 0.3-1.5 % up or down on the next tick: fills for our orders."""
    for symbol in rng.sample(TRY_PAIRS.split(","), rng.randint(1, 2)):
        factor = Decimal(1) + Decimal(rng.choice((-1, 1))) * Decimal(rng.randint(3, 15)) / 1000
        sim.control.set_mid_price(symbol, sim.control.mid_price(symbol) * factor)


def _round_env(base: dict[str, str], kind: str, rng: random.Random) -> dict[str, str]:
    env = dict(base)
    if kind == "before_send":
        env["DRILL_KILL_POINT"] = "before_send"
        env["DRILL_KILL_AT"] = str(rng.randint(1, 2))
    elif kind in ("in_flight", "booked_no_reply"):
        env["DRILL_KILL_POINT"] = "in_flight"
        env["DRILL_KILL_AT"] = "1"  # the round's first submit: the server faults are set for it
    elif kind == "mid_txn":
        env["DRILL_KILL_POINT"] = "mid_txn"
        env["DRILL_KILL_AT"] = str(rng.randint(1, 40))
    elif kind == "write_ahead":  # inside the transaction that persists an order before sending
        env.update(DRILL_KILL_POINT="mid_txn", DRILL_KILL_TXN="place")
        env["DRILL_KILL_AT"] = str(rng.randint(1, 2))
    return env


def _round_faults(sim: SimulatorHandle, kind: str) -> None:
    sim.control.set_faults(
        submit_delay_s=SUBMIT_DELAY_S if kind == "in_flight" else 0.0,
        slow_reply_s=SLOW_ACK_S if kind == "booked_no_reply" else 0.0,
        slow_reply_path="/api/v1/order",
    )


def _base_env(sim: SimulatorHandle, db: Path) -> dict[str, str]:
    env = environment_without_settings()
    env.update(
        BTCTURK_BASE_URL=sim.base_url,
        BTCTURK_GRAPH_URL=sim.graph_url,
        BTCTURK_WS_URL=sim.ws_url,
        BTCTURK_API_KEY=sim.api_key,
        BTCTURK_API_SECRET=sim.api_secret,
        BTCTURK_API_SCOPES="read,trade",
        STATE_DB_PATH=str(db),
        SAFE_MODE="false",
        KILL_SWITCH="false",
        DRY_RUN="false",
        LIVE_TRADING="true",
        LIVE_TRADING_ACK="I_UNDERSTAND",
        UNIVERSE_SYMBOLS=TRY_PAIRS,
        MAX_ORDERS_PER_CYCLE="5",
        COOLDOWN_SECONDS="0",
        TTL_SECONDS="2",
        HTTP_TIMEOUT_SECONDS="3",
        LOG_LEVEL="WARNING",
        DRILL_UNKNOWN_GRACE_MS=str(UNKNOWN_GRACE_MS),
        DRILL_LIFT_READ_QUOTAS="1",
    )
    return env


def _unsettled(db: Path) -> int:
    """Orders whose existence on the exchange is not settled yet (read-only peek)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            "SELECT count(*) FROM orders WHERE state IN ('NEW', 'SUBMITTING', 'UNKNOWN')"
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])


@pytest.mark.slow
def test_sigkill_at_seeded_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    db = tmp_path / "state.db"
    hits: Counter[str] = Counter()  # kill point -> kills
    cut: Counter[str] = Counter()  # mid_txn kills: whose transaction was cut
    aimed: Counter[str] = Counter()  # kill point -> rounds that aimed at it
    stderr = (tmp_path / "bot.stderr").open("w")
    started = time.monotonic()
    with running_simulator(seed=5, tick_interval_s=0.05) as sim:
        base = _base_env(sim, db)
        while sum(hits.values()) < KILLS:
            kind = rng.choices(KINDS, WEIGHTS)[0]
            aimed[kind] += 1
            _round_faults(sim, kind)
            _move_market(sim, rng)
            bot = _Bot(_round_env(base, kind, rng), tmp_path, stderr)
            try:
                hit = _aim(kind, bot, sim, rng)
            finally:
                bot.sigkill()
            assert bot.proc.returncode == -signal.SIGKILL, "the bot died before the kill"
            point, _, function = hit.partition(":")
            hits[point] += 1
            if function:
                cut[function] += 1

        # The lock of a SIGKILLed holder is free at once (the kernel dropped its flock).
        lock = InstanceLock(db, command="crash drill")
        lock.acquire()
        lock.release()

        # A clean run settles what the kills left (UNKNOWN orders, pending cancels), then stops.
        # The market is frozen and the TTL long, so nothing fills or is cancelled on the
        # exchange after the run's last reconcile: the audit compares two settled states.
        _round_faults(sim, "random")
        sim.control.set_faults(freeze_market=True)
        bot = _Bot(base | {"TTL_SECONDS": "3600"}, tmp_path, stderr)
        try:
            assert bot.await_point("cycle ", 20) is not None, "the final run never cycled"
            settled = _poll(lambda: _unsettled(db) == 0, 20)
            bot.read_for(1.0)  # a few more cycles after settling
            bot.proc.send_signal(signal.SIGTERM)
            code = bot.proc.wait(timeout=20)
            stderr.flush()
            tail = (tmp_path / "bot.stderr").read_text()[-2000:]
            out = "\n".join(bot.tail)
            assert code == 0, f"the final run ended with {code}:\n{out}\n{tail}"
        finally:
            if bot.proc.poll() is None:
                bot.sigkill()
        assert settled, "UNKNOWN/SUBMITTING orders left after the clean run"
        orders = sim.control.orders()
        trades = sim.control.trades()
        balances = sim.control.balances()
    elapsed = time.monotonic() - started
    kills = sum(hits.values())
    assert kills >= 30
    between = hits["before_send"] + hits["in_flight"] + hits["booked_no_reply"]
    assert between >= 5, f"too few kills between 'order persisted' and 'HTTP reply': {hits}"
    assert hits["mid_txn"] + hits["write_ahead"] >= 5, f"too few mid-transaction kills: {hits}"

    # No duplicate: one exchange order per client id, and never two open per pair.
    client_ids = Counter(str(o["orderClientId"]) for o in orders)
    assert orders and max(client_ids.values()) == 1, "a client id reached the exchange twice"
    open_per_pair = Counter(
        o["pairSymbol"] for o in orders if o["status"] in ("Untouched", "Partial")
    )
    assert max(open_per_pair.values(), default=0) <= 1, open_per_pair

    store = open_database(db, account_key=None)
    try:
        assert store.integrity_check() == ["ok"]
        ours = {o.client_id: o for o in store.orders.list_all()}
        fills = Counter(f.trade_id for f in store.fills.all())
        ledger_refs = Counter(e.ref for e in store.ledger.all() if e.kind.value == "FILL")
        ledger = Ledger.replay(store.ledger.all())
        cycles = store.cycles.recent(limit=100_000)
        half_written = []
        for c in cycles:
            stored = len(store.decisions.recent(limit=100_000, cycle_id=c.cycle_id))
            if c.finished_ms is None:
                half_written.append((c.cycle_id, "unfinished"))
            elif c.outcome == "abandoned" and stored:
                half_written.append((c.cycle_id, f"abandoned with {stored} decisions"))
            elif c.outcome != "abandoned" and stored != c.summary.get("decisions"):
                half_written.append((c.cycle_id, f"{stored} of {c.summary.get('decisions')}"))
    finally:
        store.close()

    # Every exchange order is ours, known by its exchange id, in the exchange's state.
    for o in orders:
        record = ours[str(o["orderClientId"])]
        assert record.exchange_order_id == o["id"], (o, record)
        status = str(o["status"])
        if status in _STATUS:
            assert record.state is _STATUS[status], (o, record.state)
        else:
            assert record.state in (OrderState.OPEN, OrderState.PARTIAL, OrderState.CANCELING)
    # Every exchange fill booked exactly once, and the books equal the exchange to the digit.
    assert trades, "the market crossed our orders at least once"
    assert set(fills) == {int(t["id"]) for t in trades}
    assert max(fills.values()) == 1 and max(ledger_refs.values()) == 1
    books = {a: v for a, v in ledger.balances().items() if v}
    exchange = {a: v["total"] for a, v in balances.items() if v["total"]}
    assert books == exchange, "ledger cash differs from the exchange balances"
    assert half_written == [], half_written[:5]
    abandoned = sum(1 for c in cycles if c.outcome == "abandoned")

    summary = ", ".join(f"{k} {hits[k]}/{aimed[k]}" for k in KINDS)
    cuts = ", ".join(f"{k} {v}" for k, v in sorted(cut.items()))
    line = (
        f"{kills} SIGKILLs survived in {elapsed:.0f} s (landed/aimed: {summary}; "
        f"transactions cut: {cuts}); "
        f"{len(orders)} orders, {len(trades)} fills, {len(cycles)} cycles "
        f"({abandoned} abandoned by a kill)"
    )
    print(line)
    record_figure("crash drill", line)
