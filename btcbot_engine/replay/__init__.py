"""Recorded and synthetic market datasets for replay and backtests.

- `dataset`: the on-disk format (manifest + CSV tables), `validate_dataset`, `load_dataset`.
- `tables`: reading one CSV table row by row with file:line problems (shared by both).
- `series`: the loaded dataset in compact integer arrays.
- `synth`: `replay-init`, a seeded regime-switching random walk.
- `capture` / `fetch`: recording a public feed, and seeding history from graph-API klines.
- `market`: the dataset seen through a simulated clock (the public half of the replay exchange).
- `summary`: backtest figures and the equity SVG.

Nothing here imports rich or textual; the CLI draws progress bars.
"""
