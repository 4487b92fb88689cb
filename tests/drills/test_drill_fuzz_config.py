"""Config fuzz: random environment values for every Settings field.

Each value must give either a valid Settings (usable: finite numbers) or one ConfigError whose
message is a single line naming the variable, and never echoes a key or secret.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from drills_fuzzing import NASTY_STRINGS, fuzz_settings
from drills_testkit import record_figure
from hypothesis import given
from hypothesis import strategies as st

from btcbot_engine.config import ConfigError, Settings, load_settings

FIELDS = sorted(Settings.model_fields)
EXAMPLES_PER_FIELD = 60
SECRET_FIELDS = {"btcturk_api_key", "btcturk_api_secret"}

env_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
env_values = st.one_of(
    env_text,
    st.sampled_from([s for s in NASTY_STRINGS if "\x00" not in s]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.sampled_from(["true", "false", "yes", "no", "on", "off", "1", "0", "TRUE", " true "]),
    st.sampled_from(["rest", "ws", "WS", "sma_cross", "DEBUG", "info", "I_UNDERSTAND"]),
    st.sampled_from(["BTCTRY,ETHUSDT", "btc_try", "BTC-TRY", "XYZ", ",,,", "TRY=1,USDT=-1"]),
    st.sampled_from(["https://x", "http://127.0.0.1:1", "wss://x", "ftp://x", "/tmp/x.db"]),
    st.sampled_from(["2024-02-30", "2024-01-01", "read,trade", "read,withdraw", "1e309"]),
    st.lists(env_text, max_size=4).map(",".join),
)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


def _check_settings(settings: Settings) -> None:
    """A Settings that loaded is usable: every number finite."""
    for name in FIELDS:
        value = getattr(settings, name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{name} = {value}"
        if isinstance(value, Decimal):
            assert value.is_finite(), f"{name} = {value}"


def _check_error(error: ConfigError, values: dict[str, str]) -> None:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert any(name in message for name in values), f"{values} -> {message!r}"
    for name, value in values.items():
        secret = value.strip()
        elsewhere = any(secret in v for n, v in values.items() if n != name)
        if name.lower() in SECRET_FIELDS and len(secret) >= 4 and not elsewhere:
            assert secret not in message, "a key or secret echoed in the error"


@pytest.mark.slow  # thousands of examples: a drill, not a unit test
@pytest.mark.parametrize("field", FIELDS)
def test_each_setting_with_random_values(field: str) -> None:
    outcomes: Counter[str] = Counter()
    name = field.upper()

    @fuzz_settings(EXAMPLES_PER_FIELD)
    @given(value=env_values)
    def check(value: str) -> None:
        with _environment({name: value}):
            try:
                settings = load_settings()
            except ConfigError as exc:
                _check_error(exc, {name: value})
                outcomes["error"] += 1
                return
        _check_settings(settings)
        outcomes["valid"] += 1

    check()
    record = FIGURE_COUNTS.setdefault("fields", Counter())
    record.update(outcomes)
    record_figure(
        "config fuzz: values tried (valid / one-line error) over all fields",
        f"{sum(record.values())} ({record['valid']} / {record['error']})",
    )


@pytest.mark.slow  # thousands of examples: a drill, not a unit test
def test_several_settings_at_once() -> None:
    tried: Counter[str] = Counter()

    @fuzz_settings(400)
    @given(
        values=st.dictionaries(
            st.sampled_from(FIELDS).map(str.upper), env_values, min_size=2, max_size=5
        )
    )
    def check(values: dict[str, str]) -> None:
        with _environment(values):
            try:
                settings = load_settings()
            except ConfigError as exc:
                _check_error(exc, values)
                tried["error"] += 1
                return
        _check_settings(settings)
        tried["valid"] += 1

    check()
    record_figure(
        "config fuzz: combinations of 2-5 variables (valid / one-line error)",
        f"{sum(tried.values())} ({tried['valid']} / {tried['error']})",
    )


FIGURE_COUNTS: dict[str, Counter[str]] = {}
