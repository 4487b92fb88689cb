"""Exchanges behind one port: BTCTurk (live), paper, replay, and the bundled simulator."""
