"""From decisions to operations, through the safety rails. Pure: no I/O, no clock, no store.

The rails, in the order they apply:

* **alert-only**: the core already turns a breach of an alert-only budget into a
  ``BREACH_ALERT`` notice; :func:`notice_kind` names the event of every decision that is
  announced and never acted on (warnings, alert-only breaches, incomplete data).
* **protect**: a target (or group) on the global or the budget's protect list is never touched;
  :class:`KillPlan` lists it under ``protected``.
* **dry-run**: the plan says so; the executor journals and announces, never executes.
* **overrides**: a group an operator restored while still over its limit is not killed again
  while its :class:`~killswitch.model.Override` is active (``KillBatch.held``); a group killed by
  hand is not restored automatically (``RestorePlan.held``), only by a manual restore.
* **blast radius**: :class:`KillBatch` is ``blocked`` when one cycle would take more than
  ``max_actions_per_cycle`` actions (manual kills are exempt): then none is taken. Held
  decisions take no action, so they do not count.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from killswitch.model import (
    OVERRIDE_KILLED,
    BudgetPolicy,
    Decision,
    DecisionKind,
    Override,
    ResolvedAction,
)
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
    ops: list[Op] = []
    protected: list[str] = []
    for ra in policy.actions:
        impl = registry.actions[ra.name]()
        # each action picks among its own provider's targets (a budget across providers)
        req = TargetRequest(d.group, policy.scope_each, d.dims_for(ra.provider))
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
    # kill decisions not planned because an operator's override holds their group
    held: tuple[tuple[Decision, Override], ...] = ()

    @property
    def total(self) -> int:
        return sum(len(p.ops) for p in self.plans)

    @property
    def blocked(self) -> bool:
        return self.total > self.limit and not self.manual


def active_overrides(
    overrides: Iterable[Override], now: datetime
) -> dict[tuple[str, str], Override]:
    """The overrides in force at ``now``, by (budget, group)."""
    return {(o.budget, o.group): o for o in overrides if o.active(now)}


def plan_kills(
    decisions: Sequence[Decision],
    *,
    max_actions: int,
    manual: bool = False,
    only_target: str | None = None,
    overrides: Iterable[Override] = (),
    now: datetime | None = None,
) -> KillBatch:
    """The kills of ``decisions``; an automatic one is held while an operator's override of its
    group is active at ``now`` (a manual kill is the operator's own word: never held)."""
    held: list[tuple[Decision, Override]] = []
    if not manual and now is not None:
        by_group = active_overrides(overrides, now)
        kept = []
        for d in decisions:
            o = by_group.get((d.budget, d.group))
            if o is not None and o.kind != OVERRIDE_KILLED:
                held.append((d, o))
            else:
                kept.append(d)
        decisions = kept
    plans = tuple(plan_kill(d, only_target) for d in decisions)
    return KillBatch(plans, max_actions, manual, tuple(held))


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
    # an automatic restore of a group killed by hand: nothing is undone, the group stays killed
    held: Override | None = None


def kill_hold(open_kills: Sequence[JournalRow]) -> Override | None:
    """The hold a manual kill puts on its group (until a manual restore), if any open kill is
    manual: the journal row is the record of it, so nothing else is stored."""
    manual = [k for k in open_kills if k.manual]
    if not manual:
        return None
    k = manual[0]
    return Override(
        k.budget, k.group, OVERRIDE_KILLED, None, k.actor, k.reason, created_at=k.created_at
    )


def plan_restore(
    d: Decision,
    open_kills: Sequence[JournalRow],
    only_target: str | None = None,
    *,
    manual: bool = False,
) -> RestorePlan:
    """What undoing the group's open kills takes; kills no longer configured are left alone.
    An automatic restore (window reset) never undoes a manual kill: it is ``held``."""
    if not manual:
        hold = kill_hold(open_kills)
        if hold is not None:
            return RestorePlan(d, (), held=hold)
    undo = []
    for k in open_kills:
        if only_target is not None and only_target not in (k.target, k.group):
            continue
        ra = resolve_row(d.policy, k)
        if ra is not None:
            undo.append(Undo(k, Op.of(ra, k.target)))
    return RestorePlan(d, tuple(undo))


def provider_of(ra: ResolvedAction, policy: BudgetPolicy) -> str:
    """The provider an action acts through: its own in a budget across providers, else the
    budget's."""
    return ra.provider or policy.provider


def resolve_row(policy: BudgetPolicy, row: JournalRow) -> ResolvedAction | None:
    """The configured action a journal row was made by: same name and params, else same name."""
    same_name = [
        ra
        for ra in policy.actions
        if ra.name == row.action and (row.provider or policy.provider) == provider_of(ra, policy)
    ]
    for ra in same_name:
        if ra.params.model_dump(mode="json", exclude={"secret"}) == row.params:
            return ra
    return same_name[0] if same_name else None
