"""`btcbot doctor`: a preflight of settings, files, database, lock, exchange, orders and SLOs.

`run_checks()` returns a `DoctorReport`: one PASS / WARN / FAIL per check, each non-PASS with a
remedy line; exit code 0 (all PASS), 1 (worst WARN), 2 (any FAIL). The CLI calls `run_doctor()`;
the engine runs `run_checks()` in its own thread with its own open Store and exchange adapter,
and the TUI shows the result from the snapshot.

Nothing here writes: the database is opened read-only (never created or migrated), the lock is
probed without being taken, and the exchange is only read. The network part is bounded by
`EXCHANGE_BUDGET_TIMEOUTS` x HTTP_TIMEOUT_SECONDS in total; when the exchange cannot be reached
its checks FAIL and every other check still runs. Secrets never appear in a result.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from btcbot_engine import doctor_checks as dc
from btcbot_engine import metrics as m
from btcbot_engine.config import Settings
from btcbot_engine.domain.snapshot import DoctorCheckView
from btcbot_engine.exchange.btcturk.rest import BtcturkExchange, HealthCheck, HealthReport
from btcbot_engine.exchange.port import ExchangeError
from btcbot_engine.gates import GateDecision, evaluate_gates, gate_inputs
from btcbot_engine.store.db import Store

PASS, WARN, FAIL = dc.PASS, dc.WARN, dc.FAIL
log = logging.getLogger(__name__)

# --- thresholds (documented defaults; change them here) ---------------------------------------

#: The whole exchange probe may take at most this many HTTP_TIMEOUT_SECONDS.
EXCHANGE_BUDGET_TIMEOUTS = 4
#: WARN this many days before BTCTURK_SECRET_MAX_AGE_DAYS is reached.
SECRET_AGE_WARN_DAYS_BEFORE = 14
#: The SLO figures cover the metrics of (about) the last this many cycles.
SLO_WINDOW_CYCLES = 100
#: With fewer submit attempts than this in the window, reject and fill rates are not judged.
SLO_MIN_SUBMITS = 10
#: Rejected / (acknowledged + rejected) submits: WARN above, FAIL above.
REJECT_RATE_WARN = Decimal("0.05")
REJECT_RATE_FAIL = Decimal("0.20")
#: Fills ingested per acknowledged order (capped at 1): WARN below (orders rest unfilled).
FILL_RATE_WARN_BELOW = Decimal("0.05")
#: p95 of order_submit_latency_ms: WARN above, FAIL above.
SUBMIT_P95_WARN_MS = Decimal(1000)
SUBMIT_P95_FAIL_MS = Decimal(3000)
#: Max drawdown_pct in the window: WARN at this share of MAX_DRAWDOWN_PCT, FAIL at all of it.
DRAWDOWN_WARN_SHARE = Decimal("0.5")

_NETWORK_CHECKS = ("exchange", "clock_skew", "api_keys", "exchange_rules", "min_notional")
_STATUS = {"OK": PASS, "WARN": WARN, "FAIL": FAIL}
_EXIT_CODES = {PASS: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class DoctorReport:
    """The doctor's verdict: every check in a stable order."""

    checks: tuple[DoctorCheckView, ...]

    @property
    def worst(self) -> str:
        """The most severe status of any check: PASS, WARN or FAIL."""
        return max((c.status for c in self.checks), key=dc.SEVERITY.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        """0 all PASS, 1 worst is WARN, 2 any FAIL."""
        return _EXIT_CODES[self.worst]

    def counts(self) -> dict[str, int]:
        """How many checks have each status."""
        return {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, WARN, FAIL)}

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `btcbot doctor --json`."""
        return {
            "status": self.worst,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, "remedy": c.remedy}
                for c in self.checks
            ],
        }


def config_error_report(message: str, *, env_file: Path | None = None) -> DoctorReport:
    """The report when the settings cannot even be loaded (exit code 2)."""
    return DoctorReport(
        (
            dc.check(
                "settings",
                FAIL,
                message,
                f"fix the named setting in {env_file or '.env'} or the environment",
            ),
            dc.env_file_check(env_file),
        )
    )


def run_doctor(settings: Settings, **kwargs: Any) -> DoctorReport:
    """`run_checks` for a synchronous caller (the CLI)."""
    return asyncio.run(run_checks(settings, **kwargs))


async def run_checks(
    settings: Settings,
    *,
    db_path: Path | None = None,
    dataset: Path | None = None,
    env_file: Path | None = None,
    store: Store | None = None,
    exchange: BtcturkExchange | None = None,
    lock_held_by_us: bool = False,
    clock_ms: Callable[[], int] | None = None,
) -> DoctorReport:
    """Run every check and return the report; never raises for a finding.

    `store` (an open Store, e.g. the engine's) is used instead of opening the database;
    `exchange` is reused (not closed) instead of making a read-only client. `lock_held_by_us`
    says the caller holds the instance lock (the engine).
    """
    now_ms = clock_ms() if clock_ms is not None else time.time_ns() // 1_000_000
    path = store.path if store is not None else Path(db_path or settings.state_db_path)
    if path != settings.state_db_path:
        settings = settings.model_copy(update={"state_db_path": path})
    checks = _safely("settings", lambda: dc.settings_check(settings))
    own_store: Store | None = None
    try:
        if store is None:
            db_checks, own_store = dc.open_database_readonly(path)
        else:
            db_checks = [dc.check("db_file", PASS, f"{path} open in this engine")]
        active = store or own_store
        if active is not None:
            db_checks += _safely("db_integrity", lambda: dc.store_checks(active))
            db_checks += _safely("db_account", lambda: dc.account_check(active, settings))
        checks += _safely("gates", lambda: dc.gates_check(_gates(settings, active)))
        checks += _safely("env_file", lambda: dc.env_file_check(env_file))
        checks += _safely("db_path", lambda: dc.db_path_check(path))
        checks += db_checks
        if path.exists():
            checks += _safely("db_mode", lambda: dc.db_mode_check(path))
        checks += _safely("lock", lambda: dc.lock_check(path, held_by_us=lock_held_by_us))
        checks += await _exchange_checks(settings, exchange, now_ms)
        checks += _records_checks(settings, active, path, now_ms)
    finally:
        if own_store is not None:
            own_store.close()
    if dataset is not None:
        checks += _safely("dataset", lambda: dc.dataset_check(Path(dataset)))
    return DoctorReport(tuple(_scrub(c, settings.secret_values) for c in checks))


def _records_checks(
    settings: Settings, store: Store | None, path: Path, now_ms: int
) -> list[DoctorCheckView]:
    """UNKNOWN orders and SLO figures from the database's records."""
    if store is not None:
        max_age_s = settings.unknown_order_max_age_seconds
        return _safely(
            "unknown_orders",
            lambda: dc.unknown_orders_check(store, now_ms=now_ms, max_age_s=max_age_s),
        ) + _safely("slo", lambda: slo_checks(store, settings))
    if not path.exists():
        return [dc.check("unknown_orders", PASS, "no database yet")] + [
            dc.check(name, PASS, "no data yet") for name in _SLO_NAMES
        ]
    unread, first = "not checked: the database cannot be read", "fix the db_file finding first"
    return [dc.check("unknown_orders", WARN, unread, first), dc.check("slo", WARN, unread, first)]


def _safely(
    name: str, run: Callable[[], DoctorCheckView | list[DoctorCheckView]]
) -> list[DoctorCheckView]:
    """Run one check; if it crashes, a FAIL row says so and the other checks still run."""
    try:
        result = run()
    except Exception as exc:  # the doctor must answer during an incident, bug or not
        log.exception("doctor check %s failed", name)
        return [
            dc.check(
                name,
                FAIL,
                f"the check itself failed: {type(exc).__name__}: {exc}",
                "report this; the other checks still ran",
            )
        ]
    return result if isinstance(result, list) else [result]


def _gates(settings: Settings, store: Store | None) -> GateDecision:
    if store is None:
        from btcbot_engine.runtime_state import effective_gates

        return effective_gates(settings)
    try:
        kill, safe = store.runtime.kill_switch(), store.runtime.safe_mode()
    except dc.DB_ERRORS:
        kill = safe = True  # unreadable runtime state: fail closed, as runtime_state does
    return evaluate_gates(gate_inputs(settings, persisted_kill=kill, persisted_safe_mode=safe))


def _scrub(view: DoctorCheckView, secrets: tuple[str, ...]) -> DoctorCheckView:
    detail, remedy = view.detail, view.remedy
    for secret in secrets:
        detail, remedy = detail.replace(secret, "***"), remedy.replace(secret, "***")
    return DoctorCheckView(view.name, view.status, detail, remedy)


# --- exchange ---------------------------------------------------------------------------------


def _client(settings: Settings, *, with_keys: bool) -> BtcturkExchange:
    """A read-only client (no write guard: it refuses every write) with few, short retries."""
    keys: dict[str, str] = {}
    if with_keys and settings.btcturk_api_key and settings.btcturk_api_secret:
        keys = {
            "api_key": settings.btcturk_api_key.get_secret_value(),
            "api_secret": settings.btcturk_api_secret.get_secret_value(),
        }
    return BtcturkExchange(
        settings.btcturk_base_url,
        settings.btcturk_graph_url,
        timeout_s=settings.http_timeout_seconds,
        rate_limit_share=settings.rate_limit_share,
        max_total_retry_wait_s=settings.http_timeout_seconds,
        max_retries=1,
        **keys,
    )


async def _exchange_checks(
    settings: Settings, exchange: BtcturkExchange | None, now_ms: int
) -> list[DoctorCheckView]:
    results: dict[str, DoctorCheckView] = {}
    client = exchange or _client(settings, with_keys=settings.has_api_keys)
    budget = settings.http_timeout_seconds * EXCHANGE_BUDGET_TIMEOUTS
    missing = "not checked"
    try:
        async with asyncio.timeout(budget):
            await _probe(settings, client, results)
    except TimeoutError:
        missing = (
            f"no answer within {budget:g} s ({EXCHANGE_BUDGET_TIMEOUTS} x HTTP_TIMEOUT_SECONDS)"
        )
    except Exception as exc:  # health() never raises; anything else is a bug, reported as FAIL
        log.exception("doctor exchange probe failed")
        missing = f"the probe itself failed: {type(exc).__name__}: {exc}"
    finally:
        if exchange is None:
            await client.close()
    remedy = f"check the network and BTCTURK_BASE_URL ({settings.btcturk_base_url})"
    out = [results.get(name) or dc.check(name, FAIL, missing, remedy) for name in _NETWORK_CHECKS]
    today = date.fromtimestamp(now_ms / 1000)
    local = [
        dc.scopes_check(settings),
        dc.secret_age_check(settings, today=today, warn_days_before=SECRET_AGE_WARN_DAYS_BEFORE),
    ]
    return out[:3] + local + out[3:]


async def _probe(
    settings: Settings, client: BtcturkExchange, results: dict[str, DoctorCheckView]
) -> None:
    """Fill `results` as answers arrive, so a timeout keeps what was already learned."""
    report: HealthReport = await client.health()
    by_name = {c.name: c for c in report.checks}
    reach = by_name["reachable"]
    results["exchange"] = dc.check(
        "exchange",
        _STATUS[reach.status],
        reach.detail,
        f"check the network and BTCTURK_BASE_URL ({settings.btcturk_base_url}); "
        "`btcbot health` shows the same probe",
    )
    if not report.reachable:
        if not settings.has_api_keys:
            results["api_keys"] = await _keys_check(settings, client, None)
        for name in _NETWORK_CHECKS[1:]:
            if name in results:
                continue
            results[name] = dc.check(
                name, FAIL, "not checked: exchange unreachable", "fix the exchange check first"
            )
        return
    skew = by_name.get("clock_skew")
    if skew is not None:
        results["clock_skew"] = dc.check(
            "clock_skew",
            _STATUS[skew.status],
            skew.detail,
            "sync the host clock (e.g. `timedatectl set-ntp true`, `chronyc makestep`)",
        )
    results["api_keys"] = await _keys_check(settings, client, by_name.get("auth"))
    try:
        rules = await client.exchange_info()  # cached by health()
    except ExchangeError as exc:
        for name in ("exchange_rules", "min_notional"):
            results[name] = dc.check(name, FAIL, f"exchangeinfo: {exc}", "retry later")
        return
    results["exchange_rules"] = dc.rules_check(settings, rules)
    try_per_usdt: Decimal | None = None
    candidates = dc.universe_candidates(settings, rules)
    if any(rules[s].quote.upper() == "USDT" for s in candidates if s in rules):
        try:
            tickers = await client.tickers(["USDTTRY"])
            try_per_usdt = tickers[0].mid if tickers and tickers[0].mid > 0 else None
        except ExchangeError:
            try_per_usdt = None
    results["min_notional"] = dc.min_notional_check(settings, rules, try_per_usdt)


async def _keys_check(
    settings: Settings, client: BtcturkExchange, auth: HealthCheck | None
) -> DoctorCheckView:
    """A signed read (balances) proves the key pair; no keys is fine unless live is configured."""
    if not settings.has_api_keys:
        if dc.live_intended(settings):
            return dc.check(
                "api_keys",
                FAIL,
                "no keys, but live trading is configured",
                "set BTCTURK_API_KEY and BTCTURK_API_SECRET",
            )
        return dc.check("api_keys", PASS, "no keys: PAPER/observe only")
    remedy = (
        "check BTCTURK_API_KEY and BTCTURK_API_SECRET (a rotated key?) and the key's IP allow-list"
    )
    if client.has_credentials and auth is not None:
        return dc.check("api_keys", _STATUS[auth.status], auth.detail, remedy)
    keyed = _client(settings, with_keys=True)  # the engine's paper adapter holds no keys
    try:
        if not keyed.has_credentials:
            return dc.check(
                "api_keys",
                FAIL,
                "BTCTURK_API_SECRET is not valid base64 text",
                "copy the secret again from BTCTurk's API access page",
            )
        balances = await keyed.balances()
        return dc.check("api_keys", PASS, f"signed call accepted ({len(balances)} assets)")
    except ExchangeError as exc:
        return dc.check("api_keys", FAIL, str(exc), remedy)
    finally:
        await keyed.close()


# --- SLO figures from recent metrics ----------------------------------------------------------

_SLO_NAMES = ("slo_reject_rate", "slo_fill_rate", "slo_submit_latency", "slo_drawdown")


def slo_checks(store: Store, settings: Settings) -> list[DoctorCheckView]:
    """Reject rate, fill rate, submit latency p95 and max drawdown over the recent cycles."""
    try:
        recent = store.cycles.recent(SLO_WINDOW_CYCLES)
        since = min((c.started_ms for c in recent), default=None)

        def values(name: str, limit: int = SLO_WINDOW_CYCLES) -> list[Decimal]:
            points = store.metrics.recent(name, limit)
            return [p.value for p in points if since is None or p.ts_ms >= since]

        submitted, rejected = values(m.ORDERS_SUBMITTED), values(m.ORDERS_REJECTED)
        fills = values(m.FILLS)
        latencies = values(m.ORDER_SUBMIT_LATENCY_MS, SLO_WINDOW_CYCLES * 20)
        drawdowns = values(m.DRAWDOWN_PCT)
    except dc.DB_ERRORS as exc:
        detail = f"metrics unreadable: {dc.db_problem(store, exc)}"
        return [dc.check("slo", WARN, detail, "fix the db_integrity finding first")]
    return [
        _reject_rate(sum(submitted, Decimal(0)), rejected),
        _fill_rate(sum(submitted, Decimal(0)), fills),
        _latency(latencies),
        _drawdown(drawdowns, settings.max_drawdown_pct),
    ]


def _rate(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole).quantize(Decimal("0.001"))


def _reject_rate(acked: Decimal, rejected: list[Decimal]) -> DoctorCheckView:
    name = "slo_reject_rate"
    if not rejected:
        return dc.check(name, PASS, "no data yet")
    n_rejected = sum(rejected, Decimal(0))
    attempts = acked + n_rejected
    if attempts < SLO_MIN_SUBMITS:
        return dc.check(name, PASS, f"{attempts} submit attempts: too few to judge")
    rate = _rate(n_rejected, attempts)
    detail = f"reject rate {rate} ({n_rejected} of {attempts} submits)"
    remedy = "read the rejections' reasons (decisions oms:rejected:*): rules, balance, price band"
    if rate > REJECT_RATE_FAIL:
        return dc.check(name, FAIL, f"{detail} > {REJECT_RATE_FAIL}", remedy)
    if rate > REJECT_RATE_WARN:
        return dc.check(name, WARN, f"{detail} > {REJECT_RATE_WARN}", remedy)
    return dc.check(name, PASS, detail)


def _fill_rate(acked: Decimal, fills: list[Decimal]) -> DoctorCheckView:
    name = "slo_fill_rate"
    if not fills:
        return dc.check(name, PASS, "no data yet")
    if acked < SLO_MIN_SUBMITS:
        return dc.check(name, PASS, f"{acked} orders: too few to judge")
    n_fills = sum(fills, Decimal(0))
    rate = min(_rate(n_fills, acked), Decimal(1))
    detail = f"fill rate {rate} ({n_fills} fills for {acked} orders)"
    if rate < FILL_RATE_WARN_BELOW:
        return dc.check(
            name,
            WARN,
            f"{detail} < {FILL_RATE_WARN_BELOW}",
            "orders rest far from the market: check MIN_PROFIT_BPS, TTL_SECONDS, the strategy",
        )
    return dc.check(name, PASS, detail)


def _latency(latencies: list[Decimal]) -> DoctorCheckView:
    name = "slo_submit_latency"
    if not latencies:
        return dc.check(name, PASS, "no data yet")
    ordered = sorted(latencies)
    p95 = ordered[max(math.ceil(len(ordered) * 0.95) - 1, 0)]
    detail = f"submit latency p95 {p95} ms over {len(ordered)} submits"
    remedy = "check the network path to the exchange and `btcbot health` round-trip times"
    if p95 > SUBMIT_P95_FAIL_MS:
        return dc.check(name, FAIL, f"{detail} > {SUBMIT_P95_FAIL_MS} ms", remedy)
    if p95 > SUBMIT_P95_WARN_MS:
        return dc.check(name, WARN, f"{detail} > {SUBMIT_P95_WARN_MS} ms", remedy)
    return dc.check(name, PASS, detail)


def _drawdown(drawdowns: list[Decimal], limit: Decimal) -> DoctorCheckView:
    name = "slo_drawdown"
    if not drawdowns:
        return dc.check(name, PASS, "no data yet")
    worst = max(drawdowns)
    detail = f"max drawdown {worst}% (MAX_DRAWDOWN_PCT={limit})"
    remedy = "review the PnL (`btcbot report`) before trading on; the risk budget reduces risk"
    if limit > 0 and worst >= limit:
        return dc.check(name, FAIL, f"{detail}: limit reached", remedy)
    if limit > 0 and worst >= limit * DRAWDOWN_WARN_SHARE:
        return dc.check(name, WARN, f"{detail}: over {DRAWDOWN_WARN_SHARE:%} of it", remedy)
    return dc.check(name, PASS, detail)
