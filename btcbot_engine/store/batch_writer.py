"""The backtest's batch writer process: reads batches on stdin, writes each in one transaction.

`WriteBehindStore` (store/write_behind.py) starts it as
`python -m btcbot_engine.store.batch_writer DB` when it writes through forked row builders: a
fork child turns the queued records into rows and streams them here, so the engine process
neither builds rows nor talks SQLite while it runs. This process was started fresh (not
forked), so it opens its own connection with no SQLite state inherited from the engine.

Protocol on stdin (bytes):
  `B <n>\\n`                    a batch of n statements follows
  `<a> <b>\\n` + a + b bytes    one statement: SQL text (a bytes) and its one parameter (b bytes)
  `E\\n`                        the end: exit 0
A batch is committed only once all of it has arrived; end of input anywhere else means the
engine is gone, and nothing of the unfinished batch is written (exit 3). A failed write rolls
back, prints one line on stderr and exits 1. Standard library only: it starts in milliseconds.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable
from typing import BinaryIO

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CUT_OFF = 3
# The engine passes store.db's BUSY_TIMEOUT_MS (this module imports nothing of the engine:
# it must start in milliseconds).
DEFAULT_BUSY_TIMEOUT_MS = 5000


class CutOff(Exception):
    """Input ended in the middle of a batch."""


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CutOff(f"expected {size} bytes, got {len(data)}")
    return data


def read_batch(stream: BinaryIO, header: bytes) -> list[tuple[str, str]]:
    """The statements of the batch announced by `header` (`B <n>`)."""
    tag, _, count = header.strip().partition(b" ")
    if tag != b"B" or not count.isdigit():
        raise ValueError(f"bad batch header {header[:40]!r}")
    out = []
    for _ in range(int(count)):
        line = stream.readline()
        if not line.endswith(b"\n"):
            raise CutOff("statement header cut off")
        sql_len, _, data_len = line.strip().partition(b" ")
        if not (sql_len.isdigit() and data_len.isdigit()):
            raise ValueError(f"bad statement header {line[:40]!r}")
        sql = _read_exact(stream, int(sql_len)).decode()
        out.append((sql, _read_exact(stream, int(data_len)).decode()))
    return out


def connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection for batch writes: explicit transactions, foreign keys enforced, WAL-safe
    `synchronous = NORMAL` (a backtest's output is rebuilt by running it again)."""
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def execute_all(conn: sqlite3.Connection, statements: Iterable[tuple[str, str]]) -> None:
    """Each statement with its one parameter (a table's rows as a JSON array), in order."""
    for sql, parameter in statements:
        conn.execute(sql, (parameter,))


def write_batch(conn: sqlite3.Connection, statements: Iterable[tuple[str, str]]) -> None:
    """All of `statements` in one IMMEDIATE transaction: every row lands, or none does."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        execute_all(conn, statements)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def run(path: str, stream: BinaryIO, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> int:
    """Write every batch read from `stream` into the database at `path`; the exit code."""
    conn = connect(path, busy_timeout_ms)
    try:
        while True:
            header = stream.readline()
            if header == b"E\n":
                return EXIT_DONE
            if not header:
                raise CutOff("input ended without the end mark")
            write_batch(conn, read_batch(stream, header))
    except CutOff as exc:
        print(f"batch writer: the engine stopped mid-stream ({exc}); nothing partial written",
              file=sys.stderr)  # fmt: skip
        return EXIT_CUT_OFF
    except (sqlite3.Error, ValueError, UnicodeDecodeError) as exc:
        print(f"batch writer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m btcbot_engine.store.batch_writer DB [BUSY_TIMEOUT_MS]`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].isdigit()):
        print("usage: python -m btcbot_engine.store.batch_writer DB [BUSY_TIMEOUT_MS]",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    timeout = int(args[1]) if len(args) == 2 else DEFAULT_BUSY_TIMEOUT_MS
    return run(args[0], sys.stdin.buffer, timeout)


if __name__ == "__main__":
    sys.exit(main())
