"""The doctor's individual checks: each returns a `DoctorCheckView` (PASS / WARN / FAIL).

Pure or read-only: nothing here writes a file, migrates a database, takes the instance lock or
sends an exchange write. Network probing and the SLO figures are orchestrated in `doctor.py`;
the functions here judge what they are given (settings, files, a read-only Store, rules).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

from btcbot_engine.config import QUOTE_CURRENCIES, Settings
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.domain.snapshot import DoctorCheckView
from btcbot_engine.gates import REMEDIES, GateDecision, Mode
from btcbot_engine.store.db import (
    CorruptDatabase,
    DamagedPages,
    SchemaTooNew,
    Store,
    StoreError,
    open_readonly,
)
from btcbot_engine.store.lock import lock_path_of, parse_holder, probe_held

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
#: What reading a damaged database can raise (the store translates most, not all, of them).
DB_ERRORS = (StoreError, sqlite3.Error)
SEVERITY: Mapping[str, int] = {PASS: 0, WARN: 1, FAIL: 2}
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check(name: str, status: str, detail: str, remedy: str = "") -> DoctorCheckView:
    """One check result; a PASS never carries a remedy."""
    return DoctorCheckView(name, status, detail, "" if status == PASS else remedy)


def db_problem(store: Store, exc: Exception) -> str:
    """An error reading the database, with the file named."""
    text = str(exc)
    return text if str(store.path) in text else f"{store.path}: {text}"


def _worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=SEVERITY.__getitem__, default=PASS)


def live_intended(settings: Settings) -> bool:
    """The operator configured real trading (whatever the kill switch and safe mode say now)."""
    return settings.live_trading and not settings.dry_run


# --- settings and gates -----------------------------------------------------------------------


def settings_check(s: Settings) -> DoctorCheckView:
    """Cross-field coherence the loader cannot refuse outright but an operator should know."""
    problems: list[tuple[str, str, str]] = []  # (status, what, remedy)
    minimum = s.min_order_notional_try
    if minimum > s.max_notional_per_order_try:
        problems.append(
            (FAIL, "MIN_ORDER_NOTIONAL_TRY is above MAX_NOTIONAL_PER_ORDER_TRY", "lower the min")
        )
    for field_name, value in (
        ("NOTIONAL_CAP_TRY_PER_CYCLE", s.notional_cap_try_per_cycle),
        ("MAX_POSITION_TRY_PER_SYMBOL", s.max_position_try_per_symbol),
    ):
        if value < minimum:
            problems.append(
                (
                    WARN,
                    f"{field_name}={value} is below MIN_ORDER_NOTIONAL_TRY={minimum}: "
                    "no order fits",
                    f"raise {field_name} or lower MIN_ORDER_NOTIONAL_TRY",
                )
            )
    for field_name, count in (
        ("MAX_ORDERS_PER_CYCLE", s.max_orders_per_cycle),
        ("MAX_OPEN_ORDERS_PER_SYMBOL", s.max_open_orders_per_symbol),
    ):
        if count == 0:
            problems.append((WARN, f"{field_name}=0: no order will ever be placed", "set it >= 1"))
    denied = [sym for sym in s.universe_symbols if sym in s.universe_deny]
    if denied:
        problems.append(
            (
                WARN,
                f"{', '.join(denied)} in both UNIVERSE_SYMBOLS and UNIVERSE_DENY: never traded",
                "remove them from one of the two lists",
            )
        )
    if not s.universe_symbols and s.universe_allow:
        off_quote = [sym for sym in s.universe_allow if _quote_of(sym) not in s.universe_quotes]
        if off_quote:
            problems.append(
                (
                    WARN,
                    f"UNIVERSE_ALLOW has {', '.join(off_quote)}, outside UNIVERSE_QUOTES="
                    f"{','.join(s.universe_quotes)}: never selected",
                    "add their quote to UNIVERSE_QUOTES or drop them from UNIVERSE_ALLOW",
                )
            )
    if s.market_data_mode == "ws" and not s.universe_symbols:
        problems.append(
            (
                WARN,
                "MARKET_DATA_MODE=ws needs UNIVERSE_SYMBOLS; prices come over REST instead",
                "set UNIVERSE_SYMBOLS, or MARKET_DATA_MODE=rest",
            )
        )
    for field_name, url in (
        ("BTCTURK_BASE_URL", s.btcturk_base_url),
        ("BTCTURK_GRAPH_URL", s.btcturk_graph_url),
        ("BTCTURK_WS_URL", s.btcturk_ws_url),
    ):
        parsed = urlparse(url)
        if parsed.scheme in ("http", "ws") and parsed.hostname not in _LOOPBACK_HOSTS:
            # Signed requests carry the key in a header: in clear text off this host.
            problems.append(
                (
                    FAIL if s.has_api_keys else WARN,
                    f"{field_name} is unencrypted ({parsed.scheme}://) to {parsed.hostname}",
                    f"use {'https' if parsed.scheme == 'http' else 'wss'}://",
                )
            )
    if not problems:
        return check("settings", PASS, "coherent")
    return check(
        "settings",
        _worst([p[0] for p in problems]),
        "; ".join(p[1] for p in problems),
        "; ".join(p[2] for p in problems),
    )


def _quote_of(symbol: str) -> str:
    return next((q for q in QUOTE_CURRENCIES if symbol.endswith(q)), "")


def gates_check(decision: GateDecision) -> DoctorCheckView:
    """The effective mode. LIVE is a WARN (real orders), KILLED a WARN (nothing new will trade)."""
    blocked = f" (blocked by {', '.join(decision.blocked_by)})" if decision.blocked_by else ""
    if decision.mode is Mode.LIVE:
        return check(
            "gates",
            WARN,
            "LIVE: real orders will be sent",
            "intended? If not: set DRY_RUN=true or SAFE_MODE=true, or run `btcbot kill`",
        )
    if decision.mode is Mode.KILLED:
        return check(
            "gates",
            WARN,
            f"KILLED: no new orders; our open orders may still be cancelled{blocked}",
            REMEDIES["KILL_SWITCH"],
        )
    what = {
        Mode.PAPER: "PAPER: simulated fills, no exchange writes",
        Mode.OBSERVE_ONLY: "OBSERVE_ONLY: decisions recorded, nothing executed",
    }[decision.mode]
    return check("gates", PASS, what + blocked)


def env_file_check(env_file: Path | None) -> DoctorCheckView:
    """The settings file holds the API secret: it must be readable by its owner only."""
    path = env_file if env_file is not None else Path(".env")
    if not path.is_file():
        return check("env_file", PASS, "no .env file: settings come from the environment")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o022:
        return check(
            "env_file",
            FAIL,
            f"{path} is mode {mode:04o}: others can change it (and arm live trading)",
            f"chmod 600 {path}",
        )
    if mode & 0o044:
        return check(
            "env_file",
            WARN,
            f"{path} is mode {mode:04o}: group/world readable, and it holds the API secret",
            f"chmod 600 {path}",
        )
    return check("env_file", PASS, f"{path} is mode {mode:04o}")


# --- database and lock ------------------------------------------------------------------------


def db_path_check(path: Path) -> DoctorCheckView:
    """The database's directory must be writable (the file, its -wal and -shm live there)."""
    if path.exists() and not os.access(path, os.W_OK):
        return check("db_path", FAIL, f"{path} is not writable", f"fix its owner/mode: {path}")
    parent = path.absolute().parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return check(
            "db_path",
            FAIL,
            f"{existing} is not writable: the database cannot be created or journaled",
            "fix the directory's permissions, or set STATE_DB_PATH (or --db) elsewhere",
        )
    if existing != parent:
        return check("db_path", PASS, f"{parent} will be created (in writable {existing})")
    return check("db_path", PASS, f"{parent} is writable")


def db_mode_check(path: Path) -> DoctorCheckView:
    """The database and its WAL files hold positions and order history: owner-only (0600)."""
    loose: list[str] = []
    writable = False
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if not candidate.exists():
            continue
        mode = stat.S_IMODE(candidate.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{candidate.name} {mode:04o}")
            writable = writable or bool(mode & 0o022)
    if not loose:
        return check("db_mode", PASS, f"{path.name} is 0600 or stricter")
    files = " ".join(str(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())
    return check(
        "db_mode",
        FAIL if writable else WARN,
        f"{', '.join(loose)}: {'writable' if writable else 'readable'} by group/others",
        f"chmod 600 {files}",
    )


def open_database_readonly(path: Path) -> tuple[list[DoctorCheckView], Store | None]:
    """Open the database read-only for the later checks; report what stands in the way."""
    if not path.exists():
        return [
            check(
                "db_file",
                WARN,
                f"{path} does not exist yet: it will be created on first run",
                "nothing to do if this is a first run; else check STATE_DB_PATH (or --db)",
            )
        ], None
    try:
        return [check("db_file", PASS, f"{path} opens read-only")], open_readonly(path)
    except DamagedPages as exc:
        return [
            check("db_file", PASS, f"{path} has a valid SQLite header and schema"),
            check(
                "db_integrity",
                FAIL,
                str(exc),
                f"stop the engine, move {path} aside and restore a backup",
            ),
        ], None
    except CorruptDatabase as exc:
        return [
            check(
                "db_file",
                FAIL,
                str(exc),
                f"move {path} aside and restore a backup (or start a new database); "
                "the exchange still holds the truth about orders and fills",
            )
        ], None
    except SchemaTooNew as exc:
        return [
            check("db_file", PASS, f"{path} is a btcbot database"),
            check("db_schema", FAIL, str(exc), "upgrade btcbot, or point --db elsewhere"),
        ], None
    except StoreError as exc:
        version = _older_schema(path)
        if version is None:
            return [check("db_file", FAIL, str(exc), f"inspect {path}; restore a backup")], None
        from btcbot_engine.store.migrations import LATEST_VERSION

        return [
            check("db_file", PASS, f"{path} is a btcbot database"),
            check(
                "db_schema",
                WARN,
                f"schema version {version}, this btcbot uses {LATEST_VERSION}",
                "the next `btcbot run` migrates it (take a backup first)",
            ),
        ], None


def _older_schema(path: Path) -> int | None:
    """The schema version when it is a readable btcbot database older than this btcbot."""
    from btcbot_engine.store.migrations import LATEST_VERSION, schema_version_of

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        version = schema_version_of(conn, label=str(path))
    except (StoreError, sqlite3.Error):
        return None
    finally:
        conn.close()
    return version if 0 < version < LATEST_VERSION else None


def store_checks(store: Store) -> list[DoctorCheckView]:
    """Schema version, integrity and WAL of an open Store (read-only queries only)."""
    from btcbot_engine.store.migrations import LATEST_VERSION

    out: list[DoctorCheckView] = []
    try:
        version = store.schema_version()
        if version == LATEST_VERSION:
            out.append(check("db_schema", PASS, f"schema version {version} (current)"))
        else:
            out.append(
                check(
                    "db_schema",
                    WARN if version < LATEST_VERSION else FAIL,
                    f"schema version {version}, this btcbot uses {LATEST_VERSION}",
                    "the next `btcbot run` migrates an older schema; a newer one needs an upgrade",
                )
            )
    except DB_ERRORS as exc:
        out.append(check("db_schema", FAIL, db_problem(store, exc), f"inspect {store.path}"))
    try:
        rows = store.integrity_check()
        if rows == ["ok"]:
            out.append(check("db_integrity", PASS, "integrity_check ok"))
        else:
            lines = [ln for row in rows for ln in row.splitlines() if not ln.startswith("***")]
            out.append(
                check(
                    "db_integrity",
                    FAIL,
                    f"{store.path} is damaged: integrity_check reports {len(lines)} problem(s): "
                    + "; ".join(lines[:3]),
                    f"stop the engine, move {store.path} aside and restore a backup",
                )
            )
    except DB_ERRORS as exc:
        out.append(
            check(
                "db_integrity",
                FAIL,
                db_problem(store, exc),
                f"stop the engine, move {store.path} aside and restore a backup",
            )
        )
    try:
        journal = store.journal_mode()
        if journal == "wal":
            out.append(check("db_wal", PASS, "journal mode wal"))
        else:
            out.append(
                check(
                    "db_wal",
                    WARN,
                    f"journal mode {journal}, not wal",
                    "the next `btcbot run` switches it to WAL (keep the file on a local disk)",
                )
            )
    except DB_ERRORS as exc:
        out.append(check("db_wal", FAIL, db_problem(store, exc), f"inspect {store.path}"))
    return out


def account_check(store: Store, s: Settings) -> DoctorCheckView:
    """A database is bound to one account key; the engine refuses it under another key."""
    bound = store.meta.account_key()
    if bound is None:
        return check("db_account", PASS, "not bound to an account yet")
    if bound != s.account_key:
        return check(
            "db_account",
            FAIL,
            f"{store.path} belongs to another account key than BTCTURK_API_KEY's: "
            "the engine will refuse to open it",
            "use a separate database per account (STATE_DB_PATH or --db), or the right key",
        )
    return check("db_account", PASS, "bound to this key's account")


def lock_check(db_path: Path, *, held_by_us: bool) -> DoctorCheckView:
    """Is the instance lock free? A running engine holding it is normal (WARN, not FAIL).

    Probed without taking it (store.lock.probe_held), so nothing is written.
    """
    if held_by_us:
        return check("lock", PASS, f"held by this engine (pid {os.getpid()})")
    lock_path = lock_path_of(db_path)
    if not lock_path.exists():
        return check("lock", PASS, "free (no lock file yet)")
    try:
        held, raw = probe_held(db_path)
    except OSError as exc:
        return check("lock", WARN, f"cannot open {lock_path}: {exc.strerror}", "check its owner")
    return _held_check(raw) if held else check("lock", PASS, "free")


def _held_check(raw: bytes) -> DoctorCheckView:
    holder = parse_holder(raw) or {}
    pid, command = holder.get("pid"), holder.get("command")
    if not isinstance(pid, int):
        who = "another process (its lock file does not name it yet)"
    else:
        who = f"pid {pid}" + (f" ({command})" if command else "")
    return check(
        "lock",
        WARN,
        f"held by {who}: normal while an engine runs; a second one cannot start",
        f"to run here, stop {who.split(' (')[0]} first, or use another STATE_DB_PATH",
    )


# --- orders and dataset -----------------------------------------------------------------------


def unknown_orders_check(store: Store, *, now_ms: int, max_age_s: int) -> DoctorCheckView:
    """Orders whose submit/cancel outcome is unknown; older than the limit is a FAIL."""
    try:
        unknown = store.orders.list_unknown()
    except DB_ERRORS as exc:
        return check("unknown_orders", FAIL, db_problem(store, exc), f"inspect {store.path}")
    if not unknown:
        return check("unknown_orders", PASS, "no UNKNOWN orders")
    oldest = max(unknown, key=lambda o: now_ms - o.updated_ms)
    age_s = max(now_ms - oldest.updated_ms, 0) // 1000
    detail = (
        f"{len(unknown)} UNKNOWN order(s), oldest {age_s} s "
        f"({oldest.symbol} {oldest.side.value} client id {oldest.client_id})"
    )
    remedy = (
        "start the engine: it resolves UNKNOWN orders by client id before sending anything new; "
        "compare with the exchange (`btcbot account`)"
    )
    if age_s > max_age_s:
        detail += f", older than UNKNOWN_ORDER_MAX_AGE_SECONDS={max_age_s}"
        return check("unknown_orders", FAIL, detail, remedy)
    return check("unknown_orders", WARN, detail, remedy)


def dataset_check(path: Path) -> DoctorCheckView:
    """A replay dataset, validated by the replay package's own validator."""
    if not path.exists():
        return check("dataset", FAIL, f"{path}: no such file or directory", "check --dataset")
    try:
        from btcbot_engine.replay.dataset import validate_dataset
    except ImportError:
        return check(
            "dataset",
            FAIL,
            "cannot validate: this build has no dataset validator (btcbot_engine.replay.dataset)",
            "upgrade btcbot",
        )
    try:
        problems = validate_dataset(path)
    except Exception as exc:  # a validator crash is a finding about the dataset, not a doctor bug
        return check("dataset", FAIL, f"{path}: {type(exc).__name__}: {exc}", "re-record it")
    if not problems:
        return check("dataset", PASS, f"{path} is valid")
    # Errors make a dataset unusable; warnings (gaps, which real data has) do not.
    errors = [p for p in problems if getattr(p, "severity", "error") == "error"]
    shown = "; ".join(
        f"{p.file}{'' if p.line is None else f':{p.line}'}: {p.message}"
        for p in (errors or problems)[:3]
    )
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    if not errors:
        return check(
            "dataset",
            WARN,
            f"{len(problems)} warning(s): {shown}{more}",
            "usable; gaps replay as stale data",
        )
    return check(
        "dataset",
        FAIL,
        f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s): {shown}{more}",
        "fix or re-record the dataset",
    )


# --- credentials and exchange rules -----------------------------------------------------------


def scopes_check(s: Settings) -> DoctorCheckView:
    """BTCTURK_API_SCOPES as declared: read always, trade when live, never withdraw."""
    scopes = set(s.btcturk_api_scopes)
    listed = ",".join(s.btcturk_api_scopes) or "(none)"
    if "withdraw" in scopes:
        return check(
            "api_scopes",
            FAIL,
            f"scopes {listed}: a key that can withdraw must never be given to a bot",
            "delete this key on BTCTurk; create one with read (and trade) only",
        )
    if not s.has_api_keys:
        return check("api_scopes", PASS, f"no keys (declared scopes {listed})")
    if "read" not in scopes:
        return check(
            "api_scopes", FAIL, f"scopes {listed}: read is missing", "BTCTURK_API_SCOPES=read"
        )
    if live_intended(s) and "trade" not in scopes:
        return check(
            "api_scopes",
            FAIL,
            f"scopes {listed}: live trading is configured but trade is missing",
            "give the key the trade permission and set BTCTURK_API_SCOPES=read,trade",
        )
    return check("api_scopes", PASS, f"scopes {listed}")


def secret_age_check(s: Settings, *, today: date, warn_days_before: int) -> DoctorCheckView:
    """The API secret's age against BTCTURK_SECRET_MAX_AGE_DAYS."""
    if not s.has_api_keys:
        return check("secret_age", PASS, "no keys")
    limit = s.btcturk_secret_max_age_days
    rotated = s.btcturk_secret_rotated_at
    if rotated is None:
        return check(
            "secret_age",
            WARN,
            "rotation date unknown",
            "set BTCTURK_SECRET_ROTATED_AT to the date the key was created (YYYY-MM-DD)",
        )
    age = (today - rotated).days
    if age < 0:
        return check(
            "secret_age",
            WARN,
            f"BTCTURK_SECRET_ROTATED_AT {rotated} is in the future",
            "correct the date",
        )
    detail = f"{age} days old (limit {limit})"
    if age >= limit - warn_days_before:
        state = "over the limit" if age > limit else "close to the limit"
        return check(
            "secret_age",
            WARN,
            f"{detail}: {state}",
            "rotate the key on BTCTurk; update BTCTURK_API_KEY/SECRET and "
            "BTCTURK_SECRET_ROTATED_AT",
        )
    return check("secret_age", PASS, detail)


def universe_candidates(s: Settings, rules: Mapping[str, SymbolRules]) -> list[str]:
    """UNIVERSE_SYMBOLS when set, else the pairs discovery could pick (quote, allow, deny)."""
    if s.universe_symbols:
        return list(s.universe_symbols)
    allow, deny = set(s.universe_allow), set(s.universe_deny)
    return sorted(
        sym
        for sym, rule in rules.items()
        if rule.trading
        and rule.quote.upper() in s.universe_quotes
        and sym not in deny
        and (not allow or sym in allow)
    )


def rules_check(s: Settings, rules: Mapping[str, SymbolRules]) -> DoctorCheckView:
    """exchangeinfo must know every universe symbol (and list them as TRADING)."""
    symbols = universe_candidates(s, rules)
    if not s.universe_symbols:
        if not symbols:
            return check(
                "exchange_rules",
                FAIL,
                f"no TRADING pair matches UNIVERSE_QUOTES={','.join(s.universe_quotes)} "
                "and the allow/deny lists",
                "widen UNIVERSE_QUOTES or UNIVERSE_ALLOW, or set UNIVERSE_SYMBOLS",
            )
        return check(
            "exchange_rules", PASS, f"{len(rules)} pairs; {len(symbols)} discovery candidates"
        )
    missing = [sym for sym in symbols if sym not in rules]
    halted = [sym for sym in symbols if sym in rules and not rules[sym].trading]
    if missing:
        return check(
            "exchange_rules",
            FAIL,
            f"no exchange rules for {', '.join(missing)}",
            "fix UNIVERSE_SYMBOLS (pairs as the exchange lists them, e.g. BTCTRY)",
        )
    if halted:
        return check(
            "exchange_rules",
            WARN,
            f"{', '.join(f'{sym} is {rules[sym].status}' for sym in halted)}: not traded now",
            "drop them from UNIVERSE_SYMBOLS until the exchange lists them as TRADING",
        )
    return check("exchange_rules", PASS, f"rules for all {len(symbols)} universe symbols")


def min_notional_check(
    s: Settings, rules: Mapping[str, SymbolRules], try_per_usdt: Decimal | None
) -> DoctorCheckView:
    """MIN_ORDER_NOTIONAL_TRY must not be below any universe symbol's exchange minimum."""
    minimum = s.min_order_notional_try
    below: list[str] = []
    unconverted: list[str] = []
    needed = Decimal(0)
    for sym in universe_candidates(s, rules):
        rule = rules.get(sym)
        if rule is None:
            continue  # reported by exchange_rules
        if rule.quote.upper() == "TRY":
            min_try = rule.min_notional
        elif try_per_usdt is not None and rule.quote.upper() == "USDT":
            min_try = (rule.min_notional * try_per_usdt).quantize(Decimal("0.01"))
        else:
            unconverted.append(sym)
            continue
        if minimum < min_try:
            below.append(f"{sym} needs {min_try} TRY")
            needed = max(needed, min_try)
    if below:
        return check(
            "min_notional",
            FAIL,
            f"MIN_ORDER_NOTIONAL_TRY={minimum} is below the exchange minimum: {', '.join(below)}",
            f"set MIN_ORDER_NOTIONAL_TRY >= {needed} (or drop those symbols)",
        )
    if unconverted:
        return check(
            "min_notional",
            WARN,
            f"cannot convert the minimum of {', '.join(unconverted)} to TRY (no USDTTRY price)",
            "run doctor again when the USDTTRY ticker is available",
        )
    return check("min_notional", PASS, f"MIN_ORDER_NOTIONAL_TRY={minimum} meets every minimum")
