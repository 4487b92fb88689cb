"""Structured JSON logs with run/cycle context and secret redaction.

One handler on the root logger writes one JSON object per line. Every record that reaches it, from
our own loggers or from libraries (httpx, websockets), first passes through `RedactionFilter`,
which removes API keys, secrets and signatures from the message, its args, `extra=` fields and
exception text. The filter rewrites the record in place, and our handler is put first on the root
logger, so handlers that run after it (pytest's caplog, a stray basicConfig) see the redacted
record too.

Redaction has three sources:
1. values registered with `register_secret()` / `configure_logging(secrets=...)`;
2. patterns that need no registration: sensitive key/value pairs (`X-PCK: ...`,
   `"signature": "..."`, `api_secret=...`, `('x-signature', '...')`, `Authorization: Bearer ...`)
   and padded base64 strings of 40+ characters (the shape of BTCTurk secrets and HMAC signatures);
3. objects with `get_secret_value()` (pydantic `SecretStr`) are never unwrapped.

Context (`run_id`, `cycle_id`) lives in contextvars. A new thread starts with an empty context, so
the engine thread calls `set_run_id()` (or enters `log_context()`) itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO
from urllib.parse import quote

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactionFilter",
    "clear_registered_secrets",
    "configure_logging",
    "current_cycle_id",
    "current_run_id",
    "log_context",
    "new_run_id",
    "redact",
    "redact_data",
    "register_secret",
    "set_cycle_id",
    "set_run_id",
]

REDACTED = "***REDACTED***"

# Shorter values would redact ordinary words and numbers all over the log.
_MIN_SECRET_LEN = 6
# Library loggers that log every request at INFO/DEBUG; WARNING keeps their errors only.
_NOISY_LOGGERS = ("httpx", "httpcore", "websockets")
# Nested extras deeper than this are cut, which also stops reference cycles.
_MAX_DEPTH = 8


class _HasSecretValue(Protocol):
    def get_secret_value(self) -> str: ...


# --------------------------------------------------------------------------------------------
# Registered secrets
# --------------------------------------------------------------------------------------------

_secrets_lock = threading.Lock()
_registered: set[str] = set()
# Rebuilt on every registration; readers take the current reference without locking.
_registered_re: re.Pattern[str] | None = None


def register_secret(value: str | _HasSecretValue | None) -> None:
    """Redact `value` wherever it appears in later log records and in `redact()`.

    Accepts a plain string or a `SecretStr`-like object. Empty values and values shorter than
    6 characters are ignored (they would redact ordinary text). The URL-encoded form is registered
    too, because keys can show up in logged URLs.
    """
    if value is None:
        return
    raw = value if isinstance(value, str) else value.get_secret_value()
    raw = raw.strip()
    if len(raw) < _MIN_SECRET_LEN:
        return
    global _registered_re
    with _secrets_lock:
        before = len(_registered)
        _registered.update({raw, quote(raw, safe="")})
        if len(_registered) != before:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(_registered, key=len, reverse=True)
            _registered_re = re.compile("|".join(re.escape(s) for s in ordered))


def clear_registered_secrets() -> None:
    """Forget all registered secrets (for tests; patterns still apply)."""
    global _registered_re
    with _secrets_lock:
        _registered.clear()
        _registered_re = None


# --------------------------------------------------------------------------------------------
# Pattern redaction
# --------------------------------------------------------------------------------------------

# A key is sensitive when its name contains one of these (case-insensitive): covers X-PCK,
# X-Signature, Authorization, api_secret, apiSecret, BTCTURK_API_SECRET, BTCTURK_API_KEY,
# publicKey, privateKey, secret, ...
_SENSITIVE_KEY_RE = re.compile(
    r"secret|signature|x-pck|authorization|api[_-]?key|public[_-]?key|private[_-]?key"
    r"|password|passphrase|credential|(?:access|refresh|auth|bearer|session)[_-]?token",
    re.IGNORECASE,
)

# key (optionally quoted) + separator + value. The key is matched as a whole token of bounded
# length and judged in Python, which keeps the regex linear on long inputs. A comma separator is
# only accepted between two quoted strings: the `('x-pck', '...')` items of a headers repr.
_KV_RE = re.compile(
    r"""
    (?P<kq>["'])?
    (?<![\w.-])(?P<key>[\w.-]{1,64})
    (?(kq)(?P=kq))
    (?P<sep>\s*[:=]\s*|(?(kq)\s*,\s*(?=["'])|(?!)))
    (?P<val>
        "(?:[^"\\\n]|\\.)*"
      | '(?:[^'\\\n]|\\.)*'
      | (?:(?:bearer|basic|token|hmac)\s+)?[^\s,;&'"(){}\[\]<>]+
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)

# Padded base64 of 40+ characters: BTCTurk secrets and HMAC-SHA256 signatures (32 bytes -> 44
# characters ending in "="). Hex digests and git hashes never contain "=", so they survive.
_B64_RE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={1,2}(?![A-Za-z0-9+/=])")

# Values that cannot be secrets; `signature_ok=True` stays readable.
_HARMLESS_VALUES = frozenset({"true", "false", "none", "null", "", REDACTED.lower()})


def _kv_replace(match: re.Match[str]) -> str:
    if not _SENSITIVE_KEY_RE.search(match.group("key")):
        return match.group(0)
    val = match.group("val")
    quote_char = val[0] if val[:1] in ("'", '"') else ""
    inner = val[1:-1] if quote_char else val
    if inner.strip().lower() in _HARMLESS_VALUES:
        return match.group(0)
    prefix = match.group(0)[: match.start("val") - match.start(0)]
    return f"{prefix}{quote_char}{REDACTED}{quote_char}"


def redact(text: str) -> str:
    """Return `text` with registered secrets and secret-looking values replaced by REDACTED.

    Safe to use for CLI error messages, exports and anything shown to a user.
    """
    if not isinstance(text, str):
        text = str(text)
    pattern = _registered_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _KV_RE.sub(_kv_replace, text)
    return _B64_RE.sub(REDACTED, text)


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def redact_data(value: object, _depth: int = 0) -> Any:
    """Return a JSON-safe copy of `value` with secrets removed.

    Strings are passed through `redact()`; mappings keep their shape, but a sensitive key
    (`X-PCK`, `signature`, `api_secret`...) has its whole value replaced; lists, tuples and sets
    become lists; `SecretStr`-like objects become REDACTED without being unwrapped; any other
    object becomes its redacted `str()`.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        # json.dumps would write NaN/Infinity, which is not JSON.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return redact(value)
    if hasattr(value, "get_secret_value"):
        return REDACTED
    if _depth >= _MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            key_text = _safe_str(key)
            if _SENSITIVE_KEY_RE.search(key_text) and not (item is None or isinstance(item, bool)):
                out[redact(key_text)] = REDACTED
            else:
                out[redact(key_text)] = redact_data(item, _depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_data(item, _depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return redact(repr(bytes(value)))
    return redact(_safe_str(value))


# --------------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------------

_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("btcbot_run_id", default=None)
_cycle_id: contextvars.ContextVar[int | str | None] = contextvars.ContextVar(
    "btcbot_cycle_id", default=None
)
_UNSET: Any = object()


def new_run_id() -> str:
    """Return a short id that sorts by creation time, e.g. `20250101T120000123Z-a1b2c3`."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    millis = int(now * 1000) % 1000
    return f"{stamp}{millis:03d}Z-{os.urandom(3).hex()}"


def set_run_id(run_id: str | None) -> contextvars.Token[str | None]:
    """Set the run id for the current context (thread / task); returns a token for `reset`."""
    return _run_id.set(run_id)


def set_cycle_id(cycle_id: int | str | None) -> contextvars.Token[int | str | None]:
    """Set the cycle id for the current context; returns a token for `reset`."""
    return _cycle_id.set(cycle_id)


def current_run_id() -> str | None:
    """The run id of the current context, or None."""
    return _run_id.get()


def current_cycle_id() -> int | str | None:
    """The cycle id of the current context, or None."""
    return _cycle_id.get()


@contextlib.contextmanager
def log_context(
    *, run_id: str | None = _UNSET, cycle_id: int | str | None = _UNSET
) -> Iterator[None]:
    """Set `run_id` and/or `cycle_id` for records logged inside the block; restore on exit.

    An argument that is not given keeps its current value.
    """
    tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    if run_id is not _UNSET:
        tokens.append((_run_id, _run_id.set(run_id)))
    if cycle_id is not _UNSET:
        tokens.append((_cycle_id, _cycle_id.set(cycle_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


# --------------------------------------------------------------------------------------------
# Filter, formatter, handler
# --------------------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_DONE_ATTR = "_btcbot_redacted"
_EXC_ATTR = "_btcbot_exc"
_PRIVATE_ATTRS = frozenset({_DONE_ATTR, _EXC_ATTR, "run_id", "cycle_id"})


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [k for k in record.__dict__ if k not in _RECORD_ATTRS and k not in _PRIVATE_ATTRS]


def _redact_record(record: logging.LogRecord) -> None:
    """Rewrite `record` in place so that nothing on it carries a secret."""
    if getattr(record, _DONE_ATTR, False):
        return
    try:
        message = record.getMessage()
    except Exception:
        # Bad format string or args: keep both, redacted, instead of losing the record.
        message = f"{_safe_str(record.msg)} args={_safe_str(record.args)}"
    record.msg = redact(message)
    record.args = None

    for key in _extra_keys(record):
        value = record.__dict__[key]
        if _SENSITIVE_KEY_RE.search(key) and not (value is None or isinstance(value, bool)):
            record.__dict__[key] = REDACTED
        else:
            record.__dict__[key] = redact_data(value)

    if record.exc_info and record.exc_info[0] is not None:
        exc_type, exc_value, exc_tb = record.exc_info
        text = "".join(traceback.format_exception(exc_type, exc_value, exc_tb)).rstrip("\n")
        record.__dict__[_EXC_ATTR] = (
            exc_type.__name__,
            redact(_safe_str(exc_value)),
        )
        record.exc_text = redact(text)
        # The exception object (and its frames) still hold the raw text; other formatters would
        # re-render it, so only the redacted text stays on the record.
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)

    if "run_id" not in record.__dict__:
        record.__dict__["run_id"] = _run_id.get()
    if "cycle_id" not in record.__dict__:
        record.__dict__["cycle_id"] = _cycle_id.get()
    record.__dict__[_DONE_ATTR] = True


def _scrub_record(record: logging.LogRecord, error: BaseException) -> None:
    """Fallback when redaction itself failed: keep only harmless metadata."""
    for key in _extra_keys(record):
        del record.__dict__[key]
    record.__dict__.pop(_EXC_ATTR, None)
    record.msg = f"{REDACTED} (log record dropped: redaction failed with {type(error).__name__})"
    record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    record.__dict__.setdefault("run_id", None)
    record.__dict__.setdefault("cycle_id", None)
    record.__dict__[_DONE_ATTR] = True


class RedactionFilter(logging.Filter):
    """Handler filter that redacts a record in place and adds run_id / cycle_id.

    It never raises and never lets the raw record through: if redaction fails, the record is
    replaced by a placeholder message; if even that fails, the record is dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _redact_record(record)
        except Exception as error:
            try:
                _scrub_record(record, error)
            except Exception:
                return False
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, run_id, cycle_id, extras, exc_*."""

    def format(self, record: logging.LogRecord) -> str:
        # Normally RedactionFilter ran already; this covers a handler built without it.
        if not getattr(record, _DONE_ATTR, False) and not RedactionFilter().filter(record):
            return json.dumps({"level": "ERROR", "message": f"{REDACTED} (record dropped)"})
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        payload: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _safe_str(record.msg),
            "run_id": record.__dict__.get("run_id"),
            "cycle_id": record.__dict__.get("cycle_id"),
        }
        for key in _extra_keys(record):
            # Core keys win; a clashing extra is kept under a prefixed name.
            name = key if key not in payload else f"extra_{key}"
            payload[name] = record.__dict__[key]
        exc = record.__dict__.get(_EXC_ATTR)
        if exc is not None:
            payload["exc_type"], payload["exc_message"] = exc
            payload["traceback"] = record.exc_text
        elif record.exc_text:
            payload["traceback"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        # Values are JSON-safe after redaction; `default` only guards against surprises.
        return json.dumps(payload, default=lambda o: redact(_safe_str(o)), ensure_ascii=True)


class _JsonHandler(logging.StreamHandler):
    """StreamHandler whose error report never prints the record (it may hold raw data)."""

    def handleError(self, record: logging.LogRecord) -> None:
        if logging.raiseExceptions and sys.stderr is not None:
            error = sys.exc_info()[1]
            with contextlib.suppress(Exception):
                sys.stderr.write(
                    f"btcbot logging: failed to emit a record from {record.name!r}: "
                    f"{type(error).__name__}\n"
                )


_MARKER = "_btcbot_json_handler"


def configure_logging(
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Send all logging to `stream` (default: stderr) as redacted JSON lines.

    Installs one handler on the root logger, so library loggers are redacted as well; calling
    again replaces that handler instead of adding a second one. httpx, httpcore and websockets
    are set to WARNING. `secrets` are registered as with `register_secret()`.
    """
    levels = logging.getLevelNamesMapping()
    level_name = level.upper()
    if level_name not in levels:
        raise ValueError(f"unknown log level {level!r}")
    for value in secrets:
        register_secret(value)

    handler = _JsonHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _MARKER, True)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARKER, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    # First in line: our filter rewrites the shared record before any other root handler
    # (a stray basicConfig, pytest's caplog) formats it.
    root.handlers.remove(handler)
    root.handlers.insert(0, handler)
    root.setLevel(levels[level_name])
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
