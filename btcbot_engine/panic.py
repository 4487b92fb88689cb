"""`btcbot panic`: cancel every open order on the account with only the keys and the exchange.

This is the one exchange write allowed outside the gates, because it can only reduce risk: the
adapter gets a `CancelOnlyGuard` that lets cancels through and refuses every other write. It
needs no database (locked, corrupt or missing is fine) and is not stopped by SAFE_MODE.

Cancels on BTCTurk are asynchronous (accepted now, applied shortly after), so after the cancel
pass the open orders are re-read until none is left or the wait runs out; anything still open,
or newly placed meanwhile, gets another cancel on each pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from btcbot_engine.domain.orders import ExchangeOrder
from btcbot_engine.exchange.port import (
    AuthFailed,
    ExchangeError,
    Rejected,
    WriteBlocked,
)
from btcbot_engine.kill_request import KillOutcome, engage_kill

if TYPE_CHECKING:
    from btcbot_engine.config import Settings
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange

#: The reason code a panic guard gives when anything but a cancel is attempted.
PANIC_CANCEL_ONLY = "PANIC_CANCEL_ONLY"

CANCELLED = "cancelled"  # our cancel was accepted and the order is no longer open
GONE = "gone"  # the exchange refused the cancel because the order was already closing/closed
FAILED = "failed"  # the cancel could not be sent or its reply was an error


class CancelOnlyGuard:
    """The adapter's write guard for panic: every cancel allowed, every submit refused.

    SAFE_MODE, the kill switch and the live gates are deliberately not consulted: cancelling
    only removes exposure. Nothing else may use this guard.
    """

    def __call__(self, action: str) -> None:
        if action != "cancel":
            raise WriteBlocked(action, [PANIC_CANCEL_ONLY])


@dataclass(frozen=True, slots=True)
class CancelAttempt:
    """The last cancel attempt for one order and what became of it."""

    order: ExchangeOrder
    outcome: str  # CANCELLED, GONE or FAILED
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PanicResult:
    """Everything panic saw and did. `ok` means nothing is left open and no cancel failed."""

    open_before: tuple[ExchangeOrder, ...]
    attempts: tuple[CancelAttempt, ...]
    still_open: tuple[ExchangeOrder, ...]
    read_error: str | None = None  # the last read of open orders failed
    kill: KillOutcome | None = None
    elapsed_s: float = 0.0
    listed: bool = True  # False: the open orders could not be read at all; nothing was sent

    def by_outcome(self, outcome: str) -> list[CancelAttempt]:
        """Attempts with this outcome, for orders no longer open."""
        still = {o.order_id for o in self.still_open}
        return [a for a in self.attempts if a.outcome == outcome and a.order.order_id not in still]

    @property
    def failed(self) -> list[CancelAttempt]:
        """Cancels that errored (whether or not the order is still open)."""
        return [a for a in self.attempts if a.outcome == FAILED]

    @property
    def ok(self) -> bool:
        return not self.still_open and self.read_error is None and not self.failed


def order_json(order: ExchangeOrder) -> dict[str, object]:
    """An exchange order as panic prints it in JSON (money as Decimal text)."""
    return {
        "id": order.order_id,
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "price": str(order.price),
        "quantity": str(order.quantity),
        "left": str(order.left_quantity),
        "status": order.status.value,
    }


def panic_exchange(settings: Settings) -> BtcturkExchange:
    """A live adapter with the configured keys and the cancel-only guard (raises without keys)."""
    from btcbot_engine.exchange.btcturk.rest import BtcturkExchange

    if not settings.has_api_keys:
        raise ValueError("panic needs BTCTURK_API_KEY and BTCTURK_API_SECRET")
    assert settings.btcturk_api_key is not None and settings.btcturk_api_secret is not None
    return BtcturkExchange(
        settings.btcturk_base_url,
        settings.btcturk_graph_url,
        api_key=settings.btcturk_api_key.get_secret_value(),
        api_secret=settings.btcturk_api_secret.get_secret_value(),
        write_guard=CancelOnlyGuard(),
        timeout_s=settings.http_timeout_seconds,
        rate_limit_share=settings.rate_limit_share,
        # An operator in an incident needs an answer, not a minute of silent retrying.
        max_total_retry_wait_s=settings.http_timeout_seconds,
        max_retries=2,
    )


async def list_open_orders(settings: Settings) -> list[ExchangeOrder]:
    """Every open order on the account (a read; raises ExchangeError)."""
    exchange = panic_exchange(settings)
    try:
        return await exchange.open_orders(None)
    finally:
        await exchange.close()


async def cancel_all_open(
    exchange: BtcturkExchange,
    open_before: list[ExchangeOrder] | None = None,
    *,
    wait_s: float = 10.0,
    poll_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> PanicResult:
    """Cancel every open order, then re-read until none is left or `wait_s` has passed.

    `open_before` is the list just read (read here when None). Raises ExchangeError only when
    that first read fails (nothing was cancelled).
    """
    started = clock()
    if open_before is None:
        open_before = await exchange.open_orders(None)
    attempts: dict[int, CancelAttempt] = {}
    accepted: set[int] = set()
    hopeless: set[int] = set()  # the keys may not cancel: resending cannot help
    open_now = open_before
    read_error: str | None = None
    deadline = started + wait_s
    while True:
        for order in open_now:
            oid = order.order_id
            if oid in accepted or oid in hopeless:
                continue
            try:
                await exchange.cancel(oid)
            except Rejected as exc:
                # Not found / cannot be cancelled: closing or closed already; the re-read decides.
                attempts[oid] = CancelAttempt(order, GONE, str(exc))
            except AuthFailed as exc:
                attempts[oid] = CancelAttempt(order, FAILED, str(exc))
                hopeless.add(oid)
            except ExchangeError as exc:
                attempts[oid] = CancelAttempt(order, FAILED, str(exc))
            else:
                accepted.add(oid)
                attempts[oid] = CancelAttempt(order, CANCELLED)
        if not open_now or clock() >= deadline:
            break
        await sleep(poll_s)
        try:
            open_now = await exchange.open_orders(None)
            read_error = None
        except ExchangeError as exc:
            read_error = str(exc)
            continue  # keep the last list we saw; try again until the deadline
        if not open_now:
            break
    still_open = tuple(open_now)
    still_ids = {o.order_id for o in still_open}
    final: list[CancelAttempt] = []
    for oid, attempt in attempts.items():
        if attempt.outcome == GONE and oid in still_ids:
            # Refused and still open: that is a failure, not "gone".
            attempt = CancelAttempt(attempt.order, FAILED, attempt.error)
        final.append(attempt)
    return PanicResult(
        open_before=tuple(open_before),
        attempts=tuple(final),
        still_open=still_open,
        read_error=read_error,
        elapsed_s=clock() - started,
    )


@dataclass(frozen=True, slots=True)
class PanicPlan:
    """How a panic runs: which reason to persist and how long to wait for the cancels."""

    reason: str = "panic"
    wait_s: float = 10.0
    poll_s: float = 0.5
    command: str = "btcbot panic"
    set_kill: bool = True


def run_panic(settings: Settings, plan: PanicPlan | None = None) -> PanicResult:
    """List the open orders, trip the kill state (best effort), cancel every open order.

    The list comes first so the operator sees what was open; the kill state goes before the
    cancels so a running engine stops submitting (and cancels its own orders too). Database
    trouble never stops the cancels; it is reported in `result.kill`. When the open orders
    cannot be read at all, `result.listed` is False and nothing was cancelled (the kill state is
    still set). Raises ValueError without keys.
    """
    plan = plan or PanicPlan()
    if not settings.has_api_keys:  # before anything happens
        raise ValueError("panic needs BTCTURK_API_KEY and BTCTURK_API_SECRET")
    kill: KillOutcome | None = None

    def trip() -> KillOutcome | None:
        if not plan.set_kill:
            return None
        try:
            return engage_kill(
                settings.state_db_path, settings.account_key, plan.reason, command=plan.command
            )
        except Exception as exc:  # panic must cancel even if the kill bookkeeping breaks
            return KillOutcome("error", False, f"could not set the kill state: {exc}")

    async def go() -> PanicResult:
        nonlocal kill
        exchange = panic_exchange(settings)
        try:
            try:
                before = await exchange.open_orders(None)
            except ExchangeError as exc:
                kill = trip()
                return PanicResult((), (), (), read_error=str(exc), listed=False)
            kill = trip()
            return await cancel_all_open(exchange, before, wait_s=plan.wait_s, poll_s=plan.poll_s)
        finally:
            await exchange.close()

    result = asyncio.run(go())
    return replace(result, kill=kill)
