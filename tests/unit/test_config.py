"""Settings: safe defaults, coherent combinations only, one-line errors naming the variable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from btcbot_engine.config import ConfigError, Settings, load_settings

ENV_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray BTCTurk or btcbot variable, and no ./.env, leaks into these tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


ARMED = {
    "SAFE_MODE": "false",
    "DRY_RUN": "false",
    "KILL_SWITCH": "false",
    "LIVE_TRADING": "true",
    "LIVE_TRADING_ACK": "I_UNDERSTAND",
    "BTCTURK_API_KEY": "pub-key-1234",
    "BTCTURK_API_SECRET": "c2VjcmV0LXNlY3JldA==",
}


def _set(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_defaults_are_safe() -> None:
    s = load_settings()
    assert (s.safe_mode, s.dry_run, s.kill_switch, s.live_trading) == (True, True, True, False)
    assert s.live_trading_ack == ""
    assert not s.has_api_keys
    assert s.btcturk_base_url == "https://api.btcturk.com"
    assert s.btcturk_ws_url == "wss://ws-feed-pro.btcturk.com"
    assert s.state_db_path == Path("var/btcbot_state.db")
    assert s.market_data_mode == "rest"
    assert isinstance(s.max_notional_per_order_try, Decimal)


def test_fully_armed_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, ARMED)
    s = load_settings()
    assert s.live_trading and s.has_api_keys
    assert s.key_hint == "1234"
    assert len(s.account_key) == 12 and "pub" not in s.account_key


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({**ARMED, "LIVE_TRADING_ACK": "yes"}, ["LIVE_TRADING_ACK=I_UNDERSTAND"]),
        ({**ARMED, "BTCTURK_API_SECRET": ""}, ["BTCTURK_API_KEY", "BTCTURK_API_SECRET"]),
        ({**ARMED, "BTCTURK_API_KEY": "  "}, ["BTCTURK_API_KEY"]),
        ({"BTCTURK_API_SCOPES": "read,withdraw"}, ["BTCTURK_API_SCOPES", "withdraw"]),
        ({"BTCTURK_API_SCOPES": "read,admin"}, ["BTCTURK_API_SCOPES", "admin"]),
        ({"MAX_ORDERS_PER_CYCLE": "-1"}, ["MAX_ORDERS_PER_CYCLE"]),
        ({"MAX_DAILY_LOSS_TRY": "-5"}, ["MAX_DAILY_LOSS_TRY"]),
        ({"MAX_NOTIONAL_PER_ORDER_TRY": "nan"}, ["MAX_NOTIONAL_PER_ORDER_TRY"]),
        ({"MARKET_DATA_MODE": "fax"}, ["MARKET_DATA_MODE"]),
        ({"UNIVERSE_SYMBOLS": "BTCTRY,BTC/TRY"}, ["UNIVERSE_SYMBOLS", "BTC/TRY"]),
        ({"UNIVERSE_SYMBOLS": "BTCEUR"}, ["UNIVERSE_SYMBOLS", "BTCEUR"]),
        ({"SAFE_MODE": "maybe"}, ["SAFE_MODE", "true or false"]),
        ({"KILL_SWITCH": ""}, ["KILL_SWITCH"]),
        ({"BTCTURK_BASE_URL": "api.btcturk.com"}, ["BTCTURK_BASE_URL", "https://"]),
        ({"BTCTURK_WS_URL": "https://x"}, ["BTCTURK_WS_URL", "wss://"]),
        ({"MAX_DRAWDOWN_PCT": "150"}, ["MAX_DRAWDOWN_PCT"]),
        (
            {"MIN_ORDER_NOTIONAL_TRY": "600", "MAX_NOTIONAL_PER_ORDER_TRY": "500"},
            ["MIN_ORDER_NOTIONAL_TRY"],
        ),
    ],
)
def test_incoherent_config_is_one_line_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: list[str]
) -> None:
    _set(monkeypatch, env)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    # Secrets never appear in config errors.
    assert "c2VjcmV0LXNlY3JldA==" not in message
    assert "pub-key-1234" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_boolean_spellings(monkeypatch: pytest.MonkeyPatch, text: str, expected: bool) -> None:
    monkeypatch.setenv("DRY_RUN", text)
    assert load_settings().dry_run is expected


def test_symbols_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIVERSE_SYMBOLS", " btctry, ETH_USDT ,BTCTRY,")
    assert load_settings().universe_symbols == ("BTCTRY", "ETHUSDT")


def test_env_file_is_read_and_typos_in_it_are_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.env"
    good.write_text("DRY_RUN=false\nUNIVERSE_SYMBOLS=BTCTRY\n")
    s = load_settings(good)
    assert s.dry_run is False and s.universe_symbols == ("BTCTRY",)

    typo = tmp_path / "typo.env"
    typo.write_text("KILL_SWICH=false\n")
    with pytest.raises(ConfigError, match="KILL_SWICH: unknown setting"):
        load_settings(typo)


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.env")


def test_dot_env_in_cwd_is_picked_up(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MAX_ORDERS_PER_CYCLE=7\n")
    assert load_settings().max_orders_per_cycle == 7


def test_secret_is_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, ARMED)
    s = load_settings()
    assert "c2VjcmV0LXNlY3JldA==" not in repr(s)
    assert "pub-key-1234" not in repr(s)


def test_env_example_lists_every_setting_with_safe_values() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    names = {
        line.split("=", 1)[0].strip()
        for line in example.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert names == set(ENV_NAMES)
    s = load_settings(example)
    assert s.safe_mode and s.dry_run and s.kill_switch and not s.live_trading
