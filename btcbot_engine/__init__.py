"""btcbot engine: a plain-Python library (no UI imports) for trading on BTCTurk safely."""

__version__ = "0.1.0"
