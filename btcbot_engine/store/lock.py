"""Single-instance lock: one btcbot process per state database.

Two engines on one database would both submit orders and both write the ledger. The lock is an
exclusive `flock` on `<db>.lock`, held for the life of the process. The kernel drops a flock when
its holder dies (even by SIGKILL), so a stale lock file needs no cleanup: the next acquirer simply
gets the lock and rewrites the holder details. The file is never deleted: unlinking a lock file
lets a waiter lock the old inode while a newcomer locks a new one, and then two processes "hold"
the lock.

Linux/macOS only (fcntl). flock is not reliable on network filesystems; keep the state on a
local disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

_FILE_MODE = 0o600
_MAX_READ = 4096


class LockError(Exception):
    """The lock file could not be created or used."""


class InstanceLocked(LockError):
    """Another process holds the database. `pid` is the holder's pid when the file names it."""

    def __init__(self, db_path: str, lock_path: Path, holder: dict[str, Any] | None) -> None:
        self.db_path = db_path
        self.lock_path = lock_path
        self.holder = holder or {}
        raw_pid = self.holder.get("pid")
        self.pid: int | None = raw_pid if isinstance(raw_pid, int) and raw_pid > 0 else None
        super().__init__(self._message())

    def _message(self) -> str:
        if self.pid is None:
            return (
                f"database {self.db_path} is in use by another process "
                f"(its lock file {self.lock_path} does not name it yet); stop it first"
            )
        command = self.holder.get("command")
        who = f"pid {self.pid}" + (f" ({command})" if command else "")
        if self.pid == os.getpid():
            return f"database {self.db_path} is already in use by this process ({who})"
        message = f"database {self.db_path} is in use by {who}; stop it first"
        if not pid_alive(self.pid):
            # flock is inherited across fork: a child of the dead holder may still keep it.
            message += (
                f" (pid {self.pid} has exited; a child process of it may still hold the lock)"
            )
        return message


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _default_command() -> str:
    argv = sys.argv or [""]
    program = Path(argv[0]).name if argv[0] not in ("", "-c", "-m") else "python"
    sub = next((arg for arg in argv[1:2] if not arg.startswith("-")), None)
    return f"{program} {sub}" if sub else program


def parse_holder(raw: bytes) -> dict[str, Any] | None:
    """The holder record (pid, command, ...) read from a lock file; None when unreadable."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        # raw_decode: a holder rewriting a longer stale record may briefly leave a tail behind.
        value, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def lock_path_of(db_path: str | os.PathLike[str]) -> Path:
    """Where the instance lock of a database lives: `<db>.lock`."""
    return Path(f"{os.fspath(db_path)}.lock")


def probe_held(db_path: str | os.PathLike[str]) -> tuple[bool, bytes]:
    """Whether someone holds the lock, and the lock file's first bytes, without taking it.

    A shared, non-blocking flock on a read-only descriptor, let go at once: nothing is written
    (an engine starting in that same microsecond would be told the database is in use). Raises
    OSError when the lock file cannot be opened (FileNotFoundError: no lock file yet).
    """
    fd = os.open(lock_path_of(db_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, os.pread(fd, _MAX_READ, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, b""
    finally:
        os.close(fd)


class InstanceLock:
    """An exclusive, process-lifetime lock on `<db_path>.lock` naming its holder.

    Use `acquire()`/`release()` or `with InstanceLock(path):`. A second acquirer, in this or
    another process, gets InstanceLocked naming the holder's pid and the database.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        account_key: str | None = None,
        *,
        command: str | None = None,
    ) -> None:
        self.db_path = str(db_path)
        self.lock_path = Path(f"{self.db_path}.lock")
        self.account_key = account_key
        self.command = command or _default_command()
        self._fd: int | None = None
        self._owner_pid: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock (in the process that acquired it)."""
        return self._fd is not None and self._owner_pid == os.getpid()

    def acquire(self) -> None:
        """Take the lock or raise InstanceLocked (held elsewhere) / LockError (cannot open)."""
        if self._fd is not None:
            raise LockError(f"{self.lock_path} is already held by this InstanceLock")
        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(self.lock_path, flags, _FILE_MODE)
        except OSError as exc:
            raise LockError(f"cannot open lock file {self.lock_path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = parse_holder(os.pread(fd, _MAX_READ, 0))
            finally:
                os.close(fd)
            raise InstanceLocked(self.db_path, self.lock_path, holder) from None
        except OSError as exc:
            os.close(fd)
            raise LockError(f"cannot lock {self.lock_path}: {exc.strerror}") from exc
        try:
            os.fchmod(fd, _FILE_MODE)  # a file left by an older run may have looser bits
            self._write_holder(fd)
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise LockError(f"cannot write lock file {self.lock_path}: {exc.strerror}") from exc
        self._fd = fd
        self._owner_pid = os.getpid()

    def _write_holder(self, fd: int) -> None:
        record = {
            "pid": os.getpid(),
            "command": self.command,
            "account_key": self.account_key,
            "db_path": self.db_path,
            "host": socket.gethostname(),
            "started_ms": time.time_ns() // 1_000_000,
        }
        data = (json.dumps(record, sort_keys=True) + "\n").encode()
        # Write then trim (not trim then write) so a concurrent reader never sees an empty file.
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        os.fsync(fd)

    def release(self) -> None:
        """Give the lock up. Safe to call twice; never deletes the lock file (see module doc)."""
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        try:
            if self._owner_pid == os.getpid():
                # Clear our record while we still hold the lock, so no stale pid lingers.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            # In a forked child the descriptor shares the parent's lock: closing our copy must
            # not (and does not) release it, but LOCK_UN would.
        finally:
            os.close(fd)
            self._owner_pid = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"InstanceLock({self.db_path!r}, held={self.held})"
