"""Kill requests: how a process without the database lock asks the running engine to kill.

`btcbot panic` and `btcbot kill` cannot write the database while an engine holds its instance
lock, so they leave a small file next to it, `<STATE_DB_PATH>.kill` (JSON: reason, requested_ms,
pid). The engine's PreWriteGuard treats a pending request as killed at once (a stat before every
write), and the engine notices it before each cycle and between commands, runs its own kill path
(persisted kill + cancel our orders) and then consumes the file.

`engage_kill` and `clear_kill` set or clear the persisted kill state from outside the engine:
directly in the database when its lock is free, through a request when an engine holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from btcbot_engine.durable import fsync_dir

KILL_SUFFIX = ".kill"
#: The engine looks for a request at least this often while it waits between cycles (seconds).
ENGINE_POLL_S = 0.5
_FILE_MODE = 0o600
_MAX_READ = 4096


@dataclass(frozen=True, slots=True)
class KillRequest:
    """A pending request to trip the kill switch. `pid` is the requester's process id."""

    reason: str
    requested_ms: int
    pid: int | None

    def to_json(self) -> dict[str, object]:
        """The file's JSON shape."""
        return {"reason": self.reason, "requested_ms": self.requested_ms, "pid": self.pid}


def kill_request_path(db_path: str | os.PathLike[str]) -> Path:
    """`<db_path>.kill`: where the request for this database lives."""
    return Path(f"{os.fspath(db_path)}{KILL_SUFFIX}")


def request_kill(db_path: str | os.PathLike[str], reason: str) -> KillRequest:
    """Write (or replace) the kill request for `db_path`, atomically and with mode 0600.

    Written to a temporary name and renamed, so a reader never sees half a request. Raises
    OSError when the directory is missing or not writable.
    """
    target = kill_request_path(db_path)
    request = KillRequest(
        reason=reason.strip() or "operator",
        requested_ms=time.time_ns() // 1_000_000,
        pid=os.getpid(),
    )
    data = (json.dumps(request.to_json(), sort_keys=True) + "\n").encode()
    temp = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(target.parent)
    return request


def is_pending(db_path: str | os.PathLike[str]) -> bool:
    """True when a kill request exists (one stat; cheap enough for every write)."""
    return os.path.lexists(f"{os.fspath(db_path)}{KILL_SUFFIX}")


def pending_kill(db_path: str | os.PathLike[str]) -> KillRequest | None:
    """The pending request, or None. A stat when there is none (the common case).

    A file that exists but cannot be read or parsed still counts as a request (fail closed),
    with a reason that says so.
    """
    if not is_pending(db_path):
        return None
    path = kill_request_path(db_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            raw = os.read(fd, _MAX_READ)
        finally:
            os.close(fd)
        data = json.loads(raw.decode("utf-8", errors="replace"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        pid = data.get("pid")
        requested = data.get("requested_ms")
        return KillRequest(
            reason=str(data.get("reason") or "operator")[:200],
            requested_ms=int(requested) if isinstance(requested, int) else 0,
            pid=pid if isinstance(pid, int) else None,
        )
    except FileNotFoundError:
        return None  # consumed between the stat and the read
    except (OSError, ValueError) as exc:
        return KillRequest(
            reason=f"unreadable kill request ({type(exc).__name__})", requested_ms=0, pid=None
        )


def consume(db_path: str | os.PathLike[str]) -> bool:
    """Remove the pending request; True when there was one."""
    try:
        os.unlink(kill_request_path(db_path))
    except FileNotFoundError:
        return False
    return True


def wait_consumed(
    db_path: str | os.PathLike[str], timeout_s: float, *, poll_s: float = 0.1
) -> bool:
    """Poll until the request is consumed (by the running engine) or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not is_pending(db_path):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


# --- the persisted kill state, from outside the engine ------------------------------------------


@dataclass(frozen=True, slots=True)
class KillOutcome:
    """What `engage_kill` did.

    `how`: "persisted" (lock free: written to the database), "requested" (an engine holds the
    lock: request file written for it), or "request_only" (the database is missing or unusable:
    a request file was left so an engine started on it comes up killed). `ok` is True for the
    first two. `detail` is one sentence for the operator.
    """

    how: str
    ok: bool
    detail: str
    holder_pid: int | None = None
    holder_command: str | None = None
    request_path: str | None = None

    def to_json(self) -> dict[str, object]:
        """JSON shape used by `btcbot kill --json` and `btcbot panic --json`."""
        return {
            "how": self.how,
            "ok": self.ok,
            "detail": self.detail,
            "holder_pid": self.holder_pid,
            "holder_command": self.holder_command,
            "request_path": self.request_path,
        }


def engage_kill(
    db_path: str | os.PathLike[str], account_key: str | None, reason: str, *, command: str
) -> KillOutcome:
    """Set the persisted kill state of `db_path`, whatever state the database is in.

    Never raises for a locked, missing or corrupt database: the outcome says what happened.
    """
    from btcbot_engine.store.db import StoreError, open_database
    from btcbot_engine.store.lock import InstanceLock, InstanceLocked, LockError

    path = Path(db_path)
    request_path = str(kill_request_path(path))
    if not path.exists():
        return _request_only(path, reason, f"database {path} does not exist")
    lock = InstanceLock(path, account_key, command=command)
    try:
        lock.acquire()
    except InstanceLocked as exc:
        try:
            request_kill(path, reason)
        except OSError as err:
            return KillOutcome(
                "requested",
                False,
                f"{exc}; and the kill request {request_path} could not be written: "
                f"{err.strerror or err}",
                exc.pid,
                exc.holder.get("command"),
            )
        command_name = exc.holder.get("command")
        who = f"pid {exc.pid}" if exc.pid else "a process that does not name itself"
        if command_name:
            who += f" ({command_name})"
        return KillOutcome(
            "requested",
            True,
            f"{path} is held by {who}: wrote kill request {request_path}; submits are blocked "
            "now and the running engine trips its kill switch and cancels its orders",
            exc.pid,
            exc.holder.get("command"),
            request_path,
        )
    except LockError as exc:
        return _request_only(path, reason, f"cannot take the lock of {path}: {exc}")
    try:
        try:
            store = open_database(path, account_key=account_key)
        except StoreError as exc:
            return _request_only(path, reason, f"database unusable: {exc}")
        try:
            store.runtime.set_kill_switch(True)
        except StoreError as exc:
            return _request_only(path, reason, f"could not write the kill state: {exc}")
        finally:
            store.close()
        # Written to the database: a request left by an engine that died is now redundant.
        consume(path)
        return KillOutcome("persisted", True, f"kill switch persisted in {path}")
    finally:
        lock.release()


def _request_only(path: Path, reason: str, problem: str) -> KillOutcome:
    request_path = kill_request_path(path)
    try:
        request_kill(path, reason)
    except OSError as err:
        return KillOutcome(
            "request_only",
            False,
            f"{problem}; kill state NOT persisted (no request file either: {err.strerror or err})",
        )
    return KillOutcome(
        "request_only",
        False,
        f"{problem}; kill state not persisted in a database. Wrote {request_path}: an engine "
        "started on this path comes up killed",
        request_path=str(request_path),
    )


@dataclass(frozen=True, slots=True)
class ClearOutcome:
    """What `clear_kill` did: whether the database had the flag, whether a request was removed."""

    db_cleared: bool
    request_removed: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        """JSON shape used by `btcbot kill --clear --json`."""
        return {
            "db_cleared": self.db_cleared,
            "request_removed": self.request_removed,
            "detail": self.detail,
        }


def clear_kill(
    db_path: str | os.PathLike[str], account_key: str | None, *, command: str
) -> ClearOutcome:
    """Clear the persisted kill state and any pending request, with the lock held.

    Raises InstanceLocked while an engine holds the database (clear it there, in the TUI) and
    StoreError when the database cannot be opened; nothing is changed in either case.
    """
    from btcbot_engine.store.db import open_database
    from btcbot_engine.store.lock import InstanceLock

    path = Path(db_path)
    with InstanceLock(path, account_key, command=command):
        if not path.exists():
            removed = consume(path)
            detail = f"database {path} does not exist; " + (
                "removed the pending kill request" if removed else "there was nothing to clear"
            )
            return ClearOutcome(False, removed, detail)
        store = open_database(path, account_key=account_key)
        try:
            was = store.runtime.kill_switch()
            store.runtime.set_kill_switch(False)
        finally:
            store.close()
        removed = consume(path)
        parts = [
            "kill switch cleared in " + str(path) if was else f"kill switch was not set in {path}"
        ]
        if removed:
            parts.append("removed the pending kill request")
        return ClearOutcome(was, removed, "; ".join(parts))
