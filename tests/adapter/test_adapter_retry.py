"""Backoff policy: capped exponential with jitter, bounded by retries and total wait."""

from __future__ import annotations

import random

import pytest

from btcbot_engine.exchange.btcturk.retry import RetryPolicy, parse_retry_after


def test_backoff_is_capped_exponential_with_equal_jitter() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=4.0)
    rng = random.Random(7)
    for n, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (60, 4.0)]:
        for _ in range(50):
            wait = policy.backoff(n, rng)
            assert ceiling / 2 <= wait <= ceiling


def test_jitter_varies() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    assert len({policy.backoff(3, rng) for _ in range(20)}) > 10


def test_retry_count_bound() -> None:
    state = RetryPolicy(max_retries=3, max_total_wait_s=100).start(random.Random(0))
    waits = [state.next_wait() for _ in range(5)]
    assert all(w is not None for w in waits[:3])
    assert waits[3:] == [None, None]
    assert "3 retries" in state.last_refusal


def test_total_wait_bound() -> None:
    policy = RetryPolicy(max_retries=100, max_total_wait_s=5.0, base_s=1.0, cap_s=4.0)
    state = policy.start(random.Random(3))
    total = 0.0
    while (wait := state.next_wait()) is not None:
        total += wait
    assert total <= 5.0
    assert state.waited_s == pytest.approx(total)
    assert "retry budget" in state.last_refusal


def test_retry_after_is_used_exactly_and_counts() -> None:
    state = RetryPolicy(max_retries=4, max_total_wait_s=10).start()
    assert state.next_wait(retry_after_s=3) == 3
    assert state.next_wait(retry_after_s=3) == 3
    assert state.next_wait(retry_after_s=5) is None  # 6 + 5 > 10
    assert state.retries == 2


def test_zero_retries_never_waits() -> None:
    assert RetryPolicy(max_retries=0).start().next_wait() is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 53 ", 53.0),
        ("0.5", 0.5),
        (None, 60.0),
        ("soon", 60.0),
        ("-1", 60.0),
        ("nan", 60.0),
        ("inf", 60.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float) -> None:
    assert parse_retry_after(header) == expected


def test_invalid_policy() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(base_s=0)
