"""btcbot-tui: the operator's Textual dashboard; a thin client of the engine facade."""
