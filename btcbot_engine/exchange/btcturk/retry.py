"""Retry policy for BTCTurk REST calls: capped exponential backoff with jitter and a total cap.

The policy only computes waits; the client decides *whether* a failure may be retried at all
(a submit whose reply was lost never is). Every retry, including a 429 wait, counts against both
`max_retries` and `max_total_wait_s`, so a call's time is bounded by
`(max_retries + 1) * per-attempt timeout + max_total_wait_s`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DEFAULT_RETRY_AFTER_S = 60.0  # the reference: on a 429 without Retry-After wait 60 s


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff parameters. Waits are in seconds.

    `backoff(n)` for the n-th retry (1-based) is `min(cap_s, base_s * 2**(n-1))`, jittered into
    `[d/2, d]` ("equal jitter"): never zero, so a burst of clients does not retry in lockstep,
    and never more than the cap.
    """

    max_retries: int = 4
    max_total_wait_s: float = 30.0
    base_s: float = 0.25
    cap_s: float = 8.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.max_total_wait_s < 0:
            raise ValueError("max_total_wait_s must be >= 0")
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("need 0 < base_s <= cap_s")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """The jittered wait before retry number `retry_number` (1 = first retry)."""
        if retry_number < 1:
            raise ValueError("retry_number starts at 1")
        # Cap the exponent too: 2**1000 would overflow a float long before the cap applies.
        ceiling = min(self.cap_s, self.base_s * 2 ** min(retry_number - 1, 30))
        r = (rng or random).random()
        return ceiling / 2 + r * ceiling / 2

    def start(self, rng: random.Random | None = None) -> RetryState:
        """A fresh budget for one logical call."""
        return RetryState(self, rng or random.Random())


@dataclass(slots=True)
class RetryState:
    """The retries and waiting one call has used so far."""

    policy: RetryPolicy
    rng: random.Random
    retries: int = 0
    waited_s: float = 0.0
    last_refusal: str = field(default="")

    def next_wait(self, retry_after_s: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when the budget is spent.

        With `retry_after_s` (a 429) the wait is exactly what the server asked for: shorter would
        just be refused again and could extend the block.
        """
        if self.retries >= self.policy.max_retries:
            self.last_refusal = f"{self.retries} retries used (max {self.policy.max_retries})"
            return None
        if retry_after_s is not None:
            wait = max(0.0, retry_after_s)
        else:
            wait = self.policy.backoff(self.retries + 1, self.rng)
        if self.waited_s + wait > self.policy.max_total_wait_s:
            self.last_refusal = (
                f"waiting {wait:.1f} s more would exceed the {self.policy.max_total_wait_s:.1f} s "
                f"retry budget ({self.waited_s:.1f} s used)"
            )
            return None
        self.retries += 1
        self.waited_s += wait
        return wait


def parse_retry_after(value: str | None, default: float = DEFAULT_RETRY_AFTER_S) -> float:
    """Seconds from a `Retry-After` header; the default when absent or unreadable.

    BTCTurk sends whole seconds. An HTTP-date form is not documented for it, so anything that is
    not a non-negative finite number falls back to the default (waiting longer is the safe side).
    """
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return default
    return seconds
