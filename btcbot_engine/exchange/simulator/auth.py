"""Checks of the HMAC credentials: REST headers (reference section 2) and WS login (6.1)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from btcbot_engine.exchange.btcturk.signing import sign
from btcbot_engine.exchange.simulator import errors
from btcbot_engine.exchange.simulator.errors import unauthorized

NONCE_WINDOW_MS = 5000

# The made-up key pair of the reference's worked example: obviously fake, and its signatures can
# be checked by hand against the reference.
TEST_API_KEY = "11111111-2222-3333-4444-555555555555"
TEST_API_SECRET = "ZmFrZS1idGN0dXJrLXNlY3JldC1mb3ItdGVzdHMtMzI="


class Credentials:
    """The one key pair the simulator accepts."""

    def __init__(self, api_key: str = TEST_API_KEY, api_secret: str = TEST_API_SECRET) -> None:
        sign(api_key, api_secret, 0)  # fail at start, not per request, if the secret is bad
        self.api_key = api_key
        self.api_secret = api_secret

    def _signature_ok(self, stamp: str, signature: str) -> bool:
        expected = sign(self.api_key, self.api_secret, stamp)
        return hmac.compare_digest(expected.encode(), signature.strip().encode())

    def check_rest(self, headers: Mapping[str, str], server_now_ms: int) -> None:
        """Raise the documented 401 unless X-PCK, X-Stamp and X-Signature are right.

        `headers` keys are lower case. The stamp must be within ±5 s of the (skewed) server clock.
        """
        key = headers.get("x-pck")
        stamp = headers.get("x-stamp")
        signature = headers.get("x-signature")
        if not key or not stamp or not signature:
            raise unauthorized(errors.HEADERS_MISSING)
        if key.strip() != self.api_key:
            raise unauthorized(errors.INVALID_PUBLIC_KEY)
        try:
            stamp_ms = int(stamp.strip())
        except ValueError:
            raise unauthorized(errors.INVALID_NONCE) from None
        if abs(stamp_ms - server_now_ms) > NONCE_WINDOW_MS:
            raise unauthorized(errors.INVALID_NONCE)
        if not self._signature_ok(stamp.strip(), signature):
            raise unauthorized(errors.INVALID_SIGNATURE)

    def check_ws_login(self, public_key: object, nonce: object, signature: object) -> str | None:
        """None if a model-114 login is valid, else the `Unauthorized - ...` message.

        The signed text is public key + nonce; the login's timestamp is not signed (reference).
        """
        if not isinstance(public_key, str) or public_key != self.api_key:
            return errors.INVALID_PUBLIC_KEY
        if isinstance(nonce, bool) or not isinstance(nonce, int | str) or nonce == "":
            return errors.INVALID_NONCE
        if not isinstance(signature, str) or not self._signature_ok(str(nonce), signature):
            return errors.INVALID_SIGNATURE
        return None
