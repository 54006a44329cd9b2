"""From decisions to operations, through the safety rails. Pure: no I/O, no clock, no store.

The rails, in the order they apply:

* **alert-only**: the core already turns a breach of an alert-only budget into a
  ``BREACH_ALERT`` notice; :func:`notice_kind` names the event of every decision that is
  announced and never acted on (warnings, alert-only breaches, incomplete data).
* **protect**: a target (or group) on the global or the budget's protect list is never touched;
  :class:`KillPlan` lists it under ``protected``.
* **dry-run**: the plan says so; the executor journals and announces, never executes.
* **blast radius**: :class:`KillBatch` is ``blocked`` when one cycle would take more than
  ``max_actions_per_cycle`` actions (manual kills are exempt): then none is taken.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from killswitch.model import BudgetPolicy, Decision, DecisionKind, ResolvedAction
from killswitch.plugins import Action, TargetRequest, registry
from killswitch.state import JournalRow

# Decisions that are announced and never acted on, and the event each becomes.
NOTICES: Mapping[DecisionKind, str] = {
    DecisionKind.WARN: "warning",
    DecisionKind.BREACH_ALERT: "breach",
    DecisionKind.INCOMPLETE: "incomplete",
    DecisionKind.FORECAST_WARN: "forecast_warning",
}


def notice_kind(d: Decision) -> str | None:
    """The event kind of a decision that is only announced, else None (kill, restore)."""
    return NOTICES.get(d.kind)


@dataclass(frozen=True, slots=True)
class Op:
    """One action on one target."""

    action: ResolvedAction
    impl: Action
    target: str
    description: str

    @classmethod
    def of(cls, action: ResolvedAction, target: str) -> Op:
        impl = registry.actions[action.name]()
        return cls(action, impl, target, impl.describe(target, action.params))


class KillFate(enum.StrEnum):
    """What carrying out a kill plan amounts to."""

    PROTECTED = "protected"  # every target is protected: announce, mark, touch nothing
    NO_TARGET = "no_target"  # the actions found nothing to act on: announce as failed
    DRY_RUN = "dry_run"  # journal and announce, never execute
    ENFORCE = "enforce"  # snapshot, journal the intent, call the provider, record


@dataclass(frozen=True, slots=True)
class KillPlan:
    decision: Decision
    ops: tuple[Op, ...] = ()
    protected: tuple[str, ...] = ()

    @property
    def policy(self) -> BudgetPolicy:
        return self.decision.policy

    @property
    def dry_run(self) -> bool:
        return self.policy.dry_run

    @property
    def fate(self) -> KillFate:
        if not self.ops:
            return KillFate.PROTECTED if self.protected else KillFate.NO_TARGET
        return KillFate.DRY_RUN if self.dry_run else KillFate.ENFORCE


def plan_kill(d: Decision, only_target: str | None = None) -> KillPlan:
    """Every (action, target) the decision's policy calls for, minus protected ones."""
    policy = d.policy
    req = TargetRequest(d.group, policy.scope_each, d.dims)
    ops: list[Op] = []
    protected: list[str] = []
    for ra in policy.actions:
        impl = registry.actions[ra.name]()
        for target in impl.targets(ra.params, req):
            if only_target is not None and only_target not in (target, d.group):
                continue
            if target in policy.protect or d.group in policy.protect:
                protected.append(target)
                continue
            ops.append(Op(ra, impl, target, impl.describe(target, ra.params)))
    return KillPlan(d, tuple(ops), tuple(protected))


@dataclass(frozen=True, slots=True)
class KillBatch:
    """The kills of one cycle (or one manual command), and the blast-radius verdict on them."""

    plans: tuple[KillPlan, ...]
    limit: int
    manual: bool = False

    @property
    def total(self) -> int:
        return sum(len(p.ops) for p in self.plans)

    @property
    def blocked(self) -> bool:
        return self.total > self.limit and not self.manual


def plan_kills(
    decisions: Sequence[Decision],
    *,
    max_actions: int,
    manual: bool = False,
    only_target: str | None = None,
) -> KillBatch:
    plans = tuple(plan_kill(d, only_target) for d in decisions)
    return KillBatch(plans, max_actions, manual)


@dataclass(frozen=True, slots=True)
class Undo:
    """One open kill row to undo, with the configured action that undoes it."""

    row: JournalRow
    op: Op

    @property
    def dry_run(self) -> bool:
        return self.row.status == "dry_run"

    @property
    def skipped(self) -> bool:
        """An executed kill whose action cannot be undone: nothing to do, reported as skipped."""
        return not self.dry_run and not self.op.impl.reversible


@dataclass(frozen=True, slots=True)
class RestorePlan:
    decision: Decision
    undo: tuple[Undo, ...] = ()


def plan_restore(
    d: Decision, open_kills: Sequence[JournalRow], only_target: str | None = None
) -> RestorePlan:
    """What undoing the group's open kills takes; kills no longer configured are left alone."""
    undo = []
    for k in open_kills:
        if only_target is not None and only_target not in (k.target, k.group):
            continue
        ra = resolve_row(d.policy, k)
        if ra is not None:
            undo.append(Undo(k, Op.of(ra, k.target)))
    return RestorePlan(d, tuple(undo))


def resolve_row(policy: BudgetPolicy, row: JournalRow) -> ResolvedAction | None:
    """The configured action a journal row was made by: same name and params, else same name."""
    same_name = [ra for ra in policy.actions if ra.name == row.action]
    for ra in same_name:
        if ra.params.model_dump(mode="json", exclude={"secret"}) == row.params:
            return ra
    return same_name[0] if same_name else None
