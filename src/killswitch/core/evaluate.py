"""Evaluate one budget: observations + remembered state + now -> statuses, decisions, new state.

Pure: no I/O and no clock. The engine persists the returned state and carries out decisions.
A breach is ``spend >= kill_at x limit``. Each warning threshold fires once per window (a jump
past several fires only the highest). A killed group is restored, when ``restore: on_reset``,
once its window has moved on and its spend there is known and under the kill line.
With a ``forecast`` rule, a group under the kill line whose spend is projected to cross it within
the horizon gets a forecast warning (once per window) or, with ``kill``, a kill whose reason
says it was forecast (``killswitch.core.forecast``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from killswitch.core.forecast import ForecastRule, Sample, crossing
from killswitch.core.scope import Scope
from killswitch.core.spend import GroupSpend, covered, group_spend
from killswitch.core.windows import WindowSpec
from killswitch.model import (
    BudgetPolicy,
    BudgetState,
    Coverage,
    Decision,
    DecisionKind,
    Forecast,
    GroupStatus,
    Money,
    ObservationKind,
    SpendObservation,
    TargetState,
    Window,
    utc,
)


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """The core's view of a budget (built from config; no config types leak in here)."""

    name: str
    scope: Scope
    window: WindowSpec
    limit: Money
    warn_at: tuple[Decimal, ...] = (Decimal("0.8"),)
    kill_at: Decimal = Decimal(1)
    enforce: bool = True
    restore_on_reset: bool = True
    fail_closed: bool = False
    # how to act on this budget's decisions; carried by each Decision, opaque to the core
    policy: BudgetPolicy | None = None
    forecast: ForecastRule | None = None
    # Derived once per rule, not once per evaluation (100k separate budgets: 100k calls).
    kill_line: Decimal = field(init=False, repr=False, compare=False)
    # (threshold, its line in money, its name in state), below the kill line only
    warn_lines: tuple[tuple[Decimal, Decimal, str], ...] = field(
        init=False, repr=False, compare=False
    )
    acting: BudgetPolicy = field(init=False, repr=False, compare=False)
    # the lowest warning line (None: no warning below the kill line): under it, nothing to warn
    warn_floor: Decimal | None = field(init=False, repr=False, compare=False)
    kill_text: str = field(init=False, repr=False, compare=False)  # "100% = 10 USD", for reasons

    def __post_init__(self) -> None:
        limit = self.limit.amount
        warn_lines = tuple((t, limit * t, _fmt(t)) for t in self.warn_at if t < self.kill_at)
        # the policy decisions carry; a bare one (no actions, no provider) when none is set
        acting = self.policy or BudgetPolicy(
            self.name, "", self.limit, self.window, alert_only=not self.enforce
        )
        kill_line = limit * self.kill_at
        derived = {
            "kill_line": kill_line,
            "kill_text": f"{_fmt(self.kill_at * 100)}% = {_fmt(kill_line)} {self.limit.currency}",
            "warn_lines": warn_lines,
            "warn_floor": min((line for _, line, _ in warn_lines), default=None),
            "acting": acting,
        }
        for name, value in derived.items():  # frozen: set the way dataclasses set fields
            object.__setattr__(self, name, value)


@dataclass(slots=True)
class Evaluation:
    statuses: list[GroupStatus] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    states: dict[str, TargetState] = field(default_factory=dict)
    # this cycle's (as_of, spend) per group, for the caller's history (forecast budgets only)
    samples: dict[str, Sample] = field(default_factory=dict)


_BLANK = TargetState()  # the state of a group never seen before (immutable: shared)
_NO_READINGS: dict[str, list[SpendObservation]] = {}  # a group nothing reported (read only)


def _dims(dims: Mapping[str, set[str]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(sorted(v)) for k, v in dims.items()}


def _fmt(x: Decimal) -> str:
    return format(x.normalize(), "f")


def evaluate(
    rule: BudgetRule,
    observations: Iterable[SpendObservation],
    prior: Mapping[str, TargetState],
    now: datetime,
    *,
    coverage: Sequence[Coverage] = (),
    stale: bool = False,
    history: Mapping[str, Sequence[Sample]] | None = None,
    data_as_of: datetime | None = None,
) -> Evaluation:
    """Evaluate every group of ``rule``. A group whose state did not change gets back the very
    ``prior`` object (``out.states[g] is prior[g]``), so a caller can write only what changed.

    ``history`` (earlier samples per group) and ``data_as_of`` (the instant the source's data
    describes; default ``now``) feed the forecast of a rule that has one."""
    now = utc(now)
    window = rule.window.at(now)
    # the usual case: no coverage (no source vouches for missing buckets), nothing to merge
    vouched = bool(coverage) and covered(coverage, window.start, min(now, window.end))
    grouped = _grouped(rule.scope, observations)
    groups = set(grouped)
    groups.update(rule.scope.declared_groups())
    if prior:  # a killed group stays evaluated (its restore) even when nothing reports it
        groups.update(g for g, st in prior.items() if st.killed)
    ctx = _Context(rule, window, vouched)
    ctx.now, ctx.stale, ctx.history = now, stale, history or {}
    ctx.forecasting = True
    ctx.as_of = utc(data_as_of) if data_as_of is not None else now
    return _judge_groups(
        ctx, sorted(groups) if len(groups) > 1 else groups, grouped, prior, coverage
    )


def _judge_groups(
    ctx: _Context,
    groups: Iterable[str],
    grouped: Mapping[str, dict[str, list[SpendObservation]]],
    prior: Mapping[str, TargetState],
    coverage: Sequence[Coverage],
) -> Evaluation:
    """Each group in turn: a quiet one by :func:`_quiet`, the others judged in full."""
    out = Evaluation()
    currency, vouched = ctx.rule.limit.currency, ctx.vouched
    quiet = _quiet if not vouched and ctx.rule.forecast is None else None
    for g in groups:
        by_target, st = grouped.get(g, _NO_READINGS), prior.get(g, _BLANK)
        done = quiet(ctx, g, by_target, st) if quiet is not None else None
        if done is not None:  # nothing to decide
            out.statuses.append(done[0])
            out.states[g] = done[1]
            continue
        gs = group_spend(by_target, ctx.window, currency, ctx.now, coverage, vouched=vouched)
        _judge_group(ctx, g, gs, st, out, ctx.stale)
    return out


def _quiet(
    ctx: _Context, g: str, by_target: dict[str, list[SpendObservation]], st: TargetState
) -> tuple[GroupStatus, TargetState] | None:
    """The status and state of a group with nothing to decide, or None to judge it in full.

    Most groups of a large budget, in most cycles: one complete to-date reading for this very
    window, under the kill line, every warning it crosses already sent in this window (or, in
    a window just begun, none crossed), not killed or killed in this window, no incomplete-data
    alert open. For them :func:`_judge_group` would decide nothing; this says so without
    building its intermediate objects (100k keys: a steady cycle's evaluation in half the
    time). ``tests/unit/test_evaluate_quiet.py`` holds it to :func:`_judge_group`'s answer
    over every combination of these conditions.
    """
    o = _one_reading(ctx.window, by_target, ctx.rule.limit.currency)
    if o is None or st.incomplete_alerted:
        return None
    spend, w = o.amount, ctx.window
    moved = st.window_start != w.start  # a new window (or a new group): its warnings reset
    if st.killed:  # killed in this window: stays so; a later window may restore it
        if moved or st.killed_window_start != w.start:
            return None
        return _status(ctx, g, spend, BudgetState.KILLED), st
    if spend.amount >= ctx.kill_line:
        return None
    state = BudgetState.OK
    floor = ctx.rule.warn_floor
    if floor is not None and spend.amount >= floor:
        warned = frozenset() if moved else st.warned
        for _, line, name in ctx.warn_lines:
            if spend.amount >= line and name not in warned:
                return None  # a warning to send
        state = BudgetState.WARNING
    if moved:  # what _Group.state() would make of it: the new window, nothing warned yet
        st = TargetState(
            w.start,
            frozenset(),
            st.killed,
            st.kill_mode,
            st.killed_window_start,
            st.breach_alerted_window,
            st.incomplete_alerted,
            st.forecast_warned_window,
        )
    return _status(ctx, g, spend, state), st


def _one_reading(
    w: Window, by_target: dict[str, list[SpendObservation]], currency: str
) -> SpendObservation | None:
    """The one target's reading that counts, if it is a complete, unremarked to-date figure for
    ``w``: as in ``core.spend.target_spend``, the latest exact to-date match wins over every
    other reading of the target (a poll's weekly and monthly figures, its lifetime counter)."""
    if len(by_target) != 1:
        return None
    (obs,) = by_target.values()
    best: SpendObservation | None = None
    for o in obs:
        if (
            o.kind is ObservationKind.TO_DATE
            and o.start == w.start
            and o.end == w.end
            and (best is None or o.observed_at >= best.observed_at)
        ):
            best = o
    if best is None or best.note or not best.complete or best.amount.currency != currency:
        return None
    return best


def _status(ctx: _Context, g: str, spend: Money, state: BudgetState) -> GroupStatus:
    """A group's status from one complete reading with nothing to note."""
    return GroupStatus(ctx.rule.name, g, ctx.window, spend, ctx.rule.limit, state, False, ctx.stale)


def judge(
    rule: BudgetRule,
    spends: Mapping[str, GroupSpend],
    prior: Mapping[str, TargetState],
    window: Window,
    *,
    stale: bool = False,
) -> Evaluation:
    """:func:`evaluate` from each group's spend however it was summed (``core.fanin`` sums a
    budget across providers source by source, then calls this)."""
    ctx = _Context(rule, window, False)
    out = Evaluation()
    for g in sorted(spends):
        _judge_group(ctx, g, spends[g], prior.get(g, _BLANK), out, stale)
    return out


def _grouped(
    scope: Scope, observations: Iterable[SpendObservation]
) -> dict[str, dict[str, list[SpendObservation]]]:
    """The observations in scope, by group, then by target (a group sums its targets)."""
    grouped: dict[str, dict[str, list[SpendObservation]]] = {}
    for g, o in _in_groups(scope, observations):
        by_target = grouped.get(g)
        if by_target is None:
            grouped[g] = {o.target: [o]}
        elif o.target in by_target:
            by_target[o.target].append(o)
        else:
            by_target[o.target] = [o]
    return grouped


def _in_groups(
    scope: Scope, observations: Iterable[SpendObservation]
) -> Iterator[tuple[str, SpendObservation]]:
    """(group, observation) for each observation in scope; ``{each: dim}`` without filters (a
    group per key, the largest budgets) reads the dimension directly, without the filter test."""
    each = scope.each
    if each is not None and not scope.filters:
        for o in observations:
            g = o.dims.get(each)
            if g is not None:
                yield g, o
        return
    group_of = scope.group_of
    for o in observations:
        g = group_of(o.dims)
        if g is not None:
            yield g, o


def _judge_group(
    ctx: _Context, g: str, gs: GroupSpend, st: TargetState, out: Evaluation, stale: bool
) -> None:
    ge = _Group(ctx, g, gs, st, out.decisions)
    ge.alert_incomplete()
    ge.warn()
    ge.breach_or_restore()
    if ctx.forecasting and ctx.rule.forecast is not None:
        ge.forecast(ctx.rule.forecast, out.samples)
    out.states[g] = ge.state()
    out.statuses.append(ge.status(stale))


class _Context:
    """What every group of one evaluation shares: computed once per call, not once per group."""

    __slots__ = (
        "as_of",
        "forecasting",
        "history",
        "kill_line",
        "now",
        "policy",
        "rule",
        "stale",
        "vouched",
        "warn_lines",
        "window",
    )

    def __init__(self, rule: BudgetRule, window: Window, vouched: bool) -> None:
        self.rule, self.window, self.vouched = rule, window, vouched
        self.now = self.as_of = window.start
        self.stale = False
        self.forecasting = False  # only evaluate() knows now and the history a forecast needs
        self.history: Mapping[str, Sequence[Sample]] = {}
        self.policy, self.kill_line, self.warn_lines = rule.acting, rule.kill_line, rule.warn_lines


class _Group:
    """One group's evaluation: the facts of its spend, its state as it evolves, its decisions.

    The state's fields live here as plain attributes while the group is decided and become one
    :class:`TargetState` at the end (only when something changed): no per-step copies.
    """

    __slots__ = (
        "breach_alerted_window",
        "breached",
        "ctx",
        "decisions",
        "fail_closed_breach",
        "forecast_warned",
        "group",
        "gs",
        "incomplete",
        "incomplete_alerted",
        "policy",
        "prior",
        "rule",
        "spend",
        "warned",
        "window",
        "window_start",
    )

    def __init__(
        self, ctx: _Context, group: str, gs: GroupSpend, st: TargetState, out: list[Decision]
    ) -> None:
        self.ctx, self.rule, self.policy, self.window = ctx, ctx.rule, ctx.policy, ctx.window
        self.group, self.gs, self.prior = group, gs, st
        self.window_start, self.warned = st.window_start, st.warned
        if st.window_start != ctx.window.start:
            self.window_start, self.warned = ctx.window.start, frozenset()
        self.incomplete_alerted = st.incomplete_alerted
        self.breach_alerted_window = st.breach_alerted_window
        self.forecast_warned = st.forecast_warned_window
        self.decisions = out  # the evaluation's list: a group appends its decisions there
        self.spend = gs.amount
        # Partial data is "incomplete" (alerted, fail_closed applies); no data at all is its own
        # state: normal right after a window resets, and never read as zero.
        self.incomplete = not gs.complete and (self.spend is not None or gs.currency_mismatch)
        over = self.spend is not None and self.spend.amount >= ctx.kill_line
        self.fail_closed_breach = self.rule.fail_closed and self.incomplete and not over
        self.breached = over or self.fail_closed_breach

    def state(self) -> TargetState:
        """The group's state after this cycle: the prior object itself when nothing changed."""
        p = self.prior
        if (
            self.window_start == p.window_start
            and self.warned == p.warned
            and self.incomplete_alerted == p.incomplete_alerted
            and self.breach_alerted_window == p.breach_alerted_window
            and self.forecast_warned == p.forecast_warned_window
        ):
            return p
        return TargetState(
            self.window_start,
            self.warned,
            p.killed,
            p.kill_mode,
            p.killed_window_start,
            self.breach_alerted_window,
            self.incomplete_alerted,
            self.forecast_warned,
        )

    def decide(
        self,
        kind: DecisionKind,
        reason: str,
        threshold: Decimal | None = None,
        forecast: Forecast | None = None,
    ) -> None:
        self.decisions.append(
            Decision(
                kind,
                self.rule.name,
                self.group,
                self.window,
                self.spend,
                self.rule.limit,
                reason,
                threshold,
                tuple(self.gs.members),
                _dims(self.gs.dims),
                policy=self.policy,
                provider_dims={p: _dims(d) for p, d in self.gs.provider_dims.items()},
                forecast=forecast,
            )
        )

    def spent(self) -> str:  # formatting only when a decision needs words (hot loop)
        amount = self.spend if self.spend is not None else "unknown"
        return f"{amount} of {self.rule.limit}"

    def alert_incomplete(self) -> None:
        """Incomplete data: alert once until it becomes complete again."""
        if self.incomplete and not self.incomplete_alerted:
            self.decide(DecisionKind.INCOMPLETE, "; ".join(self.gs.notes) or "incomplete data")
            self.incomplete_alerted = True
        elif not self.incomplete and self.incomplete_alerted:
            self.incomplete_alerted = False

    def warn(self) -> None:
        """Once per threshold per window; only the highest newly crossed fires."""
        spend, floor = self.spend, self.rule.warn_floor
        if spend is None or floor is None or spend.amount < floor or self.prior.killed:
            return
        amount, warned = spend.amount, self.warned
        crossed = [(t, name) for t, line, name in self.ctx.warn_lines if amount >= line]
        fresh = [t for t, name in crossed if name not in warned]
        if not fresh:
            return
        if not self.breached:
            top = max(fresh)
            reason = f"spend {self.spent()} crossed {_fmt(top * 100)}% of the limit"
            self.decide(DecisionKind.WARN, reason, top)
        self.warned = warned | {name for _, name in crossed}

    def breach_or_restore(self) -> None:
        rule, st = self.rule, self.prior
        if self.breached and not st.killed:
            self._breach()
        elif (
            st.killed
            and rule.restore_on_reset
            and st.killed_window_start != self.window.start
            and self.spend is not None
            and not self.breached
        ):
            self.decide(
                DecisionKind.RESTORE,
                f"new window from {self.window.start.isoformat()}: "
                f"spend {self.spent()} is under the kill line",
            )

    def _breach(self) -> None:
        rule = self.rule
        reason = f"spend {self.spent()} is at or above the kill line ({rule.kill_text})"
        if self.fail_closed_breach:
            reason = f"data is incomplete and fail_closed is set ({'; '.join(self.gs.notes)})"
        if rule.enforce:
            self.decide(DecisionKind.KILL, reason, rule.kill_at)
        elif self.breach_alerted_window != self.window.start:
            reason += " (alert-only: nothing done)"
            self.decide(DecisionKind.BREACH_ALERT, reason, rule.kill_at)
            self.breach_alerted_window = self.window.start

    def forecast(self, fr: ForecastRule, samples: dict[str, Sample]) -> None:
        """Record this cycle's sample; act on a projected crossing of the kill line.

        Only on complete, fresh data under the kill line of a group not already killed: a
        stale source's data age would be extrapolated over the whole outage, and incomplete
        data is the reactive path's (and ``fail_closed``'s) business."""
        ctx, spend = self.ctx, self.spend
        if spend is None or not self.gs.complete:
            return
        now_sample = Sample(ctx.as_of, spend.amount, self.window.start)
        samples[self.group] = now_sample
        if self.breached or self.prior.killed or ctx.stale:
            return
        past = ctx.history.get(self.group, ())
        f = crossing(fr, [*past, now_sample], self.window, ctx.now, ctx.kill_line, spend.currency)
        if f is None:
            return
        when = f.crosses_at.isoformat() if f.crosses_at else "never"
        reason = (
            f"forecast: spend {self.spent()} at {f.rate_per_hour} per hour is projected to reach "
            f"{f.projected} by {f.at.isoformat()}, past the kill line "
            f"({_fmt(self.ctx.kill_line)} {self.rule.limit.currency}) at {when}"
        )
        if fr.kill and self.rule.enforce:
            self.decide(DecisionKind.KILL, reason, self.rule.kill_at, f)
        elif self.forecast_warned != self.window.start:
            self.decide(DecisionKind.FORECAST_WARN, reason, self.rule.kill_at, f)
            self.forecast_warned = self.window.start

    def status(self, stale: bool) -> GroupStatus:
        return GroupStatus(
            self.rule.name,
            self.group,
            self.window,
            self.spend,
            self.rule.limit,
            self._state(),
            incomplete=self.incomplete,
            stale=stale,
            detail="; ".join(self.gs.notes) if self.gs.notes else "",
            sources=self.gs.parts,
        )

    def _state(self) -> BudgetState:
        spend = self.spend
        if self.prior.killed:
            return BudgetState.KILLED
        if self.breached:
            return BudgetState.BREACHED
        if spend is None:
            return BudgetState.NO_DATA
        if self.incomplete:
            return BudgetState.INCOMPLETE
        floor = self.rule.warn_floor
        if floor is not None and spend.amount >= floor:
            return BudgetState.WARNING
        return BudgetState.OK
