"""JSON logs, run/cycle context and secret redaction (btcbot_engine.observability)."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from btcbot_engine import observability as obs
from btcbot_engine.observability import (
    REDACTED,
    configure_logging,
    log_context,
    new_run_id,
    redact,
    redact_data,
    register_secret,
    set_run_id,
)

# Worked example from docs (btcturk-api.md section 2): made-up, but shaped like real credentials.
KEY = "11111111-2222-3333-4444-555555555555"
SECRET = "ZmFrZS1idGN0dXJrLXNlY3JldC1mb3ItdGVzdHMtMzI="
SIGNATURE = "cajMaTyfrk/yWw6DU07dCqPZBnBpMp4rvEchYx679WA="  # never registered
UNREGISTERED = "hunter2-not-base64-value"  # only caught by key patterns
RAW = (KEY, SECRET, SIGNATURE, UNREGISTERED)
REQUIRED_KEYS = {"ts", "level", "logger", "message", "run_id", "cycle_id"}
LIB_LOGGERS = ("httpx", "httpcore", "websockets")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test starts from the current logging setup and leaves it as it found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    lib_levels = {name: logging.getLogger(name).level for name in LIB_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lib_level in lib_levels.items():
        logging.getLogger(name).setLevel(lib_level)
    obs.clear_registered_secrets()


@pytest.fixture
def out() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream, secrets=[KEY, SECRET])
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Parse every output line as JSON (fails the test on any non-JSON line)."""
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    for obj in parsed:
        assert obj.keys() >= REQUIRED_KEYS, obj
    return parsed


def assert_clean(stream: io.StringIO) -> None:
    text = stream.getvalue()
    for raw in RAW:
        assert raw not in text
    assert REDACTED in text


def _raise_auth_error() -> None:
    raise PermissionError(f"401 for key {KEY} secret {SECRET} sig {SIGNATURE}")


# -- every carrier, one at a time ------------------------------------------------------------


def _log_message(log: logging.Logger) -> None:
    log.info(f"signing with {KEY} and {SECRET}")


def _log_args(log: logging.Logger) -> None:
    log.info("key=%s secret=%s", KEY, SECRET)


def _log_mapping_args(log: logging.Logger) -> None:
    log.info("key=%(k)s secret=%(s)s", {"k": KEY, "s": SECRET})


def _log_extra_nested(log: logging.Logger) -> None:
    log.info(
        "request",
        extra={
            "request": {"headers": {"X-PCK": KEY}, "chain": [SECRET, ("t", {"deep": SIGNATURE})]},
            "note": f"free text {KEY} api_secret={UNREGISTERED}",
        },
    )


def _log_extra_sensitive_name(log: logging.Logger) -> None:
    log.info("creds", extra={"api_secret": UNREGISTERED, "publicKey": UNREGISTERED})


def _log_exception(log: logging.Logger) -> None:
    try:
        _raise_auth_error()
    except PermissionError:
        log.exception("auth failed")


def _log_chained_exception(log: logging.Logger) -> None:
    try:
        try:
            _raise_auth_error()
        except PermissionError as err:
            raise RuntimeError(f"wrapped {SIGNATURE}") from err
    except RuntimeError:
        log.error("boom", exc_info=True)


def _log_header_dict(log: logging.Logger) -> None:
    headers = {"X-PCK": KEY, "X-Stamp": "1700000000000", "X-Signature": SIGNATURE}
    log.debug("headers %s", headers)


def _log_header_repr(log: logging.Logger) -> None:
    items = [("x-pck", UNREGISTERED), ("x-stamp", "1700000000000"), ("x-signature", SIGNATURE)]
    log.debug("sent %r", f"Headers({items!r})")


def _log_kv_strings(log: logging.Logger) -> None:
    log.warning(
        "env api_secret=%s BTCTURK_API_SECRET=%s BTCTURK_API_KEY=%s",
        UNREGISTERED,
        UNREGISTERED,
        UNREGISTERED,
    )


def _log_ws_login(log: logging.Logger) -> None:
    frame = {"type": 114, "publicKey": UNREGISTERED, "nonce": 3000, "signature": SIGNATURE}
    log.debug("ws send %s", json.dumps(frame))


def _log_msg_object(log: logging.Logger) -> None:
    log.info({"privateKey": UNREGISTERED, "secret": SECRET})


def _log_stack_info(log: logging.Logger) -> None:
    log.info("here %s", KEY, stack_info=True)


CARRIERS = [
    _log_message,
    _log_args,
    _log_mapping_args,
    _log_extra_nested,
    _log_extra_sensitive_name,
    _log_exception,
    _log_chained_exception,
    _log_header_dict,
    _log_header_repr,
    _log_kv_strings,
    _log_ws_login,
    _log_msg_object,
    _log_stack_info,
]


@pytest.mark.parametrize("emit", CARRIERS, ids=[c.__name__[5:] for c in CARRIERS])
def test_no_secret_reaches_the_output(out: io.StringIO, emit: Any) -> None:
    emit(logging.getLogger("btcbot_engine.test"))
    assert len(lines(out)) == 1
    assert_clean(out)


def test_all_carriers_together_one_valid_json_line_each(out: io.StringIO) -> None:
    log = logging.getLogger("btcbot_engine.oms")
    for emit in CARRIERS:
        emit(log)
    records = lines(out)
    assert len(records) == len(CARRIERS)
    assert_clean(out)
    assert all(r["logger"] == "btcbot_engine.oms" for r in records)


def test_exception_fields(out: io.StringIO) -> None:
    _log_exception(logging.getLogger("btcbot_engine.rest"))
    (record,) = lines(out)
    assert record["level"] == "ERROR"
    assert record["message"] == "auth failed"
    assert record["exc_type"] == "PermissionError"
    assert record["exc_message"].startswith("401 for key ***REDACTED***")
    assert record["traceback"].startswith("Traceback (most recent call last):")
    assert "_raise_auth_error" in record["traceback"]
    assert_clean(out)


def test_message_is_formatted_and_fields_present(out: io.StringIO) -> None:
    logging.getLogger("btcbot_engine.x").info(
        "filled %s of %d", "0.5", 3, extra={"symbol": "BTCTRY", "qty": 1.5}
    )
    (record,) = lines(out)
    assert record["message"] == "filled 0.5 of 3"
    assert record["level"] == "INFO"
    assert record["logger"] == "btcbot_engine.x"
    assert record["symbol"] == "BTCTRY"
    assert record["qty"] == 1.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])
    assert "exc_type" not in record


def test_extra_clashing_with_core_key_is_kept_under_prefix(out: io.StringIO) -> None:
    logging.getLogger("btcbot_engine.x").info("m", extra={"level": "custom", "ts": 5})
    (record,) = lines(out)
    assert record["level"] == "INFO"
    assert record["extra_level"] == "custom"
    assert record["extra_ts"] == 5


def test_unserialisable_extras_become_strings(out: io.StringIO) -> None:
    from decimal import Decimal

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    logging.getLogger("btcbot_engine.x").info(
        "m", extra={"price": Decimal("1.10"), "bad": Unprintable(), "nan": float("nan")}
    )
    (record,) = lines(out)
    assert record["price"] == "1.10"
    assert record["bad"] == "<unprintable Unprintable>"
    assert record["nan"] == "nan"


# -- context ---------------------------------------------------------------------------------


def test_run_and_cycle_id_from_log_context(out: io.StringIO) -> None:
    log = logging.getLogger("btcbot_engine.engine")
    log.info("before")
    with log_context(run_id="run-1", cycle_id=7):
        log.info("in cycle")
        with log_context(cycle_id=8):
            log.info("next cycle")
    log.info("after")
    records = lines(out)
    assert [(r["run_id"], r["cycle_id"]) for r in records] == [
        (None, None),
        ("run-1", 7),
        ("run-1", 8),
        (None, None),
    ]


def test_set_run_id_and_extra_override(out: io.StringIO) -> None:
    log = logging.getLogger("btcbot_engine.engine")
    token = set_run_id("run-2")
    try:
        log.info("a")
        log.info("b", extra={"run_id": "explicit"})
        assert obs.current_run_id() == "run-2"
    finally:
        obs._run_id.reset(token)
    assert [r["run_id"] for r in lines(out)] == ["run-2", "explicit"]


def test_context_is_per_thread(out: io.StringIO) -> None:
    log = logging.getLogger("btcbot_engine.engine")

    def worker() -> None:
        with log_context(run_id="thread-run", cycle_id=1):
            log.info("from thread")

    with log_context(run_id="main-run"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        log.info("from main")
    assert sorted((r["message"], r["run_id"]) for r in lines(out)) == [
        ("from main", "main-run"),
        ("from thread", "thread-run"),
    ]


def test_new_run_id_is_short_unique_and_sortable(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for now in (1_700_000_000.001, 1_700_000_000.002, 1_700_000_001.5):
        monkeypatch.setattr(obs.time, "time", lambda now=now: now)
        ids.append(new_run_id())
    assert ids == sorted(ids)
    assert all(re.fullmatch(r"\d{8}T\d{9}Z-[0-9a-f]{6}", i) for i in ids)
    assert ids[0] == "20231114T221320001Z-" + ids[0][-6:]
    monkeypatch.undo()
    assert len({new_run_id() for _ in range(50)}) == 50


# -- configuration ---------------------------------------------------------------------------


def test_configure_twice_gives_one_line_per_record() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    logging.getLogger("btcbot_tui.app").info("once")
    assert first.getvalue() == ""
    assert [r["message"] for r in lines(second)] == ["once"]
    ours = [h for h in logging.getLogger().handlers if isinstance(h, obs._JsonHandler)]
    assert len(ours) == 1


def test_level_and_noisy_libraries() -> None:
    stream = io.StringIO()
    configure_logging("warning", stream=stream)
    logging.getLogger("btcbot_engine.x").info("hidden")
    logging.getLogger("httpx").info("HTTP Request: GET /api/v2/ticker")
    logging.getLogger("btcbot_engine.x").warning("shown")
    assert [r["message"] for r in lines(stream)] == ["shown"]
    assert all(logging.getLogger(n).level == logging.WARNING for n in LIB_LOGGERS)


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD", stream=io.StringIO())


def test_library_logger_records_are_redacted(out: io.StringIO) -> None:
    logging.getLogger("httpx").warning("retrying with secret %s sig=%s", SECRET, SIGNATURE)
    logging.getLogger("websockets.client").error("login frame %s", {"publicKey": KEY})
    records = lines(out)
    assert [r["logger"] for r in records] == ["httpx", "websockets.client"]
    assert_clean(out)


def test_handler_added_earlier_also_sees_redacted_record() -> None:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage() + (record.exc_text or ""))

    logging.getLogger().addHandler(Collect())
    configure_logging(stream=io.StringIO(), secrets=[KEY, SECRET])
    try:
        _raise_auth_error()
    except PermissionError:
        logging.getLogger("httpx").exception("secret %s", SECRET)
    assert seen
    assert all(raw not in s for s in seen for raw in RAW)


# -- redaction rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_secret=abcdefgh&x=1", "api_secret=***REDACTED***&x=1"),
        ("BTCTURK_API_SECRET=abcdefgh", "BTCTURK_API_SECRET=***REDACTED***"),
        ("BTCTURK_API_KEY = abcdefgh", "BTCTURK_API_KEY = ***REDACTED***"),
        ("--api-secret=abcdefgh", "--api-secret=***REDACTED***"),
        ('{"secret": "a b c"}', '{"secret": "***REDACTED***"}'),
        ("{'privateKey': 'abc\\'def'}", "{'privateKey': '***REDACTED***'}"),
        ("X-PCK: abcdefgh\r\nX-Stamp: 17", "X-PCK: ***REDACTED***\r\nX-Stamp: 17"),
        ("Authorization: Bearer a.b.c rest", "Authorization: ***REDACTED*** rest"),
        ("[('X-Signature', 'abc')]", "[('X-Signature', '***REDACTED***')]"),
        (f"free-standing {SIGNATURE}.", f"free-standing {REDACTED}."),
        (f"sig={SIGNATURE}", f"sig={REDACTED}"),
        ('{"publicKey":"abcdefgh","nonce":3000}', '{"publicKey":"***REDACTED***","nonce":3000}'),
        # Left alone: non-secrets that look a bit like them.
        ("X-Stamp: 1700000000000", "X-Stamp: 1700000000000"),
        ("signature_ok=True, secret=None", "signature_ok=True, secret=None"),
        ("the secret is safe", "the secret is safe"),
        ("sha=" + "ab12" * 16, "sha=" + "ab12" * 16),
        ("commit 0123456789abcdef0123456789abcdef01234567", None),
        ("tokens=5 key=BTCTRY", None),
    ],
)
def test_pattern_redaction(text: str, expected: str | None) -> None:
    assert redact(text) == (text if expected is None else expected)


@pytest.mark.parametrize(
    "text",
    ["a" * 200_000, ("secret_" * 20 + ":") * 3_000, "('a', " * 30_000, ("ab" * 30 + "=") * 5_000],
)
def test_redaction_stays_linear_on_long_input(text: str) -> None:
    # Catastrophic backtracking would take minutes here; a linear scan takes milliseconds.
    import time

    start = time.perf_counter()
    redact(text)
    assert time.perf_counter() - start < 2.0


def test_registered_secret_rules() -> None:
    register_secret("abc")  # too short: ignored
    register_secret(None)
    register_secret(SecretStr("longer-secret-value"))
    register_secret(SECRET)
    assert redact("abc abc") == "abc abc"
    assert redact("x longer-secret-value y") == f"x {REDACTED} y"
    # URL-encoded form, as in a logged query string.
    assert redact("p=ZmFrZS1idGN0dXJrLXNlY3JldC1mb3ItdGVzdHMtMzI%3D") == f"p={REDACTED}"
    obs.clear_registered_secrets()
    assert redact("x longer-secret-value y") == "x longer-secret-value y"


def test_redact_data_shapes() -> None:
    register_secret(KEY)
    data = {
        "headers": {"X-PCK": "whatever", "X-Stamp": 17, "signature_ok": True},
        "items": (KEY, [b"raw " + KEY.encode()], {KEY}),
        KEY: "key as mapping key",
        "token": SecretStr("hidden"),
    }
    clean = redact_data(data)
    json.dumps(clean)  # JSON-safe
    assert KEY not in json.dumps(clean)
    assert clean["headers"] == {"X-PCK": REDACTED, "X-Stamp": 17, "signature_ok": True}
    assert clean["token"] == REDACTED
    assert clean[REDACTED] == "key as mapping key"


def test_secretstr_is_never_unwrapped(out: io.StringIO) -> None:
    class Tripwire:
        def get_secret_value(self) -> str:
            raise AssertionError("unwrapped")

        def __str__(self) -> str:
            return "**********"

    log = logging.getLogger("btcbot_engine.config")
    log.info("settings %s", SecretStr(SECRET), extra={"key": Tripwire(), "s": SecretStr(KEY)})
    (record,) = lines(out)
    assert record["message"] == "settings **********"
    assert record["key"] == REDACTED
    assert record["s"] == REDACTED


def test_self_referencing_extra_is_cut(out: io.StringIO) -> None:
    loop: dict[str, Any] = {"secret_holder": KEY}
    loop["self"] = loop
    logging.getLogger("btcbot_engine.x").info("m", extra={"loop": loop})
    (record,) = lines(out)
    assert "<too deep>" in json.dumps(record)
    assert_clean(out)


def test_bad_format_args_still_redacted(out: io.StringIO) -> None:
    logging.getLogger("btcbot_engine.x").info("one %s %s", KEY)
    (record,) = lines(out)
    assert record["message"].startswith("one %s %s args=")
    assert_clean(out)


# -- failure paths: never raise, never leak ---------------------------------------------------


def test_failing_redaction_emits_placeholder(
    out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(value: object, _depth: int = 0) -> Any:
        raise RuntimeError(f"broken while holding {value!r}")

    monkeypatch.setattr(obs, "redact_data", broken)
    log = logging.getLogger("btcbot_engine.x")
    try:
        _raise_auth_error()
    except PermissionError:
        log.exception("with %s", SECRET, extra={"payload": {"k": KEY}})
    (record,) = lines(out)
    assert "redaction failed with RuntimeError" in record["message"]
    assert "payload" not in record
    assert "traceback" not in record
    assert KEY not in out.getvalue() and SECRET not in out.getvalue()


def test_failing_fallback_drops_the_record(
    out: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("broken")

    monkeypatch.setattr(obs, "_redact_record", broken)
    monkeypatch.setattr(obs, "_scrub_record", broken)
    logging.getLogger("btcbot_engine.x").info("secret %s", SECRET)
    assert out.getvalue() == ""


def test_emit_error_report_does_not_print_the_record(capsys: pytest.CaptureFixture[str]) -> None:
    class BrokenStream(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError("disk full")

    configure_logging(stream=BrokenStream(), secrets=[SECRET])
    logging.getLogger("btcbot_engine.x").error("secret %s", SECRET)
    err = capsys.readouterr().err
    assert "failed to emit a record" in err
    assert SECRET not in err


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40))
def test_registered_secret_never_survives(prefix: str, suffix: str) -> None:
    register_secret(KEY)
    register_secret(SECRET)
    assert SECRET not in redact(prefix + SECRET + suffix)
    assert KEY not in redact(prefix + KEY + suffix)


@settings(max_examples=100, deadline=None)
@given(
    message=st.text(max_size=60),
    extra=st.dictionaries(
        st.text(alphabet="abcdefxyz_", min_size=1, max_size=8).map(lambda k: f"f_{k}"),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=4,
    ),
)
def test_every_line_is_json(message: str, extra: dict[str, Any]) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    logging.getLogger("btcbot_engine.fuzz").info(message, extra=extra)
    (record,) = lines(stream)
    assert record["message"] == redact(message)
