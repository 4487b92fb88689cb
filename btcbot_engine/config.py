"""Settings from the environment and an optional `.env` file (pydantic-settings).

Every default is the safe one: nothing can reach the exchange until an operator changes several
independent variables. Incoherent combinations are refused at load with a `ConfigError` whose
message names the variable and the fix; the CLI turns it into one line and exit code 2.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LIVE_ACK_PHRASE = "I_UNDERSTAND"
PAPER_ACCOUNT_KEY = "paper"
QUOTE_CURRENCIES = ("TRY", "USDT")
_SYMBOL_RE = re.compile(r"^([A-Z0-9]{2,12})_?(TRY|USDT)$")
_KNOWN_SCOPES = {"read", "trade", "withdraw"}


class ConfigError(ValueError):
    """Settings that cannot be used; the message is one line naming the variable and the fix."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CsvTuple = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """All btcbot settings. Field names are the environment variable names (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",  # a typo in .env is an error, not a silently ignored line
        frozen=True,
        validate_default=True,
    )

    # --- Safety switches (all safe by default) ---------------------------------------------
    safe_mode: bool = True
    dry_run: bool = True
    kill_switch: bool = True
    live_trading: bool = False
    live_trading_ack: str = ""

    # --- Exchange and credentials ----------------------------------------------------------
    btcturk_api_key: SecretStr | None = None
    btcturk_api_secret: SecretStr | None = None
    btcturk_base_url: str = "https://api.btcturk.com"
    btcturk_graph_url: str = "https://graph-api.btcturk.com"
    btcturk_ws_url: str = "wss://ws-feed-pro.btcturk.com"
    btcturk_api_scopes: CsvTuple = ("read",)
    btcturk_secret_rotated_at: date | None = None
    btcturk_secret_max_age_days: int = Field(default=90, ge=1)
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    rate_limit_share: float = Field(default=0.8, gt=0, le=1)

    # --- State -----------------------------------------------------------------------------
    state_db_path: Path = Path("./var/btcbot_state.db")

    # --- Market data and universe ----------------------------------------------------------
    universe_symbols: CsvTuple = ()
    market_data_mode: Literal["rest", "ws"] = "rest"
    max_market_data_age_ms: int = Field(default=5000, gt=0)
    universe_quotes: CsvTuple = ("TRY",)
    universe_max_size: int = Field(default=5, ge=1, le=50)
    universe_min_quote_volume: Decimal = Field(default=Decimal("1000000"), ge=0)
    universe_max_spread_bps: Decimal = Field(default=Decimal("50"), ge=0)
    universe_allow: CsvTuple = ()
    universe_deny: CsvTuple = ()

    # --- Strategy and cycle ----------------------------------------------------------------
    strategy: Literal["profit_aware", "mean_reversion", "sma_cross"] = "profit_aware"
    min_profit_bps: Decimal = Field(default=Decimal("30"), ge=0)
    cycle_seconds: float = Field(default=10.0, gt=0, le=3600)
    paper_balances: CsvTuple = ("TRY=10000",)

    # --- Risk caps (TRY unless named otherwise) ---------------------------------------------
    max_orders_per_cycle: int = Field(default=2, ge=0)
    max_open_orders_per_symbol: int = Field(default=1, ge=0)
    notional_cap_try_per_cycle: Decimal = Field(default=Decimal("1000"), ge=0)
    max_notional_per_order_try: Decimal = Field(default=Decimal("500"), ge=0)
    min_order_notional_try: Decimal = Field(default=Decimal("100"), ge=0)
    ttl_seconds: int = Field(default=120, ge=1)
    cooldown_seconds: int = Field(default=30, ge=0)
    max_position_try_per_symbol: Decimal = Field(default=Decimal("2000"), ge=0)
    max_daily_loss_try: Decimal = Field(default=Decimal("200"), ge=0)
    max_drawdown_pct: Decimal = Field(default=Decimal("5"), ge=0, le=100)
    max_consecutive_losses: int = Field(default=3, ge=0)
    unknown_order_max_age_seconds: int = Field(default=60, ge=1)

    # --- Canary (`btcbot canary`, the TUI wizard) ---------------------------------------------
    canary_max_submit_latency_ms: int = Field(default=2000, ge=1)  # stop above this
    canary_poll_seconds: float = Field(default=1.0, gt=0, le=60)  # between checks of its order
    canary_cancel_wait_seconds: float = Field(default=15.0, gt=0, le=300)  # for cancels to land

    # --- Logs ------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- Observability ---------------------------------------------------------------------
    observability_metrics_exporter: Literal["none", "prometheus"] = "none"
    observability_prometheus_host: str = "127.0.0.1"  # loopback unless configured otherwise
    observability_prometheus_port: int = Field(default=9464, ge=1, le=65535)

    @field_validator(
        "btcturk_api_scopes",
        "universe_symbols",
        "universe_quotes",
        "universe_allow",
        "universe_deny",
        "paper_balances",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("market_data_mode", "observability_metrics_exporter", mode="before")
    @classmethod
    def _lower_mode(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "btcturk_api_key", "btcturk_api_secret", "btcturk_secret_rotated_at", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("universe_quotes")
    @classmethod
    def _quotes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        quotes = tuple(q.upper() for q in value)
        for q in quotes:
            if q not in QUOTE_CURRENCIES:
                raise ValueError(f"{q!r} is not a supported quote; use TRY and/or USDT")
        return quotes

    @field_validator("paper_balances")
    @classmethod
    def _balances(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            asset, sep, amount = item.partition("=")
            try:
                ok = bool(sep) and asset.strip().isalnum() and Decimal(amount).is_finite()
                ok = ok and Decimal(amount) >= 0
            except ArithmeticError:
                ok = False
            if not ok:
                raise ValueError(f"{item!r} is not ASSET=AMOUNT (e.g. TRY=10000,USDT=500)")
        return tuple(i.upper().replace(" ", "") for i in value)

    @field_validator("universe_symbols", "universe_allow", "universe_deny")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for raw in value:
            match = _SYMBOL_RE.match(raw.upper())
            if not match:
                raise ValueError(
                    f"{raw!r} is not a pair symbol; write pairs like BTCTRY,ETHUSDT "
                    f"(quote {' or '.join(QUOTE_CURRENCIES)}), comma-separated"
                )
            symbol = match.group(1) + match.group(2)
            if symbol not in out:
                out.append(symbol)
        return tuple(out)

    @field_validator("btcturk_api_scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        scopes = tuple(s.lower() for s in value)
        unknown = [s for s in scopes if s not in _KNOWN_SCOPES]
        if unknown:
            raise ValueError(f"unknown scope {unknown[0]!r}; use read and/or trade")
        if "withdraw" in scopes:
            raise ValueError(
                "a key with the withdraw permission must never be given to the bot; "
                "create a key with read (and trade) only"
            )
        return scopes

    @field_validator("btcturk_base_url", "btcturk_graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with https:// (or http:// for the simulator)")
        return value.rstrip("/")

    @field_validator("btcturk_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError(f"{value!r} must start with wss:// (or ws:// for the simulator)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.live_trading:
            if self.live_trading_ack != LIVE_ACK_PHRASE:
                raise ValueError(
                    "LIVE_TRADING=true needs LIVE_TRADING_ACK=I_UNDERSTAND; "
                    "set it, or set LIVE_TRADING=false"
                )
            if not self.has_api_keys:
                raise ValueError(
                    "LIVE_TRADING=true needs BTCTURK_API_KEY and BTCTURK_API_SECRET; "
                    "set both, or set LIVE_TRADING=false"
                )
        if self.min_order_notional_try > self.max_notional_per_order_try:
            raise ValueError(
                "MIN_ORDER_NOTIONAL_TRY is above MAX_NOTIONAL_PER_ORDER_TRY; "
                "no order could ever be placed"
            )
        return self

    @property
    def paper_balance_map(self) -> dict[str, Decimal]:
        """PAPER_BALANCES as asset -> amount."""
        out: dict[str, Decimal] = {}
        for item in self.paper_balances:
            asset, _, amount = item.partition("=")
            out[asset] = Decimal(amount)
        return out

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The key and secret as plain text, for log redaction only (never print these)."""
        return tuple(
            s.get_secret_value()
            for s in (self.btcturk_api_key, self.btcturk_api_secret)
            if s is not None and s.get_secret_value()
        )

    @property
    def has_api_keys(self) -> bool:
        """Both key halves are present (their values are never exposed here)."""
        return bool(
            self.btcturk_api_key
            and self.btcturk_api_key.get_secret_value().strip()
            and self.btcturk_api_secret
            and self.btcturk_api_secret.get_secret_value().strip()
        )

    @property
    def account_key(self) -> str:
        """A stable, non-reversible label for the account (binds a database to one account).

        Paper trading (DRY_RUN=true) is its own account, "paper": its orders and fills must
        never be reconciled against, or mixed into the ledger of, a real account.
        """
        if self.dry_run:
            return PAPER_ACCOUNT_KEY
        if not self.btcturk_api_key:
            return "no-keys"
        digest = hashlib.sha256(self.btcturk_api_key.get_secret_value().encode()).hexdigest()
        return digest[:12]

    @property
    def key_hint(self) -> str:
        """The public key's last 4 characters, for the operator's screen; '----' without keys."""
        if not self.btcturk_api_key:
            return "----"
        return self.btcturk_api_key.get_secret_value()[-4:]


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        msg = str(err["msg"])
        msg = msg.removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting; check the spelling against .env.example"
        elif err["type"].startswith("bool_"):
            msg = "not a boolean; use true or false"
        parts.append(f"{loc.upper()}: {msg}" if loc else msg)
    return "; ".join(parts)


def load_settings(env_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from the environment and `env_file` (default `.env` if present).

    Raises ConfigError with a one-line message; never returns half-valid settings.
    """
    kwargs: dict[str, Any] = dict(overrides)
    if env_file is not None:
        path = Path(env_file)
        if not path.is_file():
            raise ConfigError(f"--env-file {path}: no such file")
        kwargs["_env_file"] = path
    try:
        return Settings(**kwargs)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
