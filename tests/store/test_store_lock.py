"""Single-instance lock, exercised with real subprocesses (no fixed sleeps: children say READY)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from btcbot_engine.store.lock import InstanceLock, InstanceLocked, LockError

_CHILD = textwrap.dedent(
    """
    import sys
    from btcbot_engine.store.lock import InstanceLock, InstanceLocked

    lock = InstanceLock(sys.argv[1], "acct-child", command="btcbot run")
    if sys.argv[2] == "hold":
        lock.acquire()
        print("READY", flush=True)
        sys.stdin.read()  # hold until the parent closes our stdin (or kills us)
        lock.release()
        print("RELEASED", flush=True)
    else:
        try:
            lock.acquire()
        except InstanceLocked as exc:
            print("LOCKED", exc.pid, "|", exc, flush=True)
        else:
            print("ACQUIRED", flush=True)
    """
)


def _spawn(db_path: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db_path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    """The child's next stdout line; fails (rather than hangs) if it never comes."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            proc.kill()
            pytest.fail(f"child pid {proc.pid} printed nothing within {timeout} s")
    return proc.stdout.readline().strip()


@pytest.fixture
def holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the lock on db_path."""
    proc = _spawn(db_path, "hold")
    try:
        assert _read_line(proc) == "READY"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def _holder_record(db_path: Path) -> dict[str, object]:
    return json.loads(Path(f"{db_path}.lock").read_text())


def test_acquire_writes_holder_record_with_mode_0600(db_path: Path) -> None:
    lock = InstanceLock(db_path, "acct-1", command="btcbot run")
    old_umask = os.umask(0o022)
    try:
        lock.acquire()
    finally:
        os.umask(old_umask)
    try:
        assert lock.held
        assert lock.lock_path == Path(f"{db_path}.lock")
        assert stat.S_IMODE(lock.lock_path.stat().st_mode) == 0o600
        record = _holder_record(db_path)
        assert record["pid"] == os.getpid()
        assert record["account_key"] == "acct-1"
        assert record["command"] == "btcbot run"
        assert isinstance(record["started_ms"], int)
    finally:
        lock.release()
    assert not lock.held
    assert lock.lock_path.exists()  # never deleted (see lock.py)


def test_second_acquirer_in_this_process_is_refused(db_path: Path) -> None:
    with InstanceLock(db_path), pytest.raises(InstanceLocked) as info:
        InstanceLock(db_path).acquire()
    assert info.value.pid == os.getpid()
    assert "this process" in str(info.value)


def test_release_twice_and_reacquire(db_path: Path) -> None:
    lock = InstanceLock(db_path)
    lock.acquire()
    with pytest.raises(LockError):
        lock.acquire()
    lock.release()
    lock.release()
    with InstanceLock(db_path) as again:
        assert again.held


def test_other_process_holding_the_lock_refuses_us(
    db_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(InstanceLocked) as info:
        InstanceLock(db_path).acquire()
    message = str(info.value)
    assert info.value.pid == holder.pid
    assert (
        f"database {db_path} is in use by pid {holder.pid} (btcbot run); stop it first" == message
    )
    assert info.value.holder["account_key"] == "acct-child"

    # Once the holder exits cleanly, the lock is free.
    assert holder.stdin is not None
    holder.stdin.close()
    assert _read_line(holder) == "RELEASED"
    assert holder.wait(timeout=30) == 0
    with InstanceLock(db_path) as lock:
        assert lock.held


def test_we_holding_the_lock_refuses_another_process(db_path: Path) -> None:
    with InstanceLock(db_path, command="btcbot-tui"):
        proc = _spawn(db_path, "try")
        try:
            line = _read_line(proc)
        finally:
            proc.communicate(timeout=30)
    assert line.startswith(f"LOCKED {os.getpid()} |")
    assert f"database {db_path} is in use by pid {os.getpid()} (btcbot-tui)" in line


def test_stale_lock_from_a_killed_process_is_taken_over(
    db_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert _holder_record(db_path)["pid"] == holder.pid
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    # The dead holder's record is still in the file; the kernel dropped its flock.
    assert _holder_record(db_path)["pid"] == holder.pid

    with InstanceLock(db_path, "acct-2") as lock:
        assert lock.held
        record = _holder_record(db_path)
        assert record["pid"] == os.getpid()
        assert record["account_key"] == "acct-2"


def test_loose_lock_file_mode_is_tightened(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    lock_path = Path(f"{db_path}.lock")
    lock_path.write_text('{"pid": 1, "command": "old", "padding": "' + "x" * 200 + '"}')
    os.chmod(lock_path, 0o644)
    with InstanceLock(db_path):
        assert stat.S_IMODE(lock_path.stat().st_mode) == 0o600
        assert _holder_record(db_path)["pid"] == os.getpid()  # longer stale record fully replaced


def test_symlinked_lock_file_is_refused(db_path: Path, tmp_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_text("do not touch")
    Path(f"{db_path}.lock").symlink_to(target)
    with pytest.raises(LockError, match="cannot open lock file"):
        InstanceLock(db_path).acquire()
    assert target.read_text() == "do not touch"


def test_message_without_a_holder_record(db_path: Path) -> None:
    exc = InstanceLocked(str(db_path), Path(f"{db_path}.lock"), None)
    assert exc.pid is None
    assert "in use by another process" in str(exc)
