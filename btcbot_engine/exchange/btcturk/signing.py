"""BTCTurk HMAC signing, shared by REST (X-Signature) and the WebSocket login (model 114).

signature = base64(HMAC-SHA256(key=base64_decode(secret), msg=utf8(public_key + str(stamp))))
Only the public key and the stamp are signed: method, path and body are not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time


class SigningError(ValueError):
    """The secret is not valid base64 (the message never includes the secret)."""


def sign(public_key: str, secret_b64: str, stamp: int | str) -> str:
    """Return the base64 HMAC-SHA256 signature BTCTurk expects for this key and stamp."""
    try:
        key = base64.b64decode(secret_b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SigningError("API secret is not valid base64 text") from None
    message = f"{public_key}{stamp}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class StampClock:
    """Millisecond stamps that never repeat or go back, corrected by the measured server offset.

    `offset_ms` = server clock - our clock, as last measured; stamps are local time + offset, so a
    skewed host clock still produces stamps inside the exchange's ±5 s window.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()
        self.offset_ms = 0

    def set_offset(self, offset_ms: int, *, max_ahead_ms: int = 1_000) -> None:
        """Apply a newly measured offset (added for the REST adapter's clock re-measure).

        Stamps normally never go back. But when the new offset moves the clock back by more than
        `max_ahead_ms`, the never-go-back floor would keep stamps ahead of the server for that
        long, outside its ±5 s window (a verified rule), just to keep stamps strictly increasing
        (an unverified one). So the floor follows the clock back in that case.
        """
        with self._lock:
            self.offset_ms = offset_ms
            now = int(time.time() * 1000) + offset_ms
            if self._last - now > max_ahead_ms:
                self._last = now

    def next_stamp(self) -> int:
        with self._lock:
            now = int(time.time() * 1000) + self.offset_ms
            self._last = max(now, self._last + 1)
            return self._last
