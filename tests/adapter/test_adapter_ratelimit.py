"""Client-side rate limiter on a fake clock: no real waiting."""

from __future__ import annotations

import asyncio

import pytest
from btcturk_testkit import FakeClock

from btcbot_engine.exchange.btcturk import ratelimit as rl
from btcbot_engine.exchange.port import RateLimited


def _limiter(clock: FakeClock, share: float = 1.0) -> rl.RateLimiter:
    return rl.RateLimiter(share, clock=clock, sleep=clock.sleep)


def test_reference_table_is_encoded() -> None:
    limiter = rl.RateLimiter(1.0)
    assert limiter.limits(rl.ORDER_SUBMIT) == (rl.Quota(10, 1.0), rl.Quota(300, 60.0))
    assert limiter.limits(rl.ORDER_CANCEL) == (rl.Quota(10, 1.0), rl.Quota(300, 60.0))
    assert limiter.limits(rl.ORDER_GET) == (rl.Quota(30, 1.0), rl.Quota(900, 60.0))
    assert limiter.limits(rl.OPEN_ORDERS) == (rl.Quota(300, 60.0),)
    assert limiter.limits(rl.ALL_ORDERS) == (rl.Quota(300, 60.0),)
    assert limiter.limits(rl.BALANCES) == (rl.Quota(120, 60.0),)
    assert limiter.limits(rl.USER_TRADES) == (rl.Quota(120, 60.0),)
    assert limiter.limits(rl.TICKER) == (rl.Quota(600, 60.0),)
    assert limiter.limits(rl.ORDERBOOK) == (rl.Quota(180, 60.0),)
    assert limiter.limits(rl.GRAPH)[0] == rl.Quota(120, 60.0)


def test_share_scales_every_limit() -> None:
    limiter = rl.RateLimiter(0.8)
    assert limiter.limits(rl.ORDER_SUBMIT) == (rl.Quota(8, 1.0), rl.Quota(240, 60.0))
    assert limiter.limits(rl.TICKER) == (rl.Quota(480, 60.0),)
    tiny = rl.RateLimiter(0.01)
    assert tiny.limits(rl.ORDER_SUBMIT) == (rl.Quota(1, 1.0), rl.Quota(3, 60.0))


@pytest.mark.parametrize("share", [0, -0.5, 1.01, float("nan")])
def test_share_out_of_range(share: float) -> None:
    with pytest.raises(ValueError, match="rate_limit_share"):
        rl.RateLimiter(share)


async def test_eleventh_submit_in_a_second_is_delayed(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    for _ in range(10):
        assert await limiter.acquire(rl.ORDER_SUBMIT) == 0
    assert fake_clock.sleeps == []
    waited = await limiter.acquire(rl.ORDER_SUBMIT)
    assert waited == pytest.approx(1.0)
    assert fake_clock.sleeps == [pytest.approx(1.0)]


async def test_never_more_than_limit_in_any_window(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock, share=0.5)  # 5 / 1 s and 150 / 60 s
    stamps: list[float] = []
    for i in range(400):
        await limiter.acquire(rl.ORDER_SUBMIT)
        stamps.append(fake_clock.now)
        if i % 7 == 0:
            fake_clock.now += 0.13  # irregular caller pacing
    for i, t in enumerate(stamps):
        in_1s = sum(1 for u in stamps[i:] if u < t + 1.0)
        in_60s = sum(1 for u in stamps[i:] if u < t + 60.0)
        assert in_1s <= 5
        assert in_60s <= 150


async def test_minute_window_binds_after_second_windows(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    start = fake_clock.now
    for _ in range(300):
        await limiter.acquire(rl.ORDER_SUBMIT)
    assert fake_clock.now - start < 31  # 300 at 10/s takes ~29 s
    await limiter.acquire(rl.ORDER_SUBMIT)  # the 301st waits for the first to leave the minute
    assert fake_clock.now - start == pytest.approx(60.0)


async def test_groups_are_independent_and_ungrouped_is_free(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    for _ in range(10):
        await limiter.acquire(rl.ORDER_SUBMIT)
    assert await limiter.acquire(rl.ORDER_CANCEL) == 0
    assert await limiter.acquire(None) == 0
    assert await limiter.acquire("server_time") == 0
    assert fake_clock.sleeps == []


async def test_max_wait_raises_rate_limited_without_taking_a_slot(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    for _ in range(120):
        await limiter.acquire(rl.BALANCES)
    fake_clock.now += 10
    with pytest.raises(RateLimited) as info:
        await limiter.acquire(rl.BALANCES, max_wait_s=5)
    assert info.value.retry_after == pytest.approx(50.0)
    assert fake_clock.sleeps == []
    assert limiter.budget_used()[rl.BALANCES] == 1.0


async def test_block_from_server_429(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    limiter.block(rl.TICKER, 7)
    assert limiter.budget_used()[rl.TICKER] == 1.0
    assert await limiter.acquire(rl.TICKER) == pytest.approx(7)
    assert limiter.budget_used()[rl.TICKER] < 0.01


async def test_budget_used_fractions(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    usage = limiter.budget_used()
    assert set(usage) == set(rl.DEFAULT_QUOTAS) and all(v == 0 for v in usage.values())
    for _ in range(5):
        await limiter.acquire(rl.ORDER_SUBMIT)
    assert limiter.budget_used()[rl.ORDER_SUBMIT] == pytest.approx(0.5)  # 5 of 10 per second
    fake_clock.now += 2
    assert limiter.budget_used()[rl.ORDER_SUBMIT] == pytest.approx(5 / 300)
    fake_clock.now += 60
    assert limiter.budget_used()[rl.ORDER_SUBMIT] == 0


async def test_concurrent_waiters_all_respect_the_window(fake_clock: FakeClock) -> None:
    limiter = _limiter(fake_clock)
    taken: list[float] = []

    async def one() -> None:
        await limiter.acquire(rl.ORDER_CANCEL)
        taken.append(fake_clock.now)

    await asyncio.gather(*(one() for _ in range(35)))
    taken.sort()
    for i, t in enumerate(taken):
        assert sum(1 for u in taken[i:] if u < t + 1.0) <= 10
    assert taken[-1] - taken[0] >= 3.0
