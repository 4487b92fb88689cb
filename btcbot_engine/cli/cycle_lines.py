"""One printed line per engine cycle, shared by `btcbot run` and `btcbot drill`."""

from __future__ import annotations

from btcbot_engine.domain.snapshot import EngineSnapshot


def cycle_line(snap: EngineSnapshot, *, reasons: bool = False) -> str | None:
    """The line for a snapshot published at the end of a cycle; None for other snapshots."""
    st = snap.status
    if st.last_cycle_ms is None or snap.ts_ms < st.last_cycle_ms:
        return None
    line = (
        f"cycle {st.cycle_count} mode {snap.mode} risk {snap.risk.mode} "
        f"universe {sum(1 for u in snap.universe if u.included)} "
        f"open {len(snap.open_orders)} fills {len(snap.recent_fills)} "
        f"equity {snap.pnl.equity:.2f} TRY {st.last_cycle_duration_ms} ms"
    )
    if reasons:
        stale = [u.symbol for u in snap.universe if u.quote_status != "fresh"]
        unknown = sum(1 for o in snap.open_orders if o.state.value == "UNKNOWN")
        extra = []
        if snap.risk.reasons:
            extra.append(f"why {','.join(snap.risk.reasons)}")
        if stale:
            extra.append(f"not fresh {','.join(stale)}")
        if unknown:
            extra.append(f"UNKNOWN {unknown}")
        if st.clock_skew_ms:
            extra.append(f"skew {st.clock_skew_ms} ms")
        if st.ws_state != "off":
            extra.append(f"ws {st.ws_state}")
        if extra:
            line += " | " + " ".join(extra)
    if st.last_error:
        line += f" error: {st.last_error}"
    return line
