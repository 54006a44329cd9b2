"""Evaluate one budget: observations + remembered state + now -> statuses, decisions, new state.

Pure: no I/O and no clock. The engine persists the returned state and carries out decisions.
A breach is ``spend >= kill_at x limit``. Each warning threshold fires once per window (a jump
past several fires only the highest). A killed group is restored, when ``restore: on_reset``,
once its window has moved on and its spend there is known and under the kill line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from killswitch.core.scope import Scope
from killswitch.core.spend import GroupSpend, group_spend
from killswitch.core.windows import WindowSpec
from killswitch.model import (
    BudgetPolicy,
    BudgetState,
    Coverage,
    Decision,
    DecisionKind,
    GroupStatus,
    Money,
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

    def acting(self) -> BudgetPolicy:
        """The policy decisions carry; a bare one (no actions, no provider) when none is set."""
        if self.policy is not None:
            return self.policy
        return BudgetPolicy(self.name, "", self.limit, self.window, alert_only=not self.enforce)


@dataclass(slots=True)
class Evaluation:
    statuses: list[GroupStatus] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    states: dict[str, TargetState] = field(default_factory=dict)


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
) -> Evaluation:
    now = utc(now)
    window = rule.window.at(now)
    grouped: dict[str, dict[str, list[SpendObservation]]] = defaultdict(lambda: defaultdict(list))
    for o in observations:
        g = rule.scope.group_of(o.dims)
        if g is not None:
            grouped[g][o.target].append(o)
    groups = (
        set(grouped)
        | set(rule.scope.declared_groups())
        | {g for g, st in prior.items() if st.killed}
    )
    policy = rule.acting()
    out = Evaluation()
    for g in sorted(groups):
        gs = group_spend(grouped.get(g, {}), window, rule.limit.currency, now, coverage)
        ge = _Group(rule, policy, g, window, gs, prior.get(g, TargetState()))
        ge.alert_incomplete()
        ge.warn()
        ge.breach_or_restore()
        out.decisions += ge.decisions
        out.states[g] = ge.st
        out.statuses.append(ge.status(stale))
    return out


class _Group:
    """One group's evaluation: the facts of its spend, its state as it evolves, its decisions."""

    __slots__ = (
        "breached",
        "decisions",
        "fail_closed_breach",
        "group",
        "gs",
        "incomplete",
        "kill_line",
        "policy",
        "rule",
        "spend",
        "st",
        "window",
    )

    def __init__(
        self,
        rule: BudgetRule,
        policy: BudgetPolicy,
        group: str,
        window: Window,
        gs: GroupSpend,
        st: TargetState,
    ) -> None:
        self.rule, self.policy, self.group, self.window, self.gs = rule, policy, group, window, gs
        if st.window_start != window.start:
            st = replace(st, window_start=window.start, warned=frozenset())
        self.st = st
        self.decisions: list[Decision] = []
        self.spend = gs.amount
        self.kill_line = rule.limit.amount * rule.kill_at
        # Partial data is "incomplete" (alerted, fail_closed applies); no data at all is its own
        # state: normal right after a window resets, and never read as zero.
        self.incomplete = not gs.complete and (self.spend is not None or gs.currency_mismatch)
        over = self.spend is not None and self.spend.amount >= self.kill_line
        self.fail_closed_breach = rule.fail_closed and self.incomplete and not over
        self.breached = over or self.fail_closed_breach

    def decide(self, kind: DecisionKind, reason: str, threshold: Decimal | None = None) -> None:
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
                {k: tuple(sorted(v)) for k, v in self.gs.dims.items()},
                policy=self.policy,
            )
        )

    def spent(self) -> str:  # formatting only when a decision needs words (hot loop)
        amount = self.spend if self.spend is not None else "unknown"
        return f"{amount} of {self.rule.limit}"

    def alert_incomplete(self) -> None:
        """Incomplete data: alert once until it becomes complete again."""
        if self.incomplete and not self.st.incomplete_alerted:
            self.decide(DecisionKind.INCOMPLETE, "; ".join(self.gs.notes) or "incomplete data")
            self.st = replace(self.st, incomplete_alerted=True)
        elif not self.incomplete and self.st.incomplete_alerted:
            self.st = replace(self.st, incomplete_alerted=False)

    def warn(self) -> None:
        """Once per threshold per window; only the highest newly crossed fires."""
        rule, spend = self.rule, self.spend
        if spend is None or self.st.killed:
            return
        crossed = [
            t for t in rule.warn_at if t < rule.kill_at and spend.amount >= rule.limit.amount * t
        ]
        fresh = [t for t in crossed if _fmt(t) not in self.st.warned]
        if not fresh:
            return
        if not self.breached:
            top = max(fresh)
            reason = f"spend {self.spent()} crossed {_fmt(top * 100)}% of the limit"
            self.decide(DecisionKind.WARN, reason, top)
        self.st = replace(self.st, warned=self.st.warned | {_fmt(t) for t in crossed})

    def breach_or_restore(self) -> None:
        rule, st = self.rule, self.st
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
        reason = (
            f"spend {self.spent()} is at or above the kill line "
            f"({_fmt(rule.kill_at * 100)}% = {_fmt(self.kill_line)} {rule.limit.currency})"
        )
        if self.fail_closed_breach:
            reason = f"data is incomplete and fail_closed is set ({'; '.join(self.gs.notes)})"
        if rule.enforce:
            self.decide(DecisionKind.KILL, reason, rule.kill_at)
        elif self.st.breach_alerted_window != self.window.start:
            reason += " (alert-only: nothing done)"
            self.decide(DecisionKind.BREACH_ALERT, reason, rule.kill_at)
            self.st = replace(self.st, breach_alerted_window=self.window.start)

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
            detail="; ".join(self.gs.notes),
        )

    def _state(self) -> BudgetState:
        spend, rule = self.spend, self.rule
        if self.st.killed:
            return BudgetState.KILLED
        if self.breached:
            return BudgetState.BREACHED
        if spend is None:
            return BudgetState.NO_DATA
        if self.incomplete:
            return BudgetState.INCOMPLETE
        warn_lines = (rule.limit.amount * t for t in rule.warn_at if t < rule.kill_at)
        if any(spend.amount >= line for line in warn_lines):
            return BudgetState.WARNING
        return BudgetState.OK
