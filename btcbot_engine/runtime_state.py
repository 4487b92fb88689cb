"""Runtime safety state that outlives a process: the persisted kill switch and safe mode."""

from __future__ import annotations

from btcbot_engine.config import Settings


def read_persisted_kill(settings: Settings) -> bool:
    """The persisted kill state for this database; False when no database exists yet."""
    if not settings.state_db_path.exists():
        return False
    return False  # wired to the store's runtime_state table once it lands
