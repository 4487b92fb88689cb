"""The paper exchange: real public market data, simulated private side, no keys.

`PaperExchange` implements `ExchangePort`. Public calls (time, rules, tickers, books) go to a
market-data source, in production a `BtcturkExchange` built WITHOUT keys and without a write
guard, so the process physically cannot place a real order. Everything private (balances, orders,
fills, cancels) is simulated here with the shared fill model (`fill_model.py`), the same one the
replay exchange uses, so paper results and backtests agree on how orders fill.

It behaves like BTCTurk where the engine can tell the difference: submits are validated with the
exchange's reason strings, funds are locked at submit and released on fill or cancel, statuses
move Untouched -> Partial -> Closed/Canceled with a left amount, fees and tax are charged in the
quote currency, and a cancel is only *accepted* at once and takes effect at the next `advance()`
(BTCTurk's asynchronous cancel since 2024-04).

Time moves by `advance()`: the engine calls it at the start of each cycle. It applies accepted
cancels, fetches a fresh book for every pair with resting orders, and fills what the market
traded through. No fresh book, no fills: we never fill on data we don't have.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from btcbot_engine.domain.account import Balance
from btcbot_engine.domain.fills import Fill
from btcbot_engine.domain.market import BookLevel, OrderBook, Ticker, normalize_symbol
from btcbot_engine.domain.money import to_decimal
from btcbot_engine.domain.orders import (
    ExchangeOrder,
    ExchangeOrderStatus,
    OrderMethod,
    OrderRequest,
    Side,
    SubmitAck,
)
from btcbot_engine.domain.rules import SymbolRules
from btcbot_engine.exchange.fill_model import (
    FeeSchedule,
    FillSlice,
    PaperOrder,
    is_marketable,
    match_market,
    match_marketable,
    match_resting_book,
    scale_book,
)
from btcbot_engine.exchange.port import (
    ExchangeError,
    ExchangeUnavailable,
    OrderNotFound,
    Rejected,
)

ZERO = Decimal(0)
ONE = Decimal(1)
STATE_VERSION = 1
# Default trade ids start above 2**53, like BTCTurk's (~1.2e18): anything downstream that
# squeezes them through a float breaks visibly in paper mode instead of silently live.
DEFAULT_TRADE_ID_START = 1_181_163_798_924_649_598

UNTOUCHED = ExchangeOrderStatus.UNTOUCHED
PARTIAL = ExchangeOrderStatus.PARTIAL
CLOSED = ExchangeOrderStatus.CLOSED
CANCELED = ExchangeOrderStatus.CANCELED

# Reason strings as BTCTurk sends them (reference section 5); codes where the reference has one.
_CODES: dict[str, int | None] = {
    "FAILED_MARKET_ORDER": 1118,
    "FAILED_LIMIT_ORDER": 1120,
    "FAILED_ORDER_WITH_OPEN_ORDERS": 1122,
    "FAILED_MIN_TOTAL_AMOUNT": 1123,
    "FAILED_INVALID_PRICE_SCALE": 1126,
    "FAILED_INVALID_QUANTITY_SCALE": 1127,
    "ORDER_METHOD_NOT_SUPPORTED": 1134,
    "PRICE_MUST_BE_LESS_THAN_MAXPRICE": 1226,
    "PRICE_MUST_BE_LESS_THAN_MINPRICE": 1227,
    "FAILED_ORDER_PARAMETER": None,
    "BALANCE_NOT_ENOUGH": None,
    "ORDER_COULD_NOT_BE_CANCELED": None,
}


def _reject(reason: str) -> Rejected:
    return Rejected(reason, code=_CODES.get(reason), http_status=400)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _too_fine(value: Decimal, scale: int) -> bool:
    """Whether a finite value really uses more than `scale` decimal places (trailing zeros do
    not count)."""
    exponent = value.as_tuple().exponent
    if exponent >= -scale:
        # As written it has at most `scale` places, and normalizing can only raise the exponent:
        # the common case (quantized orders) never pays for normalize().
        return False
    return -value.normalize().as_tuple().exponent > scale


@dataclass(frozen=True, slots=True)
class _PairSpec:
    """What a submit checks of one pair's rules, derived once per rules object: the price step
    is a least common multiple and the methods an upper-cased copy, both asked on every order."""

    rules: SymbolRules
    methods: frozenset[OrderMethod]  # the listed methods this exchange simulates
    trading: bool
    price_step: Decimal
    quantity_step: Decimal

    @classmethod
    def of(cls, rules: SymbolRules) -> _PairSpec:
        simulated = (OrderMethod.LIMIT, OrderMethod.MARKET)
        return cls(
            rules=rules,
            methods=frozenset(m for m in simulated if rules.accepts(m.value)),
            trading=rules.trading,
            price_step=rules.price_step,
            quantity_step=rules.quantity_step,
        )


class MarketData(Protocol):
    """The public half of `ExchangePort`: all the paper exchange asks of its data source."""

    async def server_time_ms(self) -> int: ...

    async def exchange_info(self) -> dict[str, SymbolRules]: ...

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]: ...

    async def order_book(self, symbol: str, limit: int = 100) -> OrderBook: ...


@dataclass(slots=True)
class _Order:
    """One simulated order and the funds it holds (mutable; exposed only as ExchangeOrder)."""

    order_id: int
    client_id: str | None
    symbol: str
    base: str
    quote: str
    side: Side
    method: OrderMethod
    price: Decimal  # limit price; a market order's first fill price (0 before any), as BTCTurk
    quantity: Decimal  # as submitted: base, or the quote to spend for a market buy
    left: Decimal  # same unit as quantity
    status: ExchangeOrderStatus
    created_ms: int
    updated_ms: int
    reserved: Decimal  # still locked for it: quote for a buy, base for a sell
    fee_accrued: Decimal  # exact fee so far (cumulative rounding, see fill_model)
    quantity_step: Decimal
    cancel_pending: bool = False

    @property
    def quote_sized(self) -> bool:
        return self.method is OrderMethod.MARKET and self.side is Side.BUY

    @property
    def lock_asset(self) -> str:
        return self.quote if self.side is Side.BUY else self.base

    def view(self) -> ExchangeOrder:
        return ExchangeOrder(
            order_id=self.order_id,
            client_id=self.client_id,
            symbol=self.symbol,
            side=self.side,
            method=self.method,
            price=self.price,
            quantity=self.quantity,
            left_quantity=self.left,
            status=self.status,
            updated_ms=self.updated_ms,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "client_id": self.client_id,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "side": self.side.value,
            "method": self.method.value,
            "price": str(self.price),
            "quantity": str(self.quantity),
            "left": str(self.left),
            "status": self.status.value,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "reserved": str(self.reserved),
            "fee_accrued": str(self.fee_accrued),
            "quantity_step": str(self.quantity_step),
            "cancel_pending": self.cancel_pending,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Order:
        return cls(
            order_id=int(data["order_id"]),
            client_id=data["client_id"],
            symbol=data["symbol"],
            base=data["base"],
            quote=data["quote"],
            side=Side(data["side"]),
            method=OrderMethod(data["method"]),
            price=to_decimal(data["price"], field="price"),
            quantity=to_decimal(data["quantity"], field="quantity"),
            left=to_decimal(data["left"], field="left"),
            status=ExchangeOrderStatus(data["status"]),
            created_ms=int(data["created_ms"]),
            updated_ms=int(data["updated_ms"]),
            reserved=to_decimal(data["reserved"], field="reserved"),
            fee_accrued=to_decimal(data["fee_accrued"], field="fee_accrued"),
            quantity_step=to_decimal(data["quantity_step"], field="quantity_step"),
            cancel_pending=bool(data["cancel_pending"]),
        )


def _fill_to_json(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_id": fill.client_id,
        "symbol": fill.symbol,
        "base": fill.base,
        "quote": fill.quote,
        "side": fill.side.value,
        "price": str(fill.price),
        "quantity": str(fill.quantity),
        "fee": str(fill.fee),
        "tax": str(fill.tax),
        "fee_asset": fill.fee_asset,
        "timestamp_ms": fill.timestamp_ms,
    }


def _fill_from_json(data: Mapping[str, Any]) -> Fill:
    return Fill(
        trade_id=int(data["trade_id"]),
        order_id=int(data["order_id"]),
        client_id=data["client_id"],
        symbol=data["symbol"],
        base=data["base"],
        quote=data["quote"],
        side=Side(data["side"]),
        price=to_decimal(data["price"], field="price"),
        quantity=to_decimal(data["quantity"], field="quantity"),
        fee=to_decimal(data["fee"], field="fee"),
        tax=to_decimal(data["tax"], field="tax"),
        fee_asset=data["fee_asset"],
        timestamp_ms=int(data["timestamp_ms"]),
    )


# A book side as the fill model consumes it: a buy takes asks, a sell takes bids.
_Consumed = dict[tuple[str, Decimal], Decimal]


def _consumption(before: OrderBook, after: OrderBook) -> _Consumed:
    """Depth that matching removed from a book, per (side of book, price)."""
    used: _Consumed = {}
    for name in ("bids", "asks"):
        left = {lv.price: lv.quantity for lv in getattr(after, name)}
        for lv in getattr(before, name):
            delta = lv.quantity - left.get(lv.price, ZERO)
            if delta > ZERO:
                used[(name, lv.price)] = delta
    return used


def _deplete(book: OrderBook, used: _Consumed) -> OrderBook:
    """The book minus depth we already took from this very snapshot."""
    if not used:
        return book

    def side(name: str, levels: tuple[BookLevel, ...]) -> tuple[BookLevel, ...]:
        kept = []
        for lv in levels:
            quantity = lv.quantity - used.get((name, lv.price), ZERO)
            if quantity > ZERO:
                kept.append(BookLevel(lv.price, quantity))
        return tuple(kept)

    return OrderBook(
        symbol=book.symbol,
        bids=side("bids", book.bids),
        asks=side("asks", book.asks),
        exchange_ts_ms=book.exchange_ts_ms,
        received_at_ms=book.received_at_ms,
    )


class PaperExchange:
    """`ExchangePort` with simulated private calls over a public market-data source.

    Holds no keys and takes none: it has nothing to sign with. `market` is borrowed, not owned
    (`close()` leaves it open). `participation` is the share of traded-through depth a resting
    order may take; `max_book_age_ms` is how old a book may be and still fill orders.
    """

    def __init__(
        self,
        market: MarketData,
        *,
        balances: Mapping[str, Decimal],
        fees: FeeSchedule = FeeSchedule(),  # noqa: B008 - frozen, immutable default
        clock_ms: Callable[[], int] = _wall_clock_ms,
        order_id_start: int = 1,
        trade_id_start: int = DEFAULT_TRADE_ID_START,
        participation: Decimal = ONE,
        max_book_age_ms: int = 10_000,
        rules_ttl_ms: int = 60_000,
        book_limit: int = 100,
    ) -> None:
        if not ZERO < participation <= ONE:
            raise ValueError(f"participation {participation} must be in (0, 1]")
        self._market = market
        self._fees = fees
        self._clock_ms = clock_ms
        self._participation = participation
        self._max_book_age_ms = max_book_age_ms
        self._rules_ttl_ms = rules_ttl_ms
        self._book_limit = book_limit
        self._free: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}
        for asset, amount in balances.items():
            value = to_decimal(amount, field=f"balance {asset}")
            if value < ZERO:
                raise ValueError(f"balance {asset}: {value} is negative")
            self._free[asset.upper()] = value
            self._locked[asset.upper()] = ZERO
        self._orders: dict[int, _Order] = {}
        self._fills: list[Fill] = []
        self._unreported: list[Fill] = []
        self._next_order_id = order_id_start
        self._next_trade_id = trade_id_start
        # The last snapshot matched per pair and the depth we took from it: seeing the same
        # snapshot again must not fill the same liquidity twice.
        self._seen_books: dict[str, tuple[int, _Consumed]] = {}
        self._rules: dict[str, SymbolRules] = {}
        self._rules_at_ms: int | None = None
        self._specs: dict[str, _PairSpec] = {}
        self._last_skipped: dict[str, str] = {}
        # Submit awaits the book between validating and booking; the lock keeps two submits (or
        # a submit and an advance) from spending the same free balance.
        self._lock = asyncio.Lock()

    # ---- public data: delegated ------------------------------------------------------------

    async def server_time_ms(self) -> int:
        """The market source's clock, in Unix milliseconds."""
        return await self._market.server_time_ms()

    async def exchange_info(self) -> dict[str, SymbolRules]:
        """Rules for every pair, from the market source."""
        return await self._market.exchange_info()

    async def tickers(self, symbols: list[str] | None = None) -> list[Ticker]:
        """Tickers from the market source."""
        return await self._market.tickers(symbols)

    async def order_book(self, symbol: str, limit: int = 100) -> OrderBook:
        """The market source's book (our simulated orders are not shown in it)."""
        return await self._market.order_book(symbol, limit)

    # ---- private data: simulated -----------------------------------------------------------

    async def balances(self) -> list[Balance]:
        """Every asset we hold or held, sorted by asset: total = free + locked."""
        assets = sorted(set(self._free) | set(self._locked))
        result = []
        for asset in assets:
            free = self._free.get(asset, ZERO)
            locked = self._locked.get(asset, ZERO)
            result.append(Balance(asset=asset, total=free + locked, free=free, locked=locked))
        return result

    async def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        """Open orders (Untouched/Partial, including ones with a cancel pending), oldest first."""
        pair = normalize_symbol(symbol) if symbol else None
        return [
            o.view()
            for o in self._sorted_orders()
            if o.status.is_open and (pair is None or o.symbol == pair)
        ]

    async def all_orders(
        self, symbol: str, *, start_ms: int | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        """Orders of any status for one pair created at or after `start_ms`: the newest `limit`,
        newest first."""
        pair = normalize_symbol(symbol)
        chosen = [
            o
            for o in self._sorted_orders()
            if o.symbol == pair and (start_ms is None or o.created_ms >= start_ms)
        ]
        chosen.reverse()
        return [o.view() for o in chosen[: max(limit, 0)]]

    async def order(self, order_id: int) -> ExchangeOrder:
        """One order by id; OrderNotFound ("Order not found", 1152) if we never booked it."""
        found = self._orders.get(int(order_id))
        if found is None:
            raise OrderNotFound("Order not found", code=1152, http_status=400)
        return found.view()

    async def orders_by_client_id(self, symbol: str, client_id: str) -> list[ExchangeOrder]:
        """Orders of one pair carrying `client_id`, oldest first."""
        pair = normalize_symbol(symbol)
        return [
            o.view() for o in self._sorted_orders() if o.symbol == pair and o.client_id == client_id
        ]

    async def fills(self, symbol: str | None, *, since_ms: int | None = None) -> list[Fill]:
        """Our simulated fills for one pair (None: every pair) at or after `since_ms`."""
        pair = normalize_symbol(symbol) if symbol is not None else None
        return [
            f
            for f in self._fills
            if (pair is None or f.symbol == pair)
            and (since_ms is None or f.timestamp_ms >= since_ms)
        ]

    # ---- writes: simulated -----------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> SubmitAck:
        """Validate like BTCTurk, lock funds, and take liquidity at once if the order crosses.

        Raises Rejected with the exchange's reason string; a rejected order leaves no trace.
        Raises ExchangeUnavailable (nothing booked) when no fresh book is available: we cannot
        tell whether the order would cross without one.
        """
        async with self._lock:
            return await self._submit(request)

    async def cancel(self, order_id: int) -> None:
        """Accept a cancel; the order becomes Canceled at the next `advance()`, as on BTCTurk."""
        async with self._lock:
            found = self._orders.get(int(order_id))
            if found is None:
                raise OrderNotFound("NO_ORDER_MATCHES_YOUR_REQUEST", http_status=400)
            if not found.status.is_open:
                raise _reject("ORDER_COULD_NOT_BE_CANCELED")
            found.cancel_pending = True

    async def advance(self) -> list[Fill]:
        """One step of simulated time: apply accepted cancels, then fill resting orders.

        Returns every fill recorded since the previous `advance()`, including taker fills made
        at submit, oldest first. Pairs whose book could not be fetched, is stale, crossed or was
        already matched get no fills this round; `last_skipped` says why.
        """
        async with self._lock:
            now = self._clock_ms()
            for o in self._sorted_orders():
                if o.cancel_pending and o.status.is_open:
                    o.status = CANCELED
                    o.updated_ms = now
                    self._release(o)
            self._last_skipped = {}
            resting = [o for o in self._sorted_orders() if o.status.is_open]
            for pair in sorted({o.symbol for o in resting}):
                await self._match_pair(pair, [o for o in resting if o.symbol == pair])
            reported, self._unreported = self._unreported, []
            return reported

    @property
    def last_skipped(self) -> dict[str, str]:
        """Pairs the last `advance()` could not match, with the reason (e.g. `book:stale`)."""
        return dict(self._last_skipped)

    async def close(self) -> None:
        """Nothing to release: the market source is borrowed and closed by its owner."""

    # ---- persistence -----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Balances, orders, fills and id counters as a JSON-safe blob (Decimals as strings)."""
        return {
            "version": STATE_VERSION,
            "next_order_id": self._next_order_id,
            "next_trade_id": self._next_trade_id,
            "balances": {
                asset: {
                    "free": str(self._free.get(asset, ZERO)),
                    "locked": str(self._locked.get(asset, ZERO)),
                }
                for asset in sorted(set(self._free) | set(self._locked))
            },
            "orders": [o.to_json() for o in self._sorted_orders()],
            "fills": [_fill_to_json(f) for f in self._fills],
            "unreported": [f.trade_id for f in self._unreported],
            "seen_books": {
                pair: {
                    "exchange_ts_ms": ts,
                    "consumed": [
                        [name, str(price), str(qty)] for (name, price), qty in used.items()
                    ],
                }
                for pair, (ts, used) in sorted(self._seen_books.items())
            },
        }

    @classmethod
    def from_state(
        cls,
        market: MarketData,
        state: Mapping[str, Any],
        *,
        fees: FeeSchedule = FeeSchedule(),  # noqa: B008 - frozen, immutable default
        clock_ms: Callable[[], int] = _wall_clock_ms,
        participation: Decimal = ONE,
        max_book_age_ms: int = 10_000,
        rules_ttl_ms: int = 60_000,
        book_limit: int = 100,
    ) -> PaperExchange:
        """Rebuild a paper exchange saved by `to_state()`; the round trip is exact."""
        version = state.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"paper state version {version!r} is not {STATE_VERSION}")
        paper = cls(
            market,
            balances={},
            fees=fees,
            clock_ms=clock_ms,
            order_id_start=int(state["next_order_id"]),
            trade_id_start=int(state["next_trade_id"]),
            participation=participation,
            max_book_age_ms=max_book_age_ms,
            rules_ttl_ms=rules_ttl_ms,
            book_limit=book_limit,
        )
        for asset, entry in state["balances"].items():
            paper._free[asset] = to_decimal(entry["free"], field=f"{asset} free")
            paper._locked[asset] = to_decimal(entry["locked"], field=f"{asset} locked")
        for raw in state["orders"]:
            order = _Order.from_json(raw)
            paper._orders[order.order_id] = order
        paper._fills = [_fill_from_json(raw) for raw in state["fills"]]
        by_id = {f.trade_id: f for f in paper._fills}
        paper._unreported = [by_id[int(tid)] for tid in state["unreported"]]
        for pair, entry in state["seen_books"].items():
            used = {
                (name, to_decimal(price)): to_decimal(qty) for name, price, qty in entry["consumed"]
            }
            paper._seen_books[pair] = (int(entry["exchange_ts_ms"]), used)
        return paper

    # ---- internals: submit -----------------------------------------------------------------

    async def _submit(self, request: OrderRequest) -> SubmitAck:
        pair = normalize_symbol(request.symbol)
        spec = await self._spec_for(pair)
        if spec is None:
            raise Rejected(f"Pair {pair} does not exists.", code=1037, http_status=400)
        rules = spec.rules
        method = request.method
        if method not in (OrderMethod.LIMIT, OrderMethod.MARKET) or method not in spec.methods:
            # Stop orders may be listed for a pair, but the paper exchange does not simulate them.
            raise _reject("ORDER_METHOD_NOT_SUPPORTED")
        if not spec.trading:
            raise _reject(
                "FAILED_LIMIT_ORDER" if method is OrderMethod.LIMIT else "FAILED_MARKET_ORDER"
            )
        # to_decimal refuses a float outright: money never passes through one.
        quantity = to_decimal(request.quantity, field="quantity")
        if quantity <= ZERO:
            raise _reject("FAILED_ORDER_PARAMETER")
        quote_sized = method is OrderMethod.MARKET and request.side is Side.BUY
        # A market buy's quantity is quote money, scaled like a price (reference 7).
        max_scale = rules.price_scale if quote_sized else rules.quantity_scale
        if _too_fine(quantity, max_scale):
            raise _reject("FAILED_INVALID_QUANTITY_SCALE")

        price = ZERO
        if method is OrderMethod.LIMIT:
            if request.price is None or request.price <= ZERO:
                raise _reject("FAILED_ORDER_PARAMETER")
            price = to_decimal(request.price, field="price")
            # The strict reading of the reference, as the quantizer and the simulator use:
            # at most price_scale decimals, a multiple of tickSize, an integer if !hasFraction.
            if _too_fine(price, rules.price_scale) or price % spec.price_step != ZERO:
                raise _reject("FAILED_INVALID_PRICE_SCALE")
            if rules.max_price is not None and price > rules.max_price:
                raise _reject("PRICE_MUST_BE_LESS_THAN_MAXPRICE")
            if rules.min_price is not None and price < rules.min_price:
                raise _reject("PRICE_MUST_BE_LESS_THAN_MINPRICE")

        now = self._clock_ms()
        book = await self._fresh_book(pair, now)
        book_side = book.asks if request.side is Side.BUY else book.bids
        if method is OrderMethod.LIMIT:
            notional = price * quantity
        elif quote_sized:
            notional = quantity
        else:
            if not book.bids:
                raise _reject("FAILED_MARKET_ORDER")
            notional = quantity * book.bids[0].price
        if notional < rules.min_notional:
            raise _reject("FAILED_MIN_TOTAL_AMOUNT")

        if request.side is Side.SELL:
            lock, lock_asset = quantity, rules.base
        else:
            lock, lock_asset = self._fees.buy_reserve(notional), rules.quote
        free = self._free.get(lock_asset, ZERO)
        locked = self._locked.get(lock_asset, ZERO)
        if lock > free + locked:
            raise _reject("BALANCE_NOT_ENOUGH")
        if lock > free:
            raise _reject("FAILED_ORDER_WITH_OPEN_ORDERS")  # open orders hold what is missing
        if method is OrderMethod.MARKET and not book_side:
            raise _reject("FAILED_MARKET_ORDER")

        order = _Order(
            order_id=self._next_order_id,
            client_id=request.client_id or str(uuid.uuid4()),  # BTCTurk fills in a GUID
            symbol=pair,
            base=rules.base,
            quote=rules.quote,
            side=request.side,
            method=method,
            price=price,
            quantity=quantity,
            left=quantity,
            status=UNTOUCHED,
            created_ms=now,
            updated_ms=now,
            reserved=lock,
            fee_accrued=ZERO,
            quantity_step=spec.quantity_step,
        )
        self._next_order_id += 1
        self._orders[order.order_id] = order
        self._free[lock_asset] = free - lock
        self._locked[lock_asset] = locked + lock
        for asset in (rules.base, rules.quote):  # both legs appear in balances from now on
            self._free.setdefault(asset, ZERO)
            self._locked.setdefault(asset, ZERO)

        self._match_on_submit(order, book, now)
        return SubmitAck(
            order_id=order.order_id,
            client_id=order.client_id,
            symbol=pair,
            side=order.side,
            method=method,
            price=request.price if method is OrderMethod.LIMIT else None,
            quantity=quantity,
            created_ms=now,
        )

    def _match_on_submit(self, order: _Order, book: OrderBook, now: int) -> None:
        """Take liquidity at once for a market or crossing order (the replay exchange
        overrides this: there, a new order first trades on the next bar)."""
        if order.method is OrderMethod.MARKET:
            self._fill_market(order, book, now)
        elif is_marketable(order.side, order.price, book):
            taken = match_marketable(
                self._paper_view(order), book, self._fees, quantity_step=order.quantity_step
            )
            self._remember(order.symbol, book, taken.book)
            for piece in taken.slices:
                self._apply(order, piece, now)

    def _fill_market(self, order: _Order, book: OrderBook, now: int) -> None:
        # A market order never rests: what the 5% band or the depth cannot fill is dropped.
        result = match_market(
            order.side, order.quantity, book, self._fees, quantity_step=order.quantity_step
        )
        self._remember(order.symbol, book, result.book)
        for piece in result.slices:
            self._apply(order, piece, now)
        order.left = result.left
        order.status = CLOSED if result.done and result.slices else CANCELED
        order.updated_ms = now
        self._release(order)

    # ---- internals: matching ---------------------------------------------------------------

    async def _match_pair(self, pair: str, orders: list[_Order]) -> None:
        now = self._clock_ms()
        try:
            book = await self._market.order_book(pair, self._book_limit)
        except ExchangeError as exc:
            self._last_skipped[pair] = f"book:unavailable:{type(exc).__name__}"
            return
        problem = self._book_problem(pair, book, now)
        if problem:
            self._last_skipped[pair] = problem
            return
        limits = [o for o in orders if o.method is OrderMethod.LIMIT]
        fresh = scale_book(self._unused(pair, book), self._participation)
        per_order, rest = match_resting_book(
            [self._paper_view(o) for o in limits],
            fresh,
            self._fees,
            quantity_step=limits[0].quantity_step if limits else None,
        )
        self._remember(pair, fresh, rest)
        for o, pieces in zip(limits, per_order, strict=True):
            for piece in pieces:
                self._apply(o, piece, now)

    async def _fresh_book(self, pair: str, now: int) -> OrderBook:
        # A failed fetch propagates (ExchangeUnavailable etc.) before anything is booked.
        book = await self._market.order_book(pair, self._book_limit)
        problem = self._book_problem(pair, book, now, allow_seen=True)
        if problem:
            raise ExchangeUnavailable(f"paper: no usable order book for {pair} ({problem})")
        return self._unused(pair, book)

    def _book_problem(
        self, pair: str, book: OrderBook, now: int, *, allow_seen: bool = False
    ) -> str | None:
        """Why a book must not be used to fill, or None."""
        if book.symbol != pair and normalize_symbol(book.symbol) != pair:
            return "book:wrong_symbol"
        if now - book.received_at_ms > self._max_book_age_ms:
            return "book:stale"
        if book.bids and book.asks and book.bids[0].price >= book.asks[0].price:
            return "book:crossed"
        seen = self._seen_books.get(pair)
        if seen is not None:
            if book.exchange_ts_ms < seen[0]:
                return "book:older_than_seen"
            if book.exchange_ts_ms == seen[0] and not allow_seen:
                # Resting orders were already matched against this snapshot: nothing new traded.
                return "book:already_matched"
        return None

    def _unused(self, pair: str, book: OrderBook) -> OrderBook:
        seen = self._seen_books.get(pair)
        if seen is not None and seen[0] == book.exchange_ts_ms:
            return _deplete(book, seen[1])
        return book

    def _remember(self, pair: str, before: OrderBook, after: OrderBook) -> None:
        """Mark this snapshot as used and add the depth taken from it (`before` -> `after`).

        `before` is the book exactly as handed to the fill model (already depleted and scaled).
        """
        seen = self._seen_books.get(pair)
        used: _Consumed = (
            dict(seen[1]) if seen is not None and seen[0] == before.exchange_ts_ms else {}
        )
        for key, qty in _consumption(before, after).items():
            used[key] = used.get(key, ZERO) + qty
        self._seen_books[pair] = (before.exchange_ts_ms, used)

    def _paper_view(self, order: _Order) -> PaperOrder:
        return PaperOrder(
            side=order.side,
            price=order.price,
            left_quantity=order.left,
            fee_accrued=order.fee_accrued,
        )

    def _apply(self, order: _Order, piece: FillSlice, now: int) -> None:
        """Book one fill: move funds, charge fee and tax in quote, update the order."""
        notional = piece.notional
        if order.side is Side.BUY:
            cost = notional + piece.fee + piece.tax
            from_lock = min(cost, order.reserved)
            order.reserved -= from_lock
            self._locked[order.quote] -= from_lock
            # The reserve covers every fill by construction (FeeSchedule.buy_reserve); this
            # only keeps the books balanced if that ever stopped being true.
            self._free[order.quote] -= cost - from_lock
            self._free[order.base] = self._free.get(order.base, ZERO) + piece.quantity
        else:
            order.reserved -= piece.quantity
            self._locked[order.base] -= piece.quantity
            proceeds = notional - piece.fee - piece.tax
            self._free[order.quote] = self._free.get(order.quote, ZERO) + proceeds
        order.left -= notional if order.quote_sized else piece.quantity
        order.fee_accrued += piece.fee_exact
        if order.method is OrderMethod.MARKET and order.price == ZERO:
            order.price = piece.price  # BTCTurk: an order's price reflects its first fill
        order.updated_ms = now
        if order.method is OrderMethod.LIMIT:
            order.status = CLOSED if order.left <= ZERO else PARTIAL
            if order.status is CLOSED:
                self._release(order)
        else:
            order.status = PARTIAL
        fill = Fill(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            client_id=order.client_id,
            symbol=order.symbol,
            base=order.base,
            quote=order.quote,
            side=order.side,
            price=piece.price,
            quantity=piece.quantity,
            fee=piece.fee,
            tax=piece.tax,
            fee_asset=order.quote,
            timestamp_ms=now,
        )
        self._next_trade_id += 1
        self._fills.append(fill)
        self._unreported.append(fill)

    def _release(self, order: _Order) -> None:
        """Give back what an order still holds (it closed or was canceled)."""
        asset = order.lock_asset
        self._locked[asset] -= order.reserved
        self._free[asset] = self._free.get(asset, ZERO) + order.reserved
        order.reserved = ZERO

    # ---- internals: misc -------------------------------------------------------------------

    async def _spec_for(self, pair: str) -> _PairSpec | None:
        """The submit checks' view of a pair's current rules (None: no such pair)."""
        rules = (await self._rules_for()).get(pair)
        if rules is None:
            return None
        spec = self._specs.get(pair)
        if spec is None or spec.rules is not rules:  # first order, or the rules were refreshed
            spec = self._specs[pair] = _PairSpec.of(rules)
        return spec

    async def _rules_for(self) -> dict[str, SymbolRules]:
        now = self._clock_ms()
        if self._rules_at_ms is None or now - self._rules_at_ms > self._rules_ttl_ms:
            self._rules = {
                normalize_symbol(k): v for k, v in (await self._market.exchange_info()).items()
            }
            self._rules_at_ms = now
        return self._rules

    def _sorted_orders(self) -> Iterable[_Order]:
        return (self._orders[k] for k in sorted(self._orders))
