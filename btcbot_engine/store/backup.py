"""Backup, check and restore of the state database, with plain sqlite3 (no peewee, no Store).

- `backup_database` copies a live database with SQLite's online backup API (one read
  transaction, so it is consistent and never blocks the engine's writes in WAL mode), into a
  temporary 0600 file next to the target; the copy is made self-contained (journal_mode=DELETE)
  and integrity-checked, then renamed into place. A failure leaves no file behind.
- `check_database` reports header, integrity, WAL, schema version, file mode and row counts
  through a read-only connection; it works while the engine runs.
- `restore_database` takes the instance lock (refusing while an engine holds it), validates the
  backup (healthy, a supported schema, bound to the same account key) before touching anything,
  moves the current database aside to `<db>.before-restore-<UTC timestamp>` and installs a copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from btcbot_engine.durable import fsync_dir, fsync_file
from btcbot_engine.store.db import (
    BUSY_TIMEOUT_MS,
    StoreError,
    _inspect,
    account_mismatch,
)

_FILE_MODE = 0o600
_TIMEOUT_S = BUSY_TIMEOUT_MS / 1000


class BackupError(StoreError):
    """A backup, check or restore that cannot go ahead; the message names the file and why."""


class BackupRefused(BackupError):
    """Refused because of what was asked (target exists, wrong file...): nothing was touched."""


# --- small helpers -----------------------------------------------------------------------------


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    # -wal/-shm/-journal files SQLite creates while we work must not be group/world readable.
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _connect_ro(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to `path` (mode=ro plus query_only)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=_TIMEOUT_S)
    conn.execute("PRAGMA query_only = 1")
    return conn


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    # Table names come from sqlite_master, quoted: no user input reaches this SQL.
    return {
        name: int(conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
        for name in _tables(conn)
    }


def _integrity(conn: sqlite3.Connection) -> list[str]:
    """PRAGMA integrity_check rows (["ok"] when healthy), each on one line."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return [" ".join(str(r[0]).split()) for r in rows]


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _new_private_file(directory: Path, stem: str) -> Path:
    """Create an empty 0600 file with a unique hidden name in `directory`."""
    path = directory / f".{stem}.{os.getpid()}.{time.monotonic_ns()}.partial"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
    os.close(fd)
    return path


def _remove_quietly(path: Path) -> None:
    for candidate in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(OSError):
            candidate.unlink()


def _companions(db_path: Path) -> set[Path]:
    """The database and every file that belongs to it (never a valid backup target)."""
    base = db_path.resolve()
    return {base} | {Path(f"{base}{suffix}") for suffix in ("-wal", "-shm", ".lock", ".kill")}


def _copy_with_backup_api(source: Path, dest: Path, *, journal_mode: str) -> list[str]:
    """Copy `source` into the (empty) file `dest`; set its journal mode; return its integrity."""
    with _private_umask():
        src = _connect_ro(source)
        try:
            dst = sqlite3.connect(dest, timeout=_TIMEOUT_S)
            try:
                # pages=-1: one step, one read transaction: a consistent copy that a concurrent
                # writer (in WAL mode) neither blocks nor restarts.
                src.backup(dst, pages=-1)
                dst.execute(f"PRAGMA journal_mode = {journal_mode}")
                result = _integrity(dst)
            finally:
                dst.close()  # the last connection: a WAL copy is checkpointed, -wal removed
        finally:
            src.close()
    return result


# --- backup ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished backup: where, how big, its schema version and row counts."""

    source: str
    path: str
    size_bytes: int
    schema_version: int
    row_counts: dict[str, int]
    elapsed_ms: int

    def to_json(self) -> dict[str, object]:
        """JSON shape of `btcbot db backup --json`."""
        return {
            "source": self.source,
            "path": self.path,
            "size_bytes": self.size_bytes,
            "schema_version": self.schema_version,
            "integrity": "ok",
            "row_counts": self.row_counts,
            "elapsed_ms": self.elapsed_ms,
        }


def backup_database(
    db_path: str | os.PathLike[str], out: str | os.PathLike[str], *, force: bool = False
) -> BackupResult:
    """Copy the database at `db_path` to `out` while it may be in use; integrity-checked, 0600.

    Refuses (BackupError) a missing or empty source, an existing `out` unless `force`, a target
    that is the database itself or one of its files, or a missing target directory. Raises
    CorruptDatabase / StoreError for a source that fails inspection. Nothing is left behind on
    failure; an existing `out` is only replaced once the new copy passed its checks.
    """
    from btcbot_engine.store.migrations import schema_version_of

    started = time.monotonic()
    src = Path(db_path)
    target = Path(out)
    if not src.exists():
        raise BackupError(f"database {src} does not exist; nothing to back up")
    if target.resolve() in _companions(src):
        raise BackupRefused(f"{target} is the database or one of its files; choose another --out")
    if target.is_dir():
        raise BackupRefused(f"{target} is a directory; give a file name")
    if not target.parent.is_dir():
        raise BackupRefused(f"directory {target.parent} does not exist")
    if (target.exists() or target.is_symlink()) and not force:
        raise BackupRefused(f"{target} already exists; pass --force to overwrite it")
    version = _inspect(src, _TIMEOUT_S, None)
    if version == 0:
        raise BackupError(f"database {src} is empty; nothing to back up")

    temp = _new_private_file(target.parent, target.name)
    try:
        integrity = _copy_with_backup_api(src, temp, journal_mode="DELETE")
        if integrity != ["ok"]:
            raise BackupError(
                f"the copy of {src} failed its integrity check: {'; '.join(integrity[:3])}"
            )
        with contextlib.closing(_connect_ro(temp)) as conn:
            copied_version = schema_version_of(conn, label=str(temp))
            counts = _row_counts(conn)
        fsync_file(temp)
        if force:
            os.replace(temp, target)
        else:
            try:
                os.link(temp, target)  # atomic "create only if absent": never clobbers a file
            except FileExistsError:
                raise BackupRefused(
                    f"{target} already exists; pass --force to overwrite it"
                ) from None
            temp.unlink()
        fsync_dir(target.parent)
    except BaseException:
        _remove_quietly(temp)
        raise
    return BackupResult(
        source=str(src),
        path=str(target),
        size_bytes=target.stat().st_size,
        schema_version=copied_version,
        row_counts=counts,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )


# --- check -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DbCheck:
    """One line of `btcbot db check`: OK, WARN or FAIL, with what was found."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True, slots=True)
class DbCheckReport:
    """Every check on one database file, plus its row counts (empty when unreadable)."""

    path: str
    checks: tuple[DbCheck, ...]
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check is WARN or FAIL."""
        return all(c.status == "OK" for c in self.checks)

    @property
    def status(self) -> str:
        """The worst status: OK, WARN or FAIL."""
        statuses = {c.status for c in self.checks}
        return "FAIL" if "FAIL" in statuses else "WARN" if "WARN" in statuses else "OK"

    def to_json(self) -> dict[str, object]:
        """JSON shape of `btcbot db check --json`."""
        return {
            "path": self.path,
            "status": self.status,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks
            ],
            "row_counts": self.row_counts,
        }


def check_database(
    db_path: str | os.PathLike[str], *, account_key: str | None = None
) -> DbCheckReport:
    """Inspect the database read-only: file, mode, header, integrity, WAL, schema, account.

    Works while an engine writes to it. Never raises for a bad file: the report says what is
    wrong (a missing file is one FAIL).
    """
    from btcbot_engine.kill_request import pending_kill
    from btcbot_engine.store.migrations import LATEST_VERSION, schema_version_of

    path = Path(db_path)
    checks: list[DbCheck] = []
    counts: dict[str, int] = {}

    def add(name: str, status: str, detail: str) -> None:
        checks.append(DbCheck(name, status, detail))

    if not path.exists():
        add("file", "FAIL", f"{path} does not exist (no run has written state there yet)")
        return DbCheckReport(str(path), tuple(checks))
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        add("file", "FAIL", f"{path} is not a regular file")
        return DbCheckReport(str(path), tuple(checks))
    wal = Path(f"{path}-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    add("file", "OK", f"{info.st_size} bytes, WAL file {wal_size} bytes")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        add("mode", "WARN", f"{mode:04o}: readable by others; chmod 600 {path}")
    else:
        add("mode", "OK", f"{mode:04o}")

    try:
        version = _inspect(path, _TIMEOUT_S, None)
    except StoreError as exc:
        add("header", "FAIL", str(exc))
        return DbCheckReport(str(path), tuple(checks))
    add("header", "OK", "SQLite format 3")

    try:
        with _private_umask(), contextlib.closing(_connect_ro(path)) as conn:
            integrity = _integrity(conn)
            if integrity == ["ok"]:
                add("integrity", "OK", "ok")
            else:
                add("integrity", "FAIL", "; ".join(integrity[:5]))
            journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if journal == "wal":
                add("wal", "OK", "journal_mode wal")
            else:
                add("wal", "WARN", f"journal_mode {journal}; the next `btcbot run` sets wal")
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                add("foreign_keys", "FAIL", f"{len(broken)} rows break a foreign key")
            else:
                add("foreign_keys", "OK", "no violations")
            if version == 0:
                add("schema", "WARN", "empty database (no schema yet)")
            else:
                version = schema_version_of(conn, label=str(path))
                if version == LATEST_VERSION:
                    add("schema", "OK", f"version {version} (current)")
                else:
                    add(
                        "schema",
                        "WARN",
                        f"version {version}, this btcbot writes {LATEST_VERSION}; "
                        "the next `btcbot run` migrates it",
                    )
                bound = _meta(conn, "account_key")
                if account_key is not None and bound is not None and bound != account_key:
                    add("account", "FAIL", str(account_mismatch(path, bound, account_key)))
                else:
                    add("account", "OK", f"bound to account key {_short(bound)}")
            counts = _row_counts(conn)
    except sqlite3.DatabaseError as exc:
        add("integrity", "FAIL", f"cannot read {path}: {exc}")
    except StoreError as exc:
        add("schema", "FAIL", str(exc))

    holder = lock_holder(path)
    if holder is not None:
        add("lock", "OK", f"held by pid {holder} (an engine is running)")
    elif _lock_taken(path):
        add("lock", "OK", "held by a process that does not name itself")
    else:
        add("lock", "OK", "free (no engine running)")
    request = pending_kill(path)
    if request is not None:
        add("kill_request", "WARN", f"a kill request is pending: {request.reason}")
    return DbCheckReport(str(path), tuple(checks), counts)


def lock_holder(db_path: str | os.PathLike[str]) -> int | None:
    """The pid named in `<db>.lock` when that process is alive, else None.

    Reads the holder record only: taking the lock, even briefly, could make an engine that
    starts at that moment fail. (The record is cleared on release; a SIGKILLed holder's record
    stays, hence the liveness check.)
    """
    from btcbot_engine.store.lock import lock_path_of, parse_holder, pid_alive

    try:
        record = parse_holder(lock_path_of(db_path).read_bytes()[:4096])
    except OSError:
        return None
    pid = record.get("pid") if record is not None else None
    if not isinstance(pid, int) or pid <= 0:
        return None
    return pid if pid_alive(pid) else None


def _lock_taken(db_path: Path) -> bool:
    """Whether someone holds `<db>.lock` (probed with a shared, non-blocking flock).

    Only used when the lock file names no live holder, so an engine is (almost) never probed;
    the probe holds the shared lock for microseconds.
    """
    from btcbot_engine.store.lock import probe_held

    try:
        held, _ = probe_held(db_path)
    except OSError:
        return False
    return held


def _short(text: str | None) -> str:
    if text is None:
        return "(none)"
    return text if len(text) <= 8 else f"{text[:8]}…"


# --- restore -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A validated backup file: its schema version, account key and row counts."""

    path: str
    schema_version: int
    account_key: str
    row_counts: dict[str, int]


def validate_backup(
    backup: str | os.PathLike[str],
    account_key: str,
    *,
    db_path: str | os.PathLike[str] | None = None,
) -> BackupInfo:
    """Check that `backup` is a healthy btcbot database of a supported schema, bound to
    `account_key` (and not `db_path` itself). Read-only; raises BackupRefused / StoreError
    naming what is wrong."""
    from btcbot_engine.store.migrations import schema_version_of

    path = Path(backup)
    if not path.exists():
        raise BackupRefused(f"backup {path} does not exist")
    if not stat.S_ISREG(path.lstat().st_mode):
        raise BackupRefused(f"backup {path} is not a regular file")
    if db_path is not None and path.resolve() in _companions(Path(db_path)):
        raise BackupRefused(
            f"{path} is the database itself (or one of its files); nothing to restore"
        )
    version = _inspect(path, _TIMEOUT_S, None)  # header, foreign file, schema not newer
    if version == 0:
        raise BackupError(f"backup {path} is an empty database")
    try:
        with _private_umask(), contextlib.closing(_connect_ro(path)) as conn:
            integrity = _integrity(conn)
            if integrity != ["ok"]:
                raise BackupError(
                    f"backup {path} fails its integrity check: {'; '.join(integrity[:3])}"
                )
            version = schema_version_of(conn, label=str(path))
            bound = _meta(conn, "account_key")
            counts = _row_counts(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"backup {path} cannot be read: {exc}") from None
    if bound is None:
        raise BackupRefused(f"backup {path} is not bound to an account key; refusing to restore it")
    if bound != account_key:
        raise BackupRefused(
            f"backup {path} belongs to account key {_short(bound)}, but the configured keys are "
            f"account {_short(account_key)}; refusing to restore another account's state"
        )
    return BackupInfo(str(path), version, bound, counts)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """A finished restore: what was installed and where the previous database went."""

    db_path: str
    backup: str
    moved_aside: str | None
    schema_version: int
    row_counts: dict[str, int]

    def to_json(self) -> dict[str, object]:
        """JSON shape of `btcbot db restore --json`."""
        return {
            "db_path": self.db_path,
            "backup": self.backup,
            "moved_aside": self.moved_aside,
            "schema_version": self.schema_version,
            "row_counts": self.row_counts,
        }


def _aside_path(db: Path, now_s: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    candidate = db.with_name(f"{db.name}.before-restore-{stamp}")
    n = 1
    while candidate.exists() or Path(f"{candidate}-wal").exists():
        n += 1
        candidate = db.with_name(f"{db.name}.before-restore-{stamp}-{n}")
    return candidate


def restore_database(
    db_path: str | os.PathLike[str],
    backup: str | os.PathLike[str],
    *,
    account_key: str,
    command: str = "btcbot db restore",
    now_s: float | None = None,
) -> RestoreResult:
    """Replace the database at `db_path` with a copy of `backup`, keeping the old one aside.

    Raises InstanceLocked while an engine holds the database, BackupError / StoreError when the
    backup is not a healthy btcbot database of a supported schema bound to `account_key`; in
    every refusal no file is changed.
    """
    from btcbot_engine.store.lock import InstanceLock

    db = Path(db_path)
    src = Path(backup)
    with InstanceLock(db, account_key, command=command):
        info = validate_backup(src, account_key, db_path=db)
        db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = _new_private_file(db.parent, db.name)
        aside: Path | None = None
        moved_wal = False
        try:
            integrity = _copy_with_backup_api(src, temp, journal_mode="WAL")
            if integrity != ["ok"]:
                raise BackupError(f"the copy of {src} failed its integrity check")
            fsync_file(temp)
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            if db.exists():
                aside = _aside_path(db, time.time() if now_s is None else now_s)
                os.rename(db, aside)
                # The old file's WAL may hold its newest commits: it goes aside with it (SQLite
                # finds `<aside>-wal` by name); the -shm index is rebuilt on demand.
                if wal.exists():
                    os.rename(wal, Path(f"{aside}-wal"))
                    moved_wal = True
            elif wal.exists():
                # A WAL without its database must never be replayed into the restored file.
                aside = _aside_path(db, time.time() if now_s is None else now_s)
                os.rename(wal, Path(f"{aside}-wal"))
                moved_wal = True
            with contextlib.suppress(FileNotFoundError):
                shm.unlink()
            os.rename(temp, db)
            os.chmod(db, _FILE_MODE)
            fsync_dir(db.parent)
        except BaseException:
            _remove_quietly(temp)
            # Put the previous database back if it was already moved aside.
            if aside is not None and aside.exists() and not db.exists():
                with contextlib.suppress(OSError):
                    os.rename(aside, db)
            if moved_wal and Path(f"{aside}-wal").exists() and not Path(f"{db}-wal").exists():
                with contextlib.suppress(OSError):
                    os.rename(Path(f"{aside}-wal"), Path(f"{db}-wal"))
            raise
    return RestoreResult(
        db_path=str(db),
        backup=str(src),
        moved_aside=str(aside) if aside is not None else None,
        schema_version=info.schema_version,
        row_counts=info.row_counts,
    )
