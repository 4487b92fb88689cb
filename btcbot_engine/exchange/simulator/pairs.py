"""The simulated listing: pairs with realistic trading rules, currencies, symbol parsing.

Values follow the reference (section 3.2 and 7): BTCTRY has tick 10, price scale 2, no fraction
and a 99.91 TRY minimum; USDT-quoted pairs have a 10 USDT minimum; ARBTRY takes no market orders
(the reference counted 25 such pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from math import lcm

ALL_METHODS = ("MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT")
LIMIT_ONLY = ("LIMIT", "STOP_LIMIT")


@dataclass(frozen=True)
class CurrencySpec:
    """One asset as listed in exchangeinfo `currencies[]` and in balances."""

    id: int
    symbol: str
    name: str
    precision: int
    currency_type: str  # "FIAT" or "CRYPTO"
    min_withdrawal: Decimal
    min_deposit: Decimal


@dataclass(frozen=True)
class PairSpec:
    """One pair's fixed rules and the parameters of its synthetic market."""

    id: int
    base: str
    quote: str
    start_price: Decimal
    price_scale: int  # denominatorScale
    quantity_scale: int  # numeratorScale
    tick_size: Decimal
    min_exchange_value: Decimal
    has_fraction: bool
    order_methods: tuple[str, ...]
    display_format: str
    order: int
    trade_size: Decimal  # typical size of one trade by other participants (base)
    daily_volume: Decimal  # synthetic 24h base volume at start
    volatility_bps: float = 1.5  # std-dev of one tick's mid move
    half_spread_bps: float = 1.0
    level_gap_bps: float = 2.0  # distance between synthetic book levels

    @property
    def name(self) -> str:
        """`BTCTRY`."""
        return f"{self.base}{self.quote}"

    @property
    def name_normalized(self) -> str:
        """`BTC_TRY`."""
        return f"{self.base}_{self.quote}"

    @property
    def price_step(self) -> Decimal:
        """Smallest valid price increment: tick size, price scale and hasFraction at once."""
        steps = [Decimal(1).scaleb(-self.price_scale), self.tick_size]
        if not self.has_fraction:
            steps.append(Decimal(1))
        exponent = min(0, *(int(s.normalize().as_tuple().exponent) for s in steps))
        ints = [int(s.scaleb(-exponent)) for s in steps]
        return Decimal(lcm(*ints)).scaleb(exponent)

    @property
    def quantity_step(self) -> Decimal:
        """Smallest quantity increment (10^-numeratorScale)."""
        return Decimal(1).scaleb(-self.quantity_scale)

    def supports(self, method: str) -> bool:
        """Whether `orderMethods` lists this method (compared case-insensitively)."""
        return method.upper() in self.order_methods


CURRENCIES: tuple[CurrencySpec, ...] = (
    CurrencySpec(1, "TRY", "Türk Lirası", 2, "FIAT", Decimal("10"), Decimal("1")),
    CurrencySpec(2, "BTC", "Bitcoin", 8, "CRYPTO", Decimal("0.0005"), Decimal("0.00000001")),
    CurrencySpec(3, "ETH", "Ethereum", 8, "CRYPTO", Decimal("0.005"), Decimal("0.00000001")),
    CurrencySpec(4, "USDT", "Tether", 6, "CRYPTO", Decimal("5"), Decimal("0.000001")),
    CurrencySpec(5, "AVAX", "Avalanche", 8, "CRYPTO", Decimal("0.1"), Decimal("0.00000001")),
    CurrencySpec(6, "ARB", "Arbitrum", 8, "CRYPTO", Decimal("2"), Decimal("0.00000001")),
)

PAIRS: tuple[PairSpec, ...] = (
    PairSpec(
        id=1, base="BTC", quote="TRY", start_price=Decimal("3000000"), price_scale=2,
        quantity_scale=8, tick_size=Decimal("10"), min_exchange_value=Decimal("99.91"),
        has_fraction=False, order_methods=ALL_METHODS, display_format="#,###", order=1000,
        trade_size=Decimal("0.01"), daily_volume=Decimal("850"),
    ),
    PairSpec(
        id=2, base="ETH", quote="TRY", start_price=Decimal("110000"), price_scale=2,
        quantity_scale=8, tick_size=Decimal("1"), min_exchange_value=Decimal("99.91"),
        has_fraction=True, order_methods=ALL_METHODS, display_format="#,###", order=1001,
        trade_size=Decimal("0.2"), daily_volume=Decimal("9500"),
    ),
    PairSpec(
        id=3, base="USDT", quote="TRY", start_price=Decimal("34.52"), price_scale=2,
        quantity_scale=2, tick_size=Decimal("0.01"), min_exchange_value=Decimal("99.91"),
        has_fraction=True, order_methods=ALL_METHODS, display_format="#,##0.00", order=1002,
        trade_size=Decimal("800"), daily_volume=Decimal("45000000"), volatility_bps=0.8,
    ),
    PairSpec(
        id=4, base="AVAX", quote="TRY", start_price=Decimal("1250.0"), price_scale=2,
        quantity_scale=2, tick_size=Decimal("0.1"), min_exchange_value=Decimal("99.91"),
        has_fraction=True, order_methods=ALL_METHODS, display_format="#,##0.0", order=1010,
        trade_size=Decimal("6"), daily_volume=Decimal("70000"), volatility_bps=2.5,
    ),
    PairSpec(
        id=5, base="BTC", quote="USDT", start_price=Decimal("87000"), price_scale=0,
        quantity_scale=8, tick_size=Decimal("1"), min_exchange_value=Decimal("10"),
        has_fraction=True, order_methods=ALL_METHODS, display_format="#,###", order=2000,
        trade_size=Decimal("0.01"), daily_volume=Decimal("420"),
    ),
    PairSpec(
        id=6, base="ETH", quote="USDT", start_price=Decimal("3190.00"), price_scale=2,
        quantity_scale=4, tick_size=Decimal("0.01"), min_exchange_value=Decimal("10"),
        has_fraction=True, order_methods=ALL_METHODS, display_format="#,##0.00", order=2001,
        trade_size=Decimal("0.2"), daily_volume=Decimal("5200"),
    ),
    PairSpec(
        id=7, base="ARB", quote="TRY", start_price=Decimal("27.45"), price_scale=2,
        quantity_scale=2, tick_size=Decimal("0.01"), min_exchange_value=Decimal("99.91"),
        has_fraction=True, order_methods=LIMIT_ONLY, display_format="#,##0.00", order=1050,
        trade_size=Decimal("150"), daily_volume=Decimal("900000"), volatility_bps=3.0,
    ),
)  # fmt: skip

# Thirteen more TRY pairs, so soak runs and universe selection see a listing closer to the real
# one (20 pairs). Rules follow the common BTCTurk shape for small-priced coins.
_MORE_TRY = (
    ("XRP", "21.50"), ("DOGE", "5.60"), ("ADA", "32.10"), ("SOL", "6250"), ("DOT", "215.4"),
    ("LINK", "640.2"), ("LTC", "3400"), ("TRX", "8.45"), ("ATOM", "265.3"), ("POL", "14.20"),
    ("APT", "312.5"), ("NEAR", "178.6"), ("XLM", "11.05"),
)  # fmt: skip


def _tick(price: Decimal) -> Decimal:
    return Decimal("0.01") if price < 100 else Decimal("0.1") if price < 1000 else Decimal("1")


CURRENCIES = CURRENCIES + tuple(
    CurrencySpec(7 + i, base, base, 8, "CRYPTO", Decimal("1"), Decimal("0.00000001"))
    for i, (base, _) in enumerate(_MORE_TRY)
)
PAIRS = PAIRS + tuple(
    PairSpec(
        id=8 + i, base=base, quote="TRY", start_price=Decimal(price), price_scale=2,
        quantity_scale=2, tick_size=_tick(Decimal(price)), min_exchange_value=Decimal("99.91"),
        has_fraction=True, order_methods=ALL_METHODS, display_format="#,##0.00", order=1100 + i,
        trade_size=(Decimal(5000) / Decimal(price)).quantize(Decimal("0.01")),
        daily_volume=(Decimal(3_000_000) / Decimal(price)).quantize(Decimal(1)),
        volatility_bps=2.0,
    )
    for i, (base, price) in enumerate(_MORE_TRY)
)  # fmt: skip

PAIRS_BY_NAME: dict[str, PairSpec] = {p.name: p for p in PAIRS}
CURRENCIES_BY_SYMBOL: dict[str, CurrencySpec] = {c.symbol: c for c in CURRENCIES}


def normalize_pair(text: str) -> str:
    """`btc_try`, `BTC_TRY`, `BTCTRY` -> `BTCTRY` (REST accepts every form, case-insensitively)."""
    return text.strip().replace("_", "").upper()


def find_pair(text: str | None) -> PairSpec | None:
    """The pair a REST parameter names, or None when it names no listed pair."""
    if not text:
        return None
    return PAIRS_BY_NAME.get(normalize_pair(text))
