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
from killswitch.core.spend import group_spend
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
    kill_line = rule.limit.amount * rule.kill_at
    policy = rule.acting()
    out = Evaluation()
    for g in sorted(groups):
        st = prior.get(g, TargetState())
        if st.window_start != window.start:
            st = replace(st, window_start=window.start, warned=frozenset())
        gs = group_spend(grouped.get(g, {}), window, rule.limit.currency, now, coverage)
        spend = gs.amount
        # Partial data is "incomplete" (alerted, fail_closed applies); no data at all is its own
        # state: normal right after a window resets, and never read as zero.
        incomplete = not gs.complete and (spend is not None or gs.currency_mismatch)
        over = spend is not None and spend.amount >= kill_line
        fail_closed_breach = rule.fail_closed and incomplete and not over
        breached = over or fail_closed_breach

        def decide(kind: DecisionKind, reason: str, threshold: Decimal | None = None) -> None:
            out.decisions.append(
                Decision(
                    kind,
                    rule.name,
                    g,
                    window,
                    spend,
                    rule.limit,
                    reason,
                    threshold,
                    tuple(gs.members),
                    {k: tuple(sorted(v)) for k, v in gs.dims.items()},
                    policy=policy,
                )
            )

        def spent() -> str:  # formatting only when a decision needs words (hot loop)
            return f"{spend} of {rule.limit}" if spend is not None else f"unknown of {rule.limit}"

        # Incomplete data: alert once until it becomes complete again.
        if incomplete and not st.incomplete_alerted:
            decide(DecisionKind.INCOMPLETE, "; ".join(gs.notes) or "incomplete data")
            st = replace(st, incomplete_alerted=True)
        elif not incomplete and st.incomplete_alerted:
            st = replace(st, incomplete_alerted=False)

        # Warnings: once per threshold per window; only the highest newly crossed fires.
        if spend is not None and not st.killed:
            crossed = [
                t
                for t in rule.warn_at
                if t < rule.kill_at and spend.amount >= rule.limit.amount * t
            ]
            fresh = [t for t in crossed if _fmt(t) not in st.warned]
            if fresh and not breached:
                top = max(fresh)
                decide(
                    DecisionKind.WARN,
                    f"spend {spent()} crossed {_fmt(top * 100)}% of the limit",
                    top,
                )
            if fresh:
                st = replace(st, warned=st.warned | {_fmt(t) for t in crossed})

        if breached and not st.killed:
            reason = (
                f"spend {spent()} is at or above the kill line "
                f"({_fmt(rule.kill_at * 100)}% = {_fmt(kill_line)} {rule.limit.currency})"
            )
            if fail_closed_breach:
                reason = f"data is incomplete and fail_closed is set ({'; '.join(gs.notes)})"
            if rule.enforce:
                decide(DecisionKind.KILL, reason, rule.kill_at)
            elif st.breach_alerted_window != window.start:
                decide(
                    DecisionKind.BREACH_ALERT, reason + " (alert-only: nothing done)", rule.kill_at
                )
                st = replace(st, breach_alerted_window=window.start)
        elif (
            st.killed
            and rule.restore_on_reset
            and st.killed_window_start != window.start
            and spend is not None
            and not breached
        ):
            decide(
                DecisionKind.RESTORE,
                f"new window from {window.start.isoformat()}: spend {spent()} is under the kill line",
            )

        out.states[g] = st
        out.statuses.append(
            GroupStatus(
                rule.name,
                g,
                window,
                spend,
                rule.limit,
                _state(st, breached, spend, incomplete, rule, kill_line),
                incomplete=incomplete,
                stale=stale,
                detail="; ".join(gs.notes),
            )
        )
    return out


def _state(
    st: TargetState,
    breached: bool,
    spend: Money | None,
    incomplete: bool,
    rule: BudgetRule,
    kill_line: Decimal,
) -> BudgetState:
    if st.killed:
        return BudgetState.KILLED
    if breached:
        return BudgetState.BREACHED
    if spend is None:
        return BudgetState.NO_DATA
    if incomplete:
        return BudgetState.INCOMPLETE
    if any(spend.amount >= rule.limit.amount * t for t in rule.warn_at if t < rule.kill_at):
        return BudgetState.WARNING
    return BudgetState.OK
