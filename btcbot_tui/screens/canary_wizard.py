"""The canary wizard (`w`): a guided first bounded live run, one step at a time.

1 Doctor   the last doctor checks must PASS; WARN needs an explicit accept; FAIL blocks.
2 Plan     symbol (from the universe), notional in TRY (Decimal, capped), TTL, max cycles.
3 Gates    each blocking gate condition with its remedy; no way on until the gates say LIVE.
4 Confirm  type the symbol; Start stays disabled until it matches.
5 Run      submits StartCanary(plan); live progress from snapshot.canary; Abort -> AbortCanary.
6 Summary  orders, fills, fees, PnL, anything still open, verified against the exchange.

Abort (button or escape) before step 5 submits nothing live and asks for safe mode on
(`SetSafeMode(True)`: turning safe mode on never needs confirmation). The screen never binds `k`:
the app's priority kill binding works here as everywhere. Everything renders from snapshots.
"""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, ContentSwitcher, Footer, Input, Select, Static

from btcbot_engine.commands import AbortCanary, RunDoctor, SetSafeMode, StartCanary
from btcbot_engine.config import Settings
from btcbot_engine.domain.canary import CanaryPlan, CanaryView
from btcbot_engine.domain.snapshot import DoctorCheckView, EngineSnapshot
from btcbot_engine.gates import Mode
from btcbot_tui.screens.doctor import DoctorChecks, DoctorRequest, status_counts, worst_status
from btcbot_tui.widgets.kill_safe_input import KillSafeInput
from btcbot_tui.widgets.mode_banner import ModeBanner
from btcbot_tui.widgets.wizard_form import (
    MAX_CYCLES_LIMIT,
    TTL_MAX_SECONDS,
    TTL_MIN_SECONDS,
    parse_plan_form,
)
from btcbot_tui.widgets.wizard_render import (
    STEP_TITLES,
    canary_progress,
    canary_summary,
    doctor_verdict,
    gate_changes,
    plan_lines,
    step_indicator,
    try_money,
)

DOCTOR, PLAN, GATES, CONFIRM, RUN, SUMMARY = range(1, 7)
DEFAULT_TTL_SECONDS = "30"
DEFAULT_MAX_CYCLES = "1"
ABORT_REASON = "aborted in the canary wizard"  # shown in the engine's stop detail and logs


class CanaryWizardScreen(ModalScreen[CanaryView | None]):
    """The six-step canary wizard; dismisses with the last CanaryView (or None if aborted early)."""

    BINDINGS = [Binding("escape", "abort", "Abort / close", id="wizard.abort")]

    DEFAULT_CSS = """
    CanaryWizardScreen { align: center top; }
    CanaryWizardScreen > #wizard-box {
        width: 100%; height: 100%;
        background: $surface;
    }
    #wizard-steps { height: 1; padding: 0 1; margin-top: 1; }
    #wizard-body { height: 1fr; border: round $primary; padding: 0 1; }
    #wizard-body > * { height: 1fr; }
    #doctor-verdict, #gate-verdict { height: auto; margin-bottom: 1; }
    #doctor-verdict { margin-bottom: 0; }
    #accept-warn { margin-bottom: 1; }
    .field-label { width: 16; height: 1; color: $text-muted; }
    .field-row { height: 1; }
    .field-row > Input, .field-row > Select { width: 1fr; max-width: 40; }
    .field-error { height: 1; color: $error; padding-left: 16; }
    #plan-caps { height: auto; margin-top: 1; color: $text-muted; }
    #confirm-symbol { width: 30; margin-top: 1; }
    #confirm-hint { height: auto; }
    #wizard-buttons { height: 3; align-horizontal: right; padding: 0 1; }
    #wizard-buttons > Button { min-width: 10; margin-left: 1; }
    #wizard-abort { dock: left; margin-left: 0; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._doctor_request = DoctorRequest()
        self._doctor_seen: tuple[DoctorCheckView, ...] | None = None
        self._plan: CanaryPlan | None = None
        self._symbols: tuple[str, ...] = ()
        self._started_before: CanaryView | None = None
        self._view: CanaryView | None = None
        self._aborting = False
        self._step = DOCTOR

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="wizard-box"):
            yield ModeBanner(id="wizard-banner")  # follows the app's state by itself
            yield Static(id="wizard-steps")
            with ContentSwitcher(initial="step-1", id="wizard-body"):
                with VerticalScroll(id="step-1"):
                    yield Static(id="doctor-verdict")
                    yield Checkbox(
                        "I have read every WARN below and accept it for this canary",
                        id="accept-warn",
                    )
                    yield DoctorChecks(id="wizard-doctor-checks")
                with VerticalScroll(id="step-2"):
                    yield from self._field(
                        "Symbol",
                        Select[str](
                            (),
                            id="plan-symbol",
                            allow_blank=True,
                            compact=True,
                            prompt="choose a symbol",
                            # Type-to-search would consume printable keys, `k` included, and
                            # so mute the app's kill binding while the list is open.
                            type_to_search=False,
                        ),
                    )
                    yield from self._field(
                        "Notional (TRY)",
                        KillSafeInput(placeholder="e.g. 150", id="plan-notional", compact=True),
                    )
                    yield from self._field(
                        "TTL (seconds)",
                        KillSafeInput(value=DEFAULT_TTL_SECONDS, id="plan-ttl", compact=True),
                    )
                    yield from self._field(
                        "Max cycles",
                        KillSafeInput(value=DEFAULT_MAX_CYCLES, id="plan-cycles", compact=True),
                    )
                    yield Static(id="plan-caps")
                with VerticalScroll(id="step-3"):
                    yield Static(id="gate-verdict")
                with VerticalScroll(id="step-4"):
                    yield Static(id="confirm-plan")
                    yield KillSafeInput(placeholder="type the symbol", id="confirm-symbol")
                    yield Static(id="confirm-hint")
                with VerticalScroll(id="step-5"):
                    yield Static(id="canary-progress")
                with VerticalScroll(id="step-6"):
                    yield Static(id="canary-summary")
            with Horizontal(id="wizard-buttons"):
                yield Button("Abort", variant="error", id="wizard-abort")
                yield Button("Re-run doctor", id="wizard-rerun")
                yield Button("Re-check", id="wizard-recheck")
                yield Button("Back", id="wizard-back")
                yield Button("Next", variant="primary", id="wizard-next")
            yield Footer()

    @staticmethod
    def _field(label: str, control: Input | Select[str]) -> ComposeResult:
        key = (control.id or "").removeprefix("plan-")
        with Horizontal(classes="field-row"):
            yield Static(label, classes="field-label")
            yield control
        yield Static(id=f"err-{key}", classes="field-error")

    def on_mount(self) -> None:
        settings = self._settings()
        if settings is not None:
            self.query_one("#plan-caps", Static).update(
                f"Caps: MAX_NOTIONAL_PER_ORDER_TRY {try_money(settings.max_notional_per_order_try)}"
                f" · MIN_ORDER_NOTIONAL_TRY {try_money(settings.min_order_notional_try)}"
                f" · TTL {TTL_MIN_SECONDS}..{TTL_MAX_SECONDS} s"
                f" · cycles 1..{MAX_CYCLES_LIMIT} · one symbol, one open order"
            )
        snapshot = self._latest()
        running = snapshot.canary if snapshot is not None else None
        if running is not None and running.active:
            # A canary is already running (the wizard was closed during it): show it, with
            # Abort, instead of offering to start another one.
            self._plan, self._view, self._step = running.plan, running, RUN
        else:
            # Judge fresh results only: the last ones stay on screen, marked running…, until
            # the engine publishes a newer snapshot (doctor checks are read-only).
            self._run_doctor()
        self.watch(self.app, "snapshot", self._on_snapshot)
        self._show_step()

    # --- engine access --------------------------------------------------------------------

    def _latest(self) -> EngineSnapshot | None:
        return getattr(self.app, "snapshot", None)

    def _settings(self) -> Settings | None:
        engine = getattr(self.app, "engine", None)
        return getattr(engine, "settings", None)

    def _submit(self, command: object) -> None:
        self.app.engine.submit(command)  # type: ignore[attr-defined]

    def _run_doctor(self) -> None:
        self._doctor_request.start(self._latest())
        self._submit(RunDoctor())

    # --- step state machine ---------------------------------------------------------------

    @property
    def step(self) -> int:
        """The current step, 1..6."""
        return self._step

    def _go(self, step: int) -> None:
        self._step = step
        self._show_step()

    def _show_step(self) -> None:
        step = self._step
        self.query_one(ContentSwitcher).current = f"step-{step}"
        self.query_one("#wizard-steps", Static).update(step_indicator(step))
        title = f"Canary wizard · step {step} of {len(STEP_TITLES)} · {STEP_TITLES[step - 1]}"
        self.query_one("#wizard-body").border_title = title
        abort = self.query_one("#wizard-abort", Button)
        abort.label = "Abort canary" if step == RUN else "Abort"
        abort.display = step != SUMMARY
        self.query_one("#wizard-rerun").display = step == DOCTOR
        self.query_one("#wizard-recheck").display = step == GATES
        self.query_one("#wizard-back").display = step in (PLAN, GATES, CONFIRM)
        nxt = self.query_one("#wizard-next", Button)
        nxt.display = step != RUN
        nxt.label = {CONFIRM: "Start canary", SUMMARY: "Close"}.get(step, "Next")
        nxt.variant = "error" if step == CONFIRM else "primary"
        for button in (abort, nxt):
            button.refresh(layout=True)  # a new label may need a new width
        if step == CONFIRM:
            # Typed afresh on every arrival: a confirmation typed before going Back to change
            # the plan must not confirm the changed plan.
            self.query_one("#confirm-symbol", Input).value = ""
        self._refresh(self._latest())
        focus_target = {PLAN: "#plan-notional", CONFIRM: "#confirm-symbol"}.get(step)
        if focus_target is not None:
            self.query_one(focus_target).focus()
        elif not nxt.disabled and nxt.display:
            nxt.focus()

    def _on_snapshot(self, snapshot: EngineSnapshot | None) -> None:
        self._doctor_request.observe(snapshot)
        self._refresh(snapshot)

    def _refresh(self, snapshot: EngineSnapshot | None) -> None:
        """Re-render the current step from the snapshot and set whether Next may be pressed."""
        self._update_symbols(snapshot)
        render = {
            DOCTOR: self._render_doctor,
            PLAN: self._render_plan,
            GATES: self._render_gates,
            CONFIRM: self._render_confirm,
            RUN: self._render_run,
            SUMMARY: self._render_summary,
        }[self._step]
        ready = render(snapshot)
        self.query_one("#wizard-next", Button).disabled = not ready

    # --- step 1: doctor -------------------------------------------------------------------

    def _render_doctor(self, snapshot: EngineSnapshot | None) -> bool:
        checks = snapshot.doctor if snapshot is not None else ()
        accept = self.query_one("#accept-warn", Checkbox)
        if checks != self._doctor_seen:  # new results: an earlier accept does not carry over
            self._doctor_seen = checks
            accept.value = False
        self.query_one(DoctorChecks).show(checks)
        worst = worst_status(checks)
        accept.display = worst == "WARN" and not self._doctor_request.pending
        verdict, ok = doctor_verdict(
            worst, pending=self._doctor_request.pending, accepted=accept.value
        )
        self.query_one("#doctor-verdict", Static).update(
            Text.assemble(status_counts(checks), "   ", verdict)
        )
        return ok

    @on(Checkbox.Changed, "#accept-warn")
    def _accept_changed(self) -> None:
        self._refresh(self._latest())

    # --- step 2: plan ---------------------------------------------------------------------

    def _update_symbols(self, snapshot: EngineSnapshot | None) -> None:
        rows = snapshot.universe if snapshot is not None else ()
        ordered = sorted(rows, key=lambda r: not r.included)  # tradable symbols first
        symbols = tuple(r.symbol for r in ordered)
        if symbols == self._symbols:
            return
        self._symbols = symbols
        select = self.query_one("#plan-symbol", Select)
        current = select.value
        options = [
            (r.symbol if r.included else f"{r.symbol}  (out: {r.reason})", r.symbol)
            for r in ordered
        ]
        select.set_options(options)
        if current in symbols:
            select.value = current
        elif ordered and ordered[0].included:
            select.value = ordered[0].symbol

    def _form(self) -> tuple[CanaryPlan | None, dict[str, str]]:
        settings = self._settings()
        value = self.query_one("#plan-symbol", Select).value
        form = parse_plan_form(
            symbol=value if isinstance(value, str) else None,
            symbols=self._symbols,
            notional=self.query_one("#plan-notional", Input).value,
            ttl=self.query_one("#plan-ttl", Input).value,
            cycles=self.query_one("#plan-cycles", Input).value,
            # No settings: a cap of 0 refuses every notional (fail closed).
            max_notional=getattr(settings, "max_notional_per_order_try", Decimal(0)),
            min_notional=getattr(settings, "min_order_notional_try", Decimal(0)),
        )
        return form.plan, form.errors

    def _render_plan(self, snapshot: EngineSnapshot | None) -> bool:
        plan, errors = self._form()
        for key in ("symbol", "notional", "ttl", "cycles"):
            message = errors.get(key, "")
            self.query_one(f"#err-{key}", Static).update(f"✗ {message}" if message else "")
        return plan is not None

    @on(Input.Changed, "#plan-notional, #plan-ttl, #plan-cycles")
    @on(Select.Changed, "#plan-symbol")
    def _plan_changed(self) -> None:
        if self._step == PLAN:
            self._refresh(self._latest())

    # --- step 3: gates --------------------------------------------------------------------

    @staticmethod
    def _live(snapshot: EngineSnapshot | None) -> bool:
        return snapshot is not None and snapshot.gates.mode is Mode.LIVE

    def _render_gates(self, snapshot: EngineSnapshot | None) -> bool:
        settings = self._settings()
        self.query_one("#gate-verdict", Static).update(
            gate_changes(
                snapshot.gates if snapshot is not None else None,
                # Unknown settings: assume the env sets them (the advice that always holds).
                env_safe_mode=bool(getattr(settings, "safe_mode", True)),
                env_kill_switch=bool(getattr(settings, "kill_switch", True)),
            )
        )
        return self._live(snapshot)

    # --- step 4: typed confirmation -------------------------------------------------------

    def _render_confirm(self, snapshot: EngineSnapshot | None) -> bool:
        plan = self._plan
        if plan is None:  # cannot happen through the buttons; fail closed anyway
            return False
        host = snapshot.exchange_host if snapshot is not None else "?"
        key = snapshot.key_hint if snapshot is not None else "?"
        self.query_one("#confirm-plan", Static).update(plan_lines(plan, host, key))
        typed = self.query_one("#confirm-symbol", Input).value.strip()
        live = self._live(snapshot)
        if not live:
            hint = Text("✗ The gates no longer say LIVE: go Back to see why.", "bold red")
        elif typed == plan.symbol:
            hint = Text("✓ Confirmed. Start canary places a real order.", "bold green")
        else:
            hint = Text.assemble(
                "Type ",
                (plan.symbol, "bold"),
                " exactly to confirm this live run.",
            )
        self.query_one("#confirm-hint", Static).update(hint)
        return live and typed == plan.symbol

    @on(Input.Changed, "#confirm-symbol")
    def _confirm_changed(self) -> None:
        if self._step == CONFIRM:
            self._refresh(self._latest())

    # --- step 5: run ----------------------------------------------------------------------

    def _ours(self, snapshot: EngineSnapshot | None) -> CanaryView | None:
        """The canary this wizard follows: same plan, and not one shown before we started it."""
        if snapshot is None or snapshot.canary is None or self._plan is None:
            return None
        view = snapshot.canary
        if view.plan != self._plan or (
            self._started_before is not None and view == self._started_before
        ):
            return None
        return view

    def _render_run(self, snapshot: EngineSnapshot | None) -> bool:
        view = self._ours(snapshot) or self._view
        self._view = view
        self.query_one("#canary-progress", Static).update(
            canary_progress(view, aborting=self._aborting)
        )
        if view is not None and not view.active:
            self.call_later(self._go, SUMMARY)
        return False

    # --- step 6: summary ------------------------------------------------------------------

    def _render_summary(self, snapshot: EngineSnapshot | None) -> bool:
        view = self._ours(snapshot) or self._view
        self._view = view
        safe_mode = "SAFE_MODE" in snapshot.gates.blocked_by if snapshot is not None else None
        self.query_one("#canary-summary", Static).update(
            canary_summary(view, safe_mode_on=safe_mode)
        )
        return True

    # --- buttons and keys -----------------------------------------------------------------

    @on(Button.Pressed, "#wizard-next")
    def _next(self) -> None:
        snapshot = self._latest()
        self._refresh(snapshot)  # re-judge against the very latest snapshot
        if self.query_one("#wizard-next", Button).disabled:
            return
        step = self._step
        if step == PLAN:
            self._plan, _ = self._form()
        if step == CONFIRM:
            if self._plan is None or not self._live(snapshot):
                return
            self._started_before = snapshot.canary if snapshot is not None else None
            self._submit(StartCanary(self._plan))
        if step == SUMMARY:
            self.dismiss(self._view)
            return
        self._go(step + 1)

    @on(Input.Submitted)
    def _enter_pressed(self) -> None:
        self._next()

    @on(Button.Pressed, "#wizard-back")
    def _back(self) -> None:
        if self._step in (PLAN, GATES, CONFIRM):
            self._go(self._step - 1)

    @on(Button.Pressed, "#wizard-rerun")
    def _rerun(self) -> None:
        self._run_doctor()
        self._refresh(self._latest())

    @on(Button.Pressed, "#wizard-recheck")
    def _recheck(self) -> None:
        self._refresh(self._latest())

    @on(Button.Pressed, "#wizard-abort")
    def _abort_pressed(self) -> None:
        self.action_abort()

    def action_abort(self) -> None:
        """Abort: before the run, safe mode on and close; during it, AbortCanary; after, close."""
        step = self._step
        if step < RUN:
            self._submit(SetSafeMode(True))  # nothing live was sent; make sure nothing will be
            self.dismiss(None)
        elif step == RUN:
            if self._aborting:
                # One AbortCanary is enough; a second press closes the wizard (the engine keeps
                # stopping the canary and the dashboard shows it), so nobody is ever stuck here.
                self.dismiss(self._view)
                return
            self._aborting = True
            self._submit(AbortCanary(ABORT_REASON))
            abort = self.query_one("#wizard-abort", Button)
            abort.label = "Close"
            abort.refresh(layout=True)
            self._refresh(self._latest())
        else:
            self.dismiss(self._view)
