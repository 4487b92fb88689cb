"""Opening the SQLite database: file safety, pragmas, validation, migrations, the Store handle.

The composition root calls `open_database(path)` once; it initialises `database_proxy`, to which
every model is bound, and returns a `Store` whose repositories speak domain objects only.

Opening is careful in a fixed order, because a trading bot's state file must never be damaged by
the act of opening it:
1. create the parent directory and, for a new database, the file itself with mode 0600;
2. inspect an existing file read-only (header, size, schema version) and refuse corrupt,
   foreign or newer-schema files before anything could write to them;
3. only then connect read-write with WAL, foreign keys, busy timeout and synchronous=NORMAL,
   and apply pending migrations.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import peewee
from peewee import DatabaseProxy, SqliteDatabase

if TYPE_CHECKING:
    from btcbot_engine.store.repo_orders import OrderRepository
    from btcbot_engine.store.repositories import (
        CursorRepository,
        CycleRepository,
        DecisionRepository,
        FillRepository,
        LedgerRepository,
        MetaRepository,
        MetricRepository,
        RuntimeStateRepository,
    )

BUSY_TIMEOUT_MS = 5000
SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_FILE_MODE = 0o600

#: Every model binds to this proxy; `open_database` points it at the real database.
database_proxy = DatabaseProxy()


class StoreError(Exception):
    """Any failure of the state store; the message names the file and what is wrong."""


class CorruptDatabase(StoreError):
    """The file is not a readable SQLite database (bad header, truncated, malformed)."""


class DamagedPages(CorruptDatabase):
    """Header and schema read, but SQLite's quick_check found damaged pages."""


class SchemaTooNew(StoreError):
    """The database was written by a newer btcbot; this version refuses to touch it."""


class AccountMismatch(StoreError):
    """The database belongs to a different account key than the one this run uses."""


class IntegrityViolation(StoreError):
    """A write broke a constraint (duplicate client id or idempotency key, missing parent...)."""


class RecordNotFound(StoreError):
    """An update named a record that does not exist."""


class StaleState(StoreError):
    """A compare-and-set update found the record in a different state than expected."""


P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn peewee/sqlite errors into StoreError subclasses so callers never import peewee."""
    try:
        yield
    except peewee.IntegrityError as exc:
        raise IntegrityViolation(f"{action}: {exc}") from exc
    except peewee.PeeweeException as exc:
        raise StoreError(f"{action}: {type(exc).__name__}: {exc}") from exc
    # Rows fetched lazily (cursor.fetchall) raise sqlite3's own errors, not peewee's.
    except sqlite3.IntegrityError as exc:
        raise IntegrityViolation(f"{action}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc) or "not a database" in str(exc):
            raise CorruptDatabase(f"{action}: {exc}") from exc
        raise StoreError(f"{action}: {type(exc).__name__}: {exc}") from exc


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of `translate_errors`, naming the method in the message."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors(fn.__qualname__):
            return fn(*args, **kwargs)

    return wrapper


def wall_clock_ms() -> int:
    """Milliseconds since the epoch (the default clock for updated_ms columns)."""
    return time.time_ns() // 1_000_000


class Store:
    """An open state database: transactions, health checks and the repositories.

    Only the engine thread writes. Repositories are created on first use and share this Store.
    """

    def __init__(self, db: SqliteDatabase, path: Path, clock_ms: Callable[[], int]) -> None:
        self._db = db
        self.path = path
        self.clock_ms = clock_ms

    # -- life cycle -------------------------------------------------------------------------

    @property
    def db(self) -> SqliteDatabase:
        """The peewee database (for the store package only; nothing above it uses peewee)."""
        return self._db

    @property
    def closed(self) -> bool:
        """True once `close()` ran."""
        return database_proxy.obj is not self._db

    def close(self) -> None:
        """Close this thread's connection and release the proxy. Safe to call twice."""
        if database_proxy.obj is self._db:
            try:
                self._db.close()
            finally:
                database_proxy.initialize(None)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction (a savepoint when nested): all of its writes land, or none do.

        The outermost level begins IMMEDIATE, taking the write lock up front, so a cycle never
        fails half-way on a lock upgrade.
        """
        with translate_errors("transaction"), self._db.atomic():
            yield

    # -- health -----------------------------------------------------------------------------

    @translated
    def integrity_check(self) -> list[str]:
        """Run PRAGMA integrity_check; returns ["ok"] for a healthy database."""
        return [str(row[0]) for row in self._db.execute_sql("PRAGMA integrity_check").fetchall()]

    @translated
    def journal_mode(self) -> str:
        """The journal mode in effect (expected: "wal")."""
        return str(self._db.execute_sql("PRAGMA journal_mode").fetchone()[0]).lower()

    @translated
    def schema_version(self) -> int:
        """The schema version recorded in the meta table."""
        from btcbot_engine.store.migrations import schema_version_of

        return schema_version_of(self._db.connection(), label=str(self.path))

    @translated
    def pragma(self, name: str) -> Any:
        """Read one pragma on this thread's connection (foreign_keys, synchronous, ...)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a pragma name: {name!r}")
        row = self._db.execute_sql(f"PRAGMA {name}").fetchone()
        return row[0] if row else None

    # -- repositories -----------------------------------------------------------------------

    @functools.cached_property
    def orders(self) -> OrderRepository:
        """Orders and their state events."""
        from btcbot_engine.store.repo_orders import OrderRepository

        return OrderRepository(self)

    @functools.cached_property
    def fills(self) -> FillRepository:
        """Fills, deduplicated by trade id."""
        from btcbot_engine.store.repositories import FillRepository

        return FillRepository(self)

    @functools.cached_property
    def ledger(self) -> LedgerRepository:
        """The append-only ledger."""
        from btcbot_engine.store.repositories import LedgerRepository

        return LedgerRepository(self)

    @functools.cached_property
    def decisions(self) -> DecisionRepository:
        """Decisions with reason codes."""
        from btcbot_engine.store.repositories import DecisionRepository

        return DecisionRepository(self)

    @functools.cached_property
    def cycles(self) -> CycleRepository:
        """Engine cycles."""
        from btcbot_engine.store.repositories import CycleRepository

        return CycleRepository(self)

    @functools.cached_property
    def metrics(self) -> MetricRepository:
        """Metric samples."""
        from btcbot_engine.store.repositories import MetricRepository

        return MetricRepository(self)

    @functools.cached_property
    def runtime(self) -> RuntimeStateRepository:
        """Persisted runtime flags (kill switch, safe mode)."""
        from btcbot_engine.store.repositories import RuntimeStateRepository

        return RuntimeStateRepository(self)

    @functools.cached_property
    def cursors(self) -> CursorRepository:
        """Named cursors (e.g. the fills cursor per symbol)."""
        from btcbot_engine.store.repositories import CursorRepository

        return CursorRepository(self)

    @functools.cached_property
    def meta(self) -> MetaRepository:
        """Database metadata and the account-key binding."""
        from btcbot_engine.store.repositories import MetaRepository

        return MetaRepository(self)


# -- opening ------------------------------------------------------------------------------------


def _ensure_file(path: Path) -> None:
    """Create the parent directory and the database file (0600) if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: if another process creates it first we fall through to inspecting theirs.
        # O_NOFOLLOW: never create through a planted symlink.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file; refusing to use it as the database")


def _restrict_mode(path: Path) -> None:
    # A state file readable by others would leak positions and order history; tightening the
    # permission bits changes no byte of the file. Only done once the file passed inspection.
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def _page_size(header: bytes) -> int:
    raw = int.from_bytes(header[16:18], "big")
    return 65536 if raw == 1 else raw


def account_mismatch(path: Path, bound: str, wanted: str) -> AccountMismatch:
    """The error for a database bound to another account key (keys shortened in the message)."""

    def short(text: str) -> str:
        # Account keys may be derived from credentials: show only enough to tell two apart.
        return text if len(text) <= 8 else f"{text[:8]}…"

    if "paper" in (bound, wanted):
        have, need = ("paper-trading", "live") if bound == "paper" else ("live", "paper-trading")
        return AccountMismatch(
            f"database {path} holds {have} state; {need} runs need their own database: "
            "set STATE_DB_PATH to another file (paper and live never share one)"
        )
    return AccountMismatch(
        f"database {path} belongs to account key {short(bound)!r}, not {short(wanted)!r}; "
        "use a separate database per account"
    )


def _inspect(path: Path, timeout_s: float, account_key: str | None) -> int:
    """Validate an existing file without writing to it; return its schema version (0 = new).

    Also refuses a database bound to another account key, before anything (even a migration)
    writes to it.
    """
    from btcbot_engine.store.migrations import check_not_newer, schema_version_of

    size = path.stat().st_size
    wal = Path(f"{path}-wal")
    wal_has_data = wal.exists() and wal.stat().st_size > 0
    if size == 0 and not wal_has_data:
        return 0
    with path.open("rb") as handle:
        header = handle.read(_HEADER_SIZE)
    if not header.startswith(SQLITE_MAGIC) and not SQLITE_MAGIC.startswith(header):
        raise CorruptDatabase(
            f"{path} is not a SQLite database (bad header); refusing to touch it. "
            "Move it aside or use another database path."
        )
    if len(header) < _HEADER_SIZE:
        raise CorruptDatabase(f"{path} is truncated ({size} bytes, shorter than the SQLite header)")
    page_size = _page_size(header)
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptDatabase(f"{path} has an invalid page size {page_size} in its header")
    # With pending WAL frames the main file may legitimately lag its own header, so the size
    # checks only apply when there is no WAL content to replay.
    if not wal_has_data:
        if size % page_size:
            raise CorruptDatabase(
                f"{path} is truncated: {size} bytes is not a whole number of {page_size}-byte pages"
            )
        header_pages = int.from_bytes(header[28:32], "big")
        header_size_valid = header[24:28] == header[92:96] and header_pages > 0
        if header_size_valid and size < header_pages * page_size:
            raise CorruptDatabase(
                f"{path} is truncated: its header says {header_pages} pages "
                f"({header_pages * page_size} bytes) but the file has {size} bytes"
            )
    # mode=ro: this connection cannot write, so a bad file is reported, never "repaired".
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout_s)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open read-only for inspection: {exc}") from exc
    try:
        version = schema_version_of(conn, label=str(path))
        bound = None
        if version >= 1:
            row = conn.execute("SELECT value FROM meta WHERE key = 'account_key'").fetchone()
            bound = row[0] if row else None
        # Header and schema can be intact around a damaged data page: read every page once
        # now, rather than meet "malformed" mid-cycle (or silently miss rows).
        rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            lines = [ln for r in rows for ln in r.splitlines() if ln and not ln.startswith("***")]
            raise DamagedPages(
                f"{path} is damaged: SQLite's quick_check reports {(lines or rows)[0]}; "
                "refusing to touch it"
            )
    except sqlite3.OperationalError as exc:
        raise StoreError(f"{path}: cannot read the database: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabase(f"{path} is corrupt ({exc}); refusing to touch it") from exc
    finally:
        conn.close()
    check_not_newer(version, label=str(path))
    if account_key is not None and bound is not None and bound != account_key:
        raise account_mismatch(path, bound, account_key)
    return version


def open_readonly(
    path: str | os.PathLike[str],
    *,
    clock_ms: Callable[[], int] | None = None,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> Store:
    """Open an existing state database for reading only, even while the engine writes to it.

    For reports, exports, alerts and the doctor: no lock is taken, nothing is created or
    migrated, and the connection cannot write (mode=ro plus query_only). A missing file, a
    corrupt one, or a schema other than the current one raises StoreError naming the file.
    """
    from btcbot_engine.store.migrations import LATEST_VERSION

    db_path = Path(path)
    if not db_path.exists():
        raise StoreError(f"{db_path} does not exist (no run has written state there yet)")
    if database_proxy.obj is not None:
        raise StoreError(
            f"another database is already open in this process ({database_proxy.obj.database}); "
            "close its Store first"
        )
    version = _inspect(db_path, busy_timeout_ms / 1000, None)
    if version != LATEST_VERSION:
        raise StoreError(
            f"{db_path} has schema version {version}, this btcbot reads {LATEST_VERSION}; "
            "run `btcbot run --once --dry-run` once to migrate it"
        )
    db = SqliteDatabase(
        f"{db_path.resolve().as_uri()}?mode=ro",
        pragmas=[("query_only", 1), ("busy_timeout", int(busy_timeout_ms))],
        timeout=busy_timeout_ms / 1000,
        uri=True,
    )
    with translate_errors(f"opening {db_path} read-only"):
        db.connect()
    database_proxy.initialize(db)
    return Store(db, db_path, clock_ms or wall_clock_ms)


def open_database(
    path: str | os.PathLike[str],
    *,
    account_key: str | None = None,
    clock_ms: Callable[[], int] | None = None,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    target_version: int | None = None,
) -> Store:
    """Open (creating if needed) the state database at `path` and migrate it.

    `account_key`, when given, is bound on first use and checked on every later open
    (AccountMismatch if the file belongs to another account). `target_version` stops migrations
    early; it exists for upgrade-path tests and drills. Raises CorruptDatabase, SchemaTooNew or
    StoreError with the file named; never modifies a file it refuses.
    """
    from btcbot_engine.store.migrations import migrate

    if account_key is not None and not account_key:
        raise ValueError("account_key must be a non-empty string (or None)")
    db_path = Path(path)
    if str(path) == ":memory:" or str(path).startswith("file::memory:"):
        # ':memory:' is a separate empty database per thread: the engine thread and a doctor
        # call would silently see different data.
        raise StoreError("':memory:' is not supported: use a database file")
    if database_proxy.obj is not None:
        raise StoreError(
            f"another database is already open in this process ({database_proxy.obj.database}); "
            "close its Store first"
        )
    _ensure_file(db_path)
    _inspect(db_path, busy_timeout_ms / 1000, account_key)
    for candidate in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        _restrict_mode(candidate)

    db = SqliteDatabase(
        str(db_path),
        pragmas=[
            ("journal_mode", "wal"),
            ("foreign_keys", 1),
            ("busy_timeout", int(busy_timeout_ms)),
            ("synchronous", 1),  # NORMAL: durable across app crashes; WAL keeps it consistent
        ],
        timeout=busy_timeout_ms / 1000,
        lock_type="IMMEDIATE",
    )
    label = str(db_path)
    old_umask = os.umask(0o077)  # -wal/-shm created now must not be group/world readable
    try:
        with translate_errors(f"opening {label}"):
            db.connect()
    finally:
        os.umask(old_umask)
    try:
        mode = str(db.execute_sql("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode != "wal":
            raise StoreError(
                f"{label}: could not enable WAL (journal_mode is {mode}); "
                "is it on a network or read-only filesystem?"
            )
        with translate_errors(f"migrating {label}"):
            migrate(db, target_version, label=label)
        for candidate in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            _restrict_mode(candidate)
        database_proxy.initialize(db)
        store = Store(db, db_path, clock_ms or wall_clock_ms)
        if store.schema_version() >= 1:
            with store.atomic():
                if store.meta.get("created_ms") is None:
                    store.meta.set("created_ms", str(store.clock_ms()))
                if account_key is not None:
                    store.meta.bind_account(account_key)
    except BaseException:
        if database_proxy.obj is db:
            database_proxy.initialize(None)
        if not db.is_closed():
            db.close()
        raise
    return store
