"""What the canary wizard shows, as rich renderables built from engine data (no widgets, no I/O).

Each function takes the immutable engine objects (GateDecision, CanaryPlan, CanaryView) and returns
text or a table, so the wizard screen stays a thin state machine and these stay easy to test.
"""

from __future__ import annotations

from decimal import Decimal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from btcbot_engine.config import QUOTE_CURRENCIES
from btcbot_engine.domain.canary import CanaryOrder, CanaryPlan, CanaryView
from btcbot_engine.gates import REMEDIES, GateDecision, Mode
from btcbot_tui.widgets import fmt

STEP_TITLES = ("Doctor", "Plan", "Gates", "Confirm", "Run", "Summary")

# What stops a running canary (the engine enforces them; the wizard lists them for the operator).
STOP_CONDITIONS = (
    "stale market data",
    "an order reject",
    "submit latency breach",
    "kill switch (k)",
    "Abort",
    "the last cycle (each order is cancelled after its TTL)",
)

STATE_STYLES = {
    "running": "bold black on yellow",
    "finished": "bold black on green",
    "stopped": "bold white on dark_orange3",
    "refused": "bold white on red",
}


def try_money(amount: Decimal) -> str:
    """TRY for display: grouped, two decimals (display only; the figures stay exact Decimals)."""
    return f"{fmt.money(amount)} TRY"


def base_asset(symbol: str) -> str:
    """'BTC' for 'BTCTRY' (display only)."""
    for quote in QUOTE_CURRENCIES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol.removesuffix(quote)
    return symbol


def step_indicator(step: int) -> Text:
    """'✓ 1 Doctor › ▶ 2 Plan › 3 Gates …' with the current step highlighted."""
    text = Text()
    for number, title in enumerate(STEP_TITLES, 1):
        if number > 1:
            text.append(" › ", "dim")
        if number < step:
            text.append(f"✓ {number} {title}", "green")
        elif number == step:
            text.append(f" {number} {title} ", "bold reverse")
        else:
            text.append(f"{number} {title}", "dim")
    return text


def doctor_verdict(worst: str | None, *, pending: bool, accepted: bool) -> tuple[Text, bool]:
    """Step 1's verdict line and whether the wizard may go on.

    PASS goes on; WARN only once the operator accepted it; FAIL, no results or a run still
    pending never do.
    """
    if pending:
        return Text("running… waiting for the engine's doctor results", "bold yellow"), False
    if worst is None:
        return Text("No doctor results yet: press Re-run doctor.", "bold yellow"), False
    if worst == "PASS":
        return Text("✓ every check passes", "bold green"), True
    if worst == "WARN":
        if accepted:
            return Text("WARN accepted by the operator.", "bold yellow"), True
        return Text(
            "WARN: read each remedy below; tick the box to accept them.", "bold yellow"
        ), False
    return Text(
        "✗ FAIL blocks the canary: apply each remedy, then Re-run doctor.", "bold red"
    ), False


# Conditions an operator can clear from the dashboard when they come from runtime state (the
# database), not from the environment: the env value would still block after a restart.
RUNTIME_REMEDIES = {
    "SAFE_MODE": "turned on at runtime: close the wizard, press s on the dashboard (it asks)",
    "KILL_SWITCH": "tripped at runtime: close the wizard, press k on the dashboard to clear it",
}


def gate_changes(
    decision: GateDecision | None,
    *,
    env_safe_mode: bool = True,
    env_kill_switch: bool = True,
) -> RenderableType:
    """The gate verdict and, unless LIVE, each blocking condition with the exact change it needs.

    `env_safe_mode` / `env_kill_switch`: whether the environment itself sets them; when not, a
    blocking SAFE_MODE or KILL_SWITCH came from runtime state and is cleared on the dashboard.
    """
    if decision is None:
        return Text("Waiting for the engine's first snapshot…", "bold yellow")
    if decision.mode is Mode.LIVE:
        return Group(
            Text.assemble(("✓ The gates say LIVE", "bold green"), ": live submits are allowed."),
            Text("The canary may place real orders on the next step.", "dim"),
        )
    from_env = {"SAFE_MODE": env_safe_mode, "KILL_SWITCH": env_kill_switch}
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(width=1)
    table.add_column(width=17, no_wrap=True)
    table.add_column(ratio=1)
    for name in decision.blocked_by:
        if from_env.get(name, True):
            remedy = REMEDIES.get(name, "see `btcbot gates`")
        else:
            remedy = RUNTIME_REMEDIES[name]
        table.add_row(Text("✗", "bold red"), Text(name, "bold red"), Text(remedy, "italic"))
    head = Text.assemble(
        ("✗ Refusing to continue", "bold red"),
        ": the gates say ",
        (decision.mode.value, "bold"),
        f"; a canary needs LIVE. {len(decision.blocked_by)} change(s) needed:",
    )
    howto = Text(
        "Abort (safe mode stays on), make these changes (env changes need a restart of "
        "btcbot-tui), then open the wizard again with w. Re-check re-reads the latest snapshot.",
        "dim",
    )
    return Group(head, table, howto)


def plan_lines(plan: CanaryPlan, exchange_host: str, key_hint: str) -> RenderableType:
    """The plan as the operator is about to confirm it."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    table.add_row("Symbol", Text(plan.symbol, "bold"))
    table.add_row("Order", "one passive limit BUY resting below the best bid")
    table.add_row(
        "Notional", Text(f"{try_money(plan.notional_try)} per order (one open at a time)")
    )
    table.add_row("Order TTL", f"{plan.ttl_seconds:g} s, then cancelled")
    table.add_row("Cycles", f"at most {plan.max_cycles}, every {plan.cycle_seconds:g} s")
    table.add_row("Exchange", Text.assemble((exchange_host, "bold"), f"  key …{key_hint}"))
    return table


def _figures(view: CanaryView) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="dim", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row(
        "Cycle",
        Text(f"{view.cycle}/{view.plan.max_cycles}", "bold"),
        "Orders placed",
        str(view.orders_placed),
    )
    open_style = "bold red" if view.orders_open else "green"
    table.add_row(
        "Fills",
        str(view.fills),
        "Still open",
        Text(str(view.orders_open), open_style),
    )
    table.add_row(
        "Filled",
        f"{fmt.qty(view.filled_quantity)} {base_asset(view.plan.symbol)}"
        f" ({try_money(view.filled_notional_try)})",
        "Fees",
        try_money(view.fees_try),
    )
    pnl_style = "green" if view.pnl_try >= 0 else "red"
    table.add_row("PnL", Text(try_money(view.pnl_try), pnl_style), "", "")
    return table


def _state_line(view: CanaryView) -> Text:
    text = Text.assemble(
        (f" {view.state.upper()} ", STATE_STYLES.get(view.state, "bold")),
        "  ",
        (view.plan.symbol, "bold"),
        f"  {try_money(view.plan.notional_try)}  TTL {view.plan.ttl_seconds:g} s",
    )
    if view.stop_reason:
        text.append(f"  reason {view.stop_reason}", "bold")
    return text


def canary_progress(
    view: CanaryView | None, *, aborting: bool = False, max_events: int = 6
) -> RenderableType:
    """Live progress of the running canary, its newest events and the stop conditions."""
    stops = Text("Stops on: " + " · ".join(STOP_CONDITIONS), "dim")
    if view is None:
        return Group(
            Text("Starting: waiting for the engine to accept the plan…", "bold yellow"), stops
        )
    parts: list[RenderableType] = [_state_line(view)]
    if view.detail:
        parts.append(Text(view.detail, "italic"))
    if aborting and view.active:
        parts.append(Text("Abort requested: cancelling the canary's order…", "bold red"))
    parts.append(_figures(view))
    events = view.events[-max_events:]
    parts.append(Text(f"Events (newest last, {len(view.events)} in all)", "bold"))
    parts.extend(Text(f"  {line}") for line in events)
    if not events:
        parts.append(Text("  none yet", "dim"))
    parts.append(stops)
    return Group(*parts)


def _orders_table(orders: tuple[CanaryOrder, ...]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="dim")
    for name in ("client id", "side", "price", "qty", "filled", "state", "exchange"):
        table.add_column(name, no_wrap=True)
    for order in orders:
        table.add_row(
            order.client_id[:10],
            order.side,
            fmt.price(order.price),
            fmt.qty(order.quantity),
            fmt.qty(order.filled_quantity),
            order.state,
            order.exchange_status or "unread",
        )
    return table


def canary_summary(view: CanaryView | None, *, safe_mode_on: bool | None) -> RenderableType:
    """The end-of-run summary: figures, the orders, anything still open, whether verified.

    `safe_mode_on` is the current gate state (None: unknown, then the view's own flag is used).
    """
    if view is None:
        return Text("No canary result in the latest snapshot.", "bold yellow")
    parts: list[RenderableType] = [_state_line(view)]
    if view.detail:
        parts.append(Text(view.detail, "italic"))
    parts.append(_figures(view))
    if view.orders:
        parts.append(_orders_table(view.orders))
    if view.state == "refused":
        parts.append(
            Text("✓ nothing was sent to the exchange: the engine refused the plan", "green")
        )
    elif view.orders_open:
        parts.append(
            Text(
                f"✗ {view.orders_open} canary order(s) still open on the exchange: "
                "press k (kill cancels our orders) or run `btcbot panic --yes-cancel-all`.",
                "bold red",
            )
        )
    else:
        parts.append(Text("✓ nothing of the canary's left open", "green"))
    if view.other_open:
        parts.append(
            Text(f"! {view.other_open} other open order(s) on {view.plan.symbol}", "bold yellow")
        )
    if view.state == "refused":
        pass  # nothing ran, so there is nothing to verify
    elif view.verified:
        parts.append(Text("✓ verified against the exchange (re-read after the run)", "green"))
    else:
        parts.append(
            Text(
                "✗ NOT verified against the exchange: check `btcbot report` and the exchange",
                "bold yellow",
            )
        )
    safe = view.safe_mode_on if safe_mode_on is None else safe_mode_on
    parts.append(
        Text("✓ safe mode is on", "green")
        if safe
        else Text("✗ safe mode is OFF: the bot may trade live on its own schedule", "bold red")
    )
    return Group(*parts)
