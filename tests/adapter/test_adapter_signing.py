"""Signing against the reference's worked examples (sections 2 and 6.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools

import pytest
from btcturk_testkit import PRIVATE_KEY, PUBLIC_KEY

from btcbot_engine.exchange.btcturk.signing import SigningError, StampClock, sign


def test_rest_signature_matches_reference_example() -> None:
    assert sign(PUBLIC_KEY, PRIVATE_KEY, 1700000000000) == (
        "cajMaTyfrk/yWw6DU07dCqPZBnBpMp4rvEchYx679WA="
    )
    assert sign(PUBLIC_KEY, PRIVATE_KEY, "1700000000000") == (
        "cajMaTyfrk/yWw6DU07dCqPZBnBpMp4rvEchYx679WA="
    )


def test_ws_login_signature_matches_reference_example() -> None:
    assert sign(PUBLIC_KEY, PRIVATE_KEY, 3000) == "+rS57/mUx2vA3rAspozx6mf14SW6YpJmKNuuA/7MumU="


def test_known_wrong_variants_differ() -> None:
    message = f"{PUBLIC_KEY}1700000000000".encode()
    undecoded = base64.b64encode(
        hmac.new(PRIVATE_KEY.encode(), message, hashlib.sha256).digest()
    ).decode()
    hex_digest = hmac.new(base64.b64decode(PRIVATE_KEY), message, hashlib.sha256).hexdigest()
    assert undecoded == "2xwrWgF3CPJG35KMD+MnMJMg3mBG3Oo2JQn7u97LPUA="
    assert hex_digest == "71a8cc693c9fae4ff25b0e83534edd0aa3d9067069329e2bbc4721631ebbf560"
    assert sign(PUBLIC_KEY, PRIVATE_KEY, 1700000000000) not in (undecoded, hex_digest)


def test_invalid_secret_error_does_not_echo_it() -> None:
    with pytest.raises(SigningError) as info:
        sign(PUBLIC_KEY, "not*base64!secret", 1)
    assert "not*base64!secret" not in str(info.value)


def test_stamp_clock_is_strictly_increasing_and_offset_corrected() -> None:
    clock = StampClock()
    stamps = [clock.next_stamp() for _ in range(1000)]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    clock.offset_ms = 8_000
    assert clock.next_stamp() >= stamps[-1] + 7_000


def test_set_offset_lets_stamps_follow_a_clock_moved_back() -> None:
    clock = StampClock()
    clock.set_offset(0)
    ahead = clock.next_stamp()
    clock.set_offset(-9_000)
    stamp = clock.next_stamp()
    assert stamp < ahead - 8_000  # back inside the server's window
    small = clock.next_stamp()
    clock.set_offset(-9_500)  # a small step back keeps stamps strictly increasing
    assert clock.next_stamp() > small
    assert clock.offset_ms == -9_500
