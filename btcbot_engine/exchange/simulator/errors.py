"""Error replies: the reference's message strings and codes, raised as one exception type.

Codes come from reference section 5 ("Revised Response Codes", in force since 2024-05-06). Where
the reference lists no code ("?"), the simulator uses a made-up one, marked INVENTED below;
clients must key on the message string anyway (reference pitfall 7).
"""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = ("INVALID_REQUEST_ERROR", 1037)
FAILED_MARKET_ORDER = ("FAILED_MARKET_ORDER", 1118)
FAILED_ORDER_WITH_OPEN_ORDERS = ("FAILED_ORDER_WITH_OPEN_ORDERS", 1122)
FAILED_MIN_TOTAL_AMOUNT = ("FAILED_MIN_TOTAL_AMOUNT", 1123)
FAILED_INVALID_PRICE_SCALE = ("FAILED_INVALID_PRICE_SCALE", 1126)
FAILED_INVALID_QUANTITY_SCALE = ("FAILED_INVALID_QUANTITY_SCALE", 1127)
ORDER_METHOD_NOT_SUPPORTED = ("ORDER_METHOD_NOT_SUPPORTED", 1134)
ORDER_NOT_FOUND = ("Order not found", 1152)
ORDER_TYPE_NOT_SUPPORTED = ("ORDER_TYPE_NOT_SUPPORTED", 1193)
PRICE_MUST_BE_LESS_THAN_MAXPRICE = ("PRICE_MUST_BE_LESS_THAN_MAXPRICE", 1226)
PRICE_MUST_BE_LESS_THAN_MINPRICE = ("PRICE_MUST_BE_LESS_THAN_MINPRICE", 1227)
# INVENTED codes: the reference names these messages but gives no code.
FAILED_ORDER_PARAMETER = ("FAILED_ORDER_PARAMETER", 1119)
BALANCE_NOT_ENOUGH = ("BALANCE_NOT_ENOUGH", 1121)
NO_ORDER_MATCHES_YOUR_REQUEST = ("NO_ORDER_MATCHES_YOUR_REQUEST", 1153)
ORDER_COULD_NOT_BE_CANCELED = ("ORDER_COULD_NOT_BE_CANCELED", 1154)

UNAUTHORIZED_CODE = 1037
HEADERS_MISSING = "Unauthorized - Headers are missing"
INVALID_PUBLIC_KEY = "Unauthorized - Invalid Public key"
INVALID_SIGNATURE = "Unauthorized - Invalid Signature"
INVALID_NONCE = "Unauthorized - Invalid Nonce"


class ApiError(Exception):
    """A request the exchange refuses; rendered as an HTTP error with an envelope body."""

    def __init__(self, status: int, message: str, code: int, *, order_style: bool = False) -> None:
        super().__init__(f"{status} {message} ({code})")
        self.status = status
        self.message = message
        self.code = code
        # Order endpoints add httpStatusCode and data: null to the envelope (reference 3, 5).
        self.order_style = order_style

    def body(self) -> dict[str, Any]:
        """The JSON body the exchange sends with this error."""
        if self.order_style:
            return {
                "httpStatusCode": self.status,
                "data": None,
                "success": False,
                "message": self.message,
                "code": self.code,
            }
        return {"success": False, "message": self.message, "code": self.code}


def bad_request(error: tuple[str, int], *, order_style: bool = True) -> ApiError:
    """HTTP 400 for one of the (message, code) pairs above."""
    message, code = error
    return ApiError(400, message, code, order_style=order_style)


def unknown_pair(symbol: str) -> ApiError:
    """The reply to a pair that is not listed (reference 3.4)."""
    return ApiError(400, f"Pair {symbol} does not exists.", 1037)


def unauthorized(message: str) -> ApiError:
    """HTTP 401 with one of the `Unauthorized - ...` bodies."""
    return ApiError(401, message, UNAUTHORIZED_CODE)
