"""Domain types: frozen dataclasses, Decimal money, int ids, no I/O."""
