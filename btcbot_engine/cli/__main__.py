"""`python -m btcbot_engine.cli`: the same as the `btcbot` console script."""

from btcbot_engine.cli import main

raise SystemExit(main())
