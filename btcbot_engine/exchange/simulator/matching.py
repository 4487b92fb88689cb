"""The user's side of the exchange: balances, order validation, the user's orders, fills, fees.

One account (the test key pair's). Funds are locked at submit and released as orders fill or are
cancelled. Crossing orders take liquidity from the synthetic book at once (taker fee); resting
orders fill on later ticks when other participants trade through their price (maker fee).
Private WebSocket events are handed to `emit` as (model, body) as they happen.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from btcbot_engine.domain.money import to_non_negative
from btcbot_engine.exchange.simulator import errors
from btcbot_engine.exchange.simulator.clock import ServerClock
from btcbot_engine.exchange.simulator.errors import bad_request
from btcbot_engine.exchange.simulator.market import Market, PairMarket, PublicTrade
from btcbot_engine.exchange.simulator.pairs import CURRENCIES, CURRENCIES_BY_SYMBOL, PairSpec
from btcbot_engine.exchange.simulator.wire import decimals_of, plain, scaled

MAKER_FEE = Decimal("0.0005")
TAKER_FEE = Decimal("0.0009")
TAX_RATE = Decimal("0.18")  # tax = 18% of the fee, the ratio in the reference's fill example
# Buy orders lock a little more than notional so the taker fee and its tax always fit.
LOCK_BUFFER = Decimal("0.0011")
MARKET_BAND = Decimal("0.05")  # market orders never fill more than 5% from the best price
EIGHT = Decimal("0.00000001")
FIRST_ORDER_ID = 21770789256
FIRST_FILL_ID = 1181163798924649598
USER_ID = 5869906

UNTOUCHED, PARTIAL, CLOSED, CANCELED = "Untouched", "Partial", "Closed", "Canceled"
Emit = Callable[[int, dict[str, Any]], None]


def _ceil8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT, ROUND_CEILING)


def _round8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT, ROUND_HALF_UP)


@dataclass
class SimOrder:
    """One order of the user, as the matching engine tracks it."""

    id: int
    pair: PairSpec
    side: str  # "buy" / "sell"
    method: str  # "limit" / "market"
    price: Decimal  # limit price; for market orders the first fill price (0 before any)
    quantity: Decimal  # as submitted: base, or quote to spend for a market buy
    left: Decimal  # same unit as quantity
    client_id: str
    created_ms: int
    update_ms: int
    status: str = UNTOUCHED
    locked: Decimal = Decimal(0)  # quote for buys, base for sells
    cancel_requested: bool = False
    cancel_due_tick: int = 0  # market tick from which an accepted cancel is carried out
    cancel_requests: int = 0  # accepted DELETEs for this order (drills count double cancels)

    @property
    def is_open(self) -> bool:
        """Untouched or Partial: still in the book."""
        return self.status in (UNTOUCHED, PARTIAL)

    @property
    def quote_sized(self) -> bool:
        """A market buy is sized in quote currency (reference 3.8)."""
        return self.method == "market" and self.side == "buy"

    def to_wire(self) -> dict[str, Any]:
        """The REST order object (reference 3.10)."""
        qscale = self.pair.price_scale if self.quote_sized else self.pair.quantity_scale
        return {
            "id": self.id,
            "price": scaled(self.price, self.pair.price_scale),
            "amount": scaled(self.quantity, qscale),
            "quantity": scaled(self.quantity, qscale),
            "stopPrice": "0.00",
            "pairSymbol": self.pair.name,
            "pairSymbolNormalized": self.pair.name_normalized,
            "type": self.side,
            "method": self.method,
            "orderClientId": self.client_id,
            "time": 0,
            "updateTime": self.update_ms,
            "status": self.status,
            "leftAmount": plain(self.left),
        }


@dataclass(frozen=True)
class UserFill:
    """One execution of a user order (a users/transactions/trade row, and WS 423)."""

    id: int
    order: SimOrder
    ts_ms: int
    price: Decimal
    amount: Decimal  # base, positive
    fee: Decimal  # quote, positive magnitude
    tax: Decimal
    maker: bool

    def to_wire(self) -> dict[str, Any]:
        """The row of reference 3.12: signed amount, negative fee and tax as strings."""
        pair = self.order.pair
        signed = -self.amount if self.order.side == "sell" else self.amount
        return {
            "id": self.id,
            "timestamp": self.ts_ms,
            "amount": plain(signed),
            "preciseAmount": signed,
            "fee": _negative(self.fee),
            "tax": _negative(self.tax),
            "price": scaled(self.price, pair.price_scale),
            "numeratorSymbol": pair.base,
            "denominatorSymbol": pair.quote,
            "orderType": self.order.side,
            "orderId": self.order.id,
            "orderClientId": self.order.client_id,
        }


def _negative(value: Decimal) -> str:
    return format(-value, "f") if value else "0"


class Account:
    """Balances of one user: total and locked per asset (free = total - locked)."""

    def __init__(self, balances: dict[str, Decimal]) -> None:
        self.total: dict[str, Decimal] = {c.symbol: Decimal(0) for c in CURRENCIES}
        self.locked: dict[str, Decimal] = {c.symbol: Decimal(0) for c in CURRENCIES}
        for asset, amount in balances.items():
            symbol = asset.upper()
            value = to_non_negative(amount, field=f"balance {symbol}")
            self.total[symbol] = value.quantize(EIGHT, ROUND_DOWN)
            self.locked.setdefault(symbol, Decimal(0))

    def free(self, asset: str) -> Decimal:
        """What can still be committed to new orders."""
        return self.total.get(asset, Decimal(0)) - self.locked.get(asset, Decimal(0))

    def to_wire(self) -> list[dict[str, Any]]:
        """The balances list (reference 3.7): every listed asset, amounts as strings."""
        rows = []
        for asset in self.total:
            spec = CURRENCIES_BY_SYMBOL.get(asset)
            locked = self.locked.get(asset, Decimal(0))
            rows.append(
                {
                    "asset": asset,
                    "assetname": spec.name if spec else asset,
                    "balance": plain(self.total[asset]),
                    "locked": plain(locked),
                    "free": plain(self.total[asset] - locked),
                    "orderFund": plain(locked),
                    "requestFund": "0",
                    "precision": spec.precision if spec else 8,
                }
            )
        return rows

    def snapshot(self) -> dict[str, dict[str, Decimal]]:
        """Balances as Decimals, for the control API."""
        return {
            asset: {
                "total": total,
                "locked": self.locked.get(asset, Decimal(0)),
                "free": total - self.locked.get(asset, Decimal(0)),
            }
            for asset, total in self.total.items()
        }


def _parse_positive(value: object) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise bad_request(errors.FAILED_ORDER_PARAMETER)
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise bad_request(errors.FAILED_ORDER_PARAMETER) from None
    if not number.is_finite() or number <= 0:
        raise bad_request(errors.FAILED_ORDER_PARAMETER)
    return number


def price_band(pm: PairMarket) -> tuple[Decimal, Decimal]:
    """(minimumLimitOrderPrice, maximumLimitOrderPrice): ~0.1x and ~10x the current price."""
    step = pm.step
    low = max((pm.mid / 10 / step).to_integral_value(ROUND_CEILING) * step, step)
    high = (pm.mid * 10 / step).to_integral_value(ROUND_DOWN) * step
    return low, high


class MatchingEngine:
    """Validates and books the user's orders, matches them, keeps balances and fills."""

    def __init__(
        self,
        market: Market,
        clock: ServerClock,
        balances: dict[str, Decimal],
        seed: int,
        emit: Emit | None = None,
    ) -> None:
        self.market = market
        self.clock = clock
        self.account = Account(balances)
        self.orders: dict[int, SimOrder] = {}
        self.fills: list[UserFill] = []
        self.user_id = USER_ID
        self.emit: Emit = emit or (lambda model, body: None)
        self._rng = random.Random(f"ids:{seed}")
        self._order_id = FIRST_ORDER_ID - 1
        self._fill_id = FIRST_FILL_ID

    # ---- ids ------------------------------------------------------------------------------------

    def _next_order_id(self) -> int:
        # The first id is exactly FIRST_ORDER_ID; later ones jump, as ids shared by all users do.
        self._order_id += 1 if self._order_id < FIRST_ORDER_ID else self._rng.randint(1, 40)
        return self._order_id

    def _next_fill_id(self) -> int:
        self._fill_id += self._rng.randint(1, 5000)
        return self._fill_id

    # ---- submit ---------------------------------------------------------------------------------

    def submit(
        self,
        pair: PairSpec,
        order_type: object,
        order_method: object,
        quantity: object,
        price: object,
        client_id: object,
    ) -> SimOrder:
        """Validate, lock funds, book, and match at once if the order crosses the book.

        Raises ApiError (HTTP 400) with the reference's message for every refusal; a refused
        order leaves no trace.
        """
        side = str(order_type or "").strip().lower()
        if side not in ("buy", "sell"):
            raise bad_request(errors.ORDER_TYPE_NOT_SUPPORTED)
        method = str(order_method or "").strip().lower()
        if method not in ("limit", "market") or not pair.supports(method):
            # Stop orders are listed for most pairs but the simulator does not implement them.
            raise bad_request(errors.ORDER_METHOD_NOT_SUPPORTED)
        qty = _parse_positive(quantity)
        pm = self.market.pair(pair.name)
        quote_sized = method == "market" and side == "buy"
        max_qty_scale = pair.price_scale if quote_sized else pair.quantity_scale
        if decimals_of(qty) > max_qty_scale:
            raise bad_request(errors.FAILED_INVALID_QUANTITY_SCALE)

        limit_price = Decimal(0)
        if method == "limit":
            limit_price = _parse_positive(price)
            if decimals_of(limit_price) > pair.price_scale:
                raise bad_request(errors.FAILED_INVALID_PRICE_SCALE)
            # Strict reading of the reference: a multiple of tickSize, an integer if !hasFraction.
            if limit_price % pair.price_step != 0:
                raise bad_request(errors.FAILED_INVALID_PRICE_SCALE)
            low, high = price_band(pm)
            if limit_price > high:
                raise bad_request(errors.PRICE_MUST_BE_LESS_THAN_MAXPRICE)
            if limit_price < low:
                raise bad_request(errors.PRICE_MUST_BE_LESS_THAN_MINPRICE)
            notional = limit_price * qty
        elif quote_sized:
            notional = qty
        else:
            notional = qty * pm.best_bid()
        if notional < pair.min_exchange_value:
            raise bad_request(errors.FAILED_MIN_TOTAL_AMOUNT)

        lock_asset = pair.quote if side == "buy" else pair.base
        if side == "sell":
            lock = qty
        elif quote_sized:
            lock = _ceil8(qty * (1 + LOCK_BUFFER))
        else:
            lock = _ceil8(qty * limit_price * (1 + LOCK_BUFFER))
        if lock > self.account.total.get(lock_asset, Decimal(0)):
            raise bad_request(errors.BALANCE_NOT_ENOUGH)
        if lock > self.account.free(lock_asset):
            raise bad_request(errors.FAILED_ORDER_WITH_OPEN_ORDERS)
        if method == "market" and not self._market_fillable(pm, side):
            raise bad_request(errors.FAILED_MARKET_ORDER)

        now = self.clock.now_ms()
        if client_id is None or str(client_id).strip() == "":
            client_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        order = SimOrder(
            id=self._next_order_id(),
            pair=pair,
            side=side,
            method=method,
            price=limit_price,
            quantity=qty,
            left=qty,
            client_id=str(client_id),
            created_ms=now,
            update_ms=now,
            locked=lock,
        )
        self.account.locked[lock_asset] = self.account.locked.get(lock_asset, Decimal(0)) + lock
        self.orders[order.id] = order
        self.emit(451, self._order_event(451, order))
        filled = self._take_liquidity(order, pm, now)
        if method == "market":
            self._finish_market(order, pm, now)
        if filled or method == "market":
            self._emit_balance()
        return order

    def _market_fillable(self, pm: PairMarket, side: str) -> bool:
        return bool(pm.asks if side == "buy" else pm.bids)

    def _take_liquidity(self, order: SimOrder, pm: PairMarket, now: int) -> bool:
        """Match against the synthetic book as taker: up to the limit, or within the 5% band."""
        if order.side == "buy":
            levels = sorted(pm.asks.items(), key=lambda kv: kv[0])
            bound = order.price if order.method == "limit" else pm.best_ask() * (1 + MARKET_BAND)
            book_side = "asks"
        else:
            levels = sorted(pm.bids.items(), key=lambda kv: kv[0], reverse=True)
            bound = order.price if order.method == "limit" else pm.best_bid() * (1 - MARKET_BAND)
            book_side = "bids"
        filled = False
        for level_price, level_amount in levels:
            if order.left <= 0:
                break
            beyond = level_price > bound if order.side == "buy" else level_price < bound
            if beyond:
                break
            if order.quote_sized:
                take = (order.left / level_price).quantize(order.pair.quantity_step, ROUND_DOWN)
                take = min(take, level_amount)
            else:
                take = min(order.left, level_amount)
            if take <= 0:
                break
            pm.take(book_side, level_price, take)
            pm.record_trade(self.market.next_trade_id(), now, level_price, take, order.side)
            self._fill(order, level_price, take, maker=False, ts_ms=now)
            filled = True
        return filled

    def _finish_market(self, order: SimOrder, pm: PairMarket, now: int) -> None:
        # A market order never rests: what the band or the book could not fill is dropped.
        done = order.left == 0
        if order.quote_sized and pm.asks and order.status != UNTOUCHED:
            # Quote left over that cannot buy one quantity step is dust: the order is done.
            done = done or order.left < min(pm.asks) * order.pair.quantity_step
        order.status = CLOSED if done else CANCELED
        order.update_ms = now
        self._release(order)
        if not done:
            self.emit(452, self._order_event(452, order))

    # ---- fills and funds ------------------------------------------------------------------------

    def _lock_for(self, order: SimOrder) -> Decimal:
        """What an order must keep locked for what is left of it."""
        if order.left <= 0:
            return Decimal(0)
        if order.side == "sell":
            return order.left
        if order.quote_sized:
            return _ceil8(order.left * (1 + LOCK_BUFFER))
        return _ceil8(order.left * order.price * (1 + LOCK_BUFFER))

    def _release(self, order: SimOrder) -> None:
        asset = order.pair.quote if order.side == "buy" else order.pair.base
        self.account.locked[asset] -= order.locked
        order.locked = Decimal(0)

    def _fill(
        self, order: SimOrder, price: Decimal, amount: Decimal, *, maker: bool, ts_ms: int
    ) -> None:
        pair = order.pair
        notional = _round8(price * amount)
        fee = _round8(notional * (MAKER_FEE if maker else TAKER_FEE))
        tax = _round8(fee * TAX_RATE)
        acct = self.account
        if order.side == "buy":
            acct.total[pair.quote] -= notional + fee + tax
            acct.total[pair.base] = acct.total.get(pair.base, Decimal(0)) + amount
        else:
            acct.total[pair.base] -= amount
            acct.total[pair.quote] = acct.total.get(pair.quote, Decimal(0)) + notional - fee - tax
        order.left -= notional if order.quote_sized else amount
        if order.method == "market" and order.price == 0:
            order.price = price  # the reference: an order's price reflects its first fill
        new_lock = self._lock_for(order)
        lock_asset = pair.quote if order.side == "buy" else pair.base
        acct.locked[lock_asset] -= order.locked - new_lock
        order.locked = new_lock
        order.status = CLOSED if order.left <= 0 else PARTIAL
        order.update_ms = ts_ms
        fill = UserFill(
            id=self._next_fill_id(),
            order=order,
            ts_ms=ts_ms,
            price=price,
            amount=amount,
            fee=fee,
            tax=tax,
            maker=maker,
        )
        self.fills.append(fill)
        self.emit(
            441,
            {
                "type": 441,
                "id": order.id,
                "user": self.user_id,
                "isBid": order.side == "buy",
                "method": 0 if order.method == "limit" else 1,
                "pair": pair.id,
                "symbol": pair.name,
                "amount": scaled(amount, pair.quantity_scale),
                "price": scaled(price, pair.price_scale),
                "clientId": order.client_id,
            },
        )
        self.emit(423, fill.to_wire())  # the reference: a 423 object carries no "type" key

    def _order_event(self, model: int, order: SimOrder) -> dict[str, Any]:
        pair = order.pair
        if order.quote_sized:
            num_left, denom_left = Decimal(0), order.left
        else:
            num_left, denom_left = order.left, order.left * order.price
        return {
            "type": model,
            "pairId": pair.id,
            "symbol": pair.name,
            "id": order.id,
            "method": 0 if order.method == "limit" else 1,
            "userId": self.user_id,
            "orderType": 0 if order.side == "buy" else 1,
            "price": scaled(order.price, pair.price_scale),
            "amount": plain(order.quantity),
            "numLeft": plain(num_left),
            "denomLeft": plain(denom_left),
            "newOrderClientId": order.client_id,
        }

    def _emit_balance(self) -> None:
        self.emit(201, {"type": 201, "userId": self.user_id, "payload": "BalanceUpdated"})

    # ---- cancel ---------------------------------------------------------------------------------

    def request_cancel(self, order_id: int, delay_ticks: int = 0) -> None:
        """Accept a cancel; it takes effect on the next tick (the real cancel is asynchronous).

        `delay_ticks` postpones it further (the async-cancel fault). A repeated request keeps the
        first one's due tick.
        """
        order = self.orders.get(order_id)
        if order is None:
            raise bad_request(errors.NO_ORDER_MATCHES_YOUR_REQUEST)
        if not order.is_open:
            raise bad_request(errors.ORDER_COULD_NOT_BE_CANCELED)
        order.cancel_requests += 1
        if not order.cancel_requested:
            order.cancel_requested = True
            order.cancel_due_tick = self.market.ticks + delay_ticks

    def process_cancels(self) -> None:
        """Carry out accepted cancels that are due: status Canceled, funds released, WS 452."""
        changed = False
        now = self.clock.now_ms()
        for order in self.orders.values():
            due = order.cancel_due_tick <= self.market.ticks
            if order.cancel_requested and order.is_open and due:
                order.status = CANCELED
                order.update_ms = now
                self._release(order)
                self.emit(452, self._order_event(452, order))
                changed = True
        if changed:
            self._emit_balance()

    # ---- resting orders -------------------------------------------------------------------------

    def open_orders(self, pair: PairSpec | None = None) -> list[SimOrder]:
        """The user's open orders, oldest first."""
        return [o for o in self.orders.values() if o.is_open and (pair is None or o.pair is pair)]

    def resting_levels(
        self, pair: PairSpec
    ) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """The user's resting amounts per price (bids, asks), to show them in the public book."""
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for order in self.open_orders(pair):
            if order.method != "limit":
                continue
            side = bids if order.side == "buy" else asks
            side[order.price] = side.get(order.price, Decimal(0)) + order.left
        return bids, asks

    def match_resting(self, trades: dict[str, list[PublicTrade]]) -> None:
        """Fill resting orders that this tick's market traded through (maker fills at the limit).

        A buy at P fills from trades printed below P, then from synthetic asks now at or below P;
        better prices first, then older orders first. Sells mirror that.
        """
        now = self.clock.now_ms()
        changed = False
        for name, printed in trades.items():
            pm = self.market.pair(name)
            pool = [[t.price, t.amount] for t in printed]
            orders = [o for o in self.open_orders(pm.spec) if o.method == "limit"]
            buys = sorted((o for o in orders if o.side == "buy"), key=lambda o: (-o.price, o.id))
            sells = sorted((o for o in orders if o.side == "sell"), key=lambda o: (o.price, o.id))
            for order in buys + sells:
                changed |= self._match_one(order, pm, pool, now)
        if changed:
            self._emit_balance()

    def _match_one(
        self, order: SimOrder, pm: PairMarket, pool: list[list[Decimal]], now: int
    ) -> bool:
        buy = order.side == "buy"
        filled = False
        for entry in pool:
            if order.left <= 0:
                break
            through = entry[0] < order.price if buy else entry[0] > order.price
            if not through or entry[1] <= 0:
                continue
            take = min(order.left, entry[1])
            entry[1] -= take
            self._fill(order, order.price, take, maker=True, ts_ms=now)
            filled = True
        # Synthetic orders that now cross a resting user order trade with it at the user's price.
        book = pm.asks if buy else pm.bids
        crossing = sorted(
            (p for p in book if (p <= order.price if buy else p >= order.price)), reverse=not buy
        )
        for level_price in crossing:
            if order.left <= 0:
                break
            take = min(order.left, book[level_price])
            pm.take("asks" if buy else "bids", level_price, take)
            pm.record_trade(
                self.market.next_trade_id(), now, order.price, take, "sell" if buy else "buy"
            )
            self._fill(order, order.price, take, maker=True, ts_ms=now)
            filled = True
        return filled
