"""Carry out decisions: plan through the rails, journal, call the provider, record, announce.

Order of a kill, which is what makes it crash-safe: (1) read each target's prior state; (2) in
one transaction, journal every (action, target) as an intent with that snapshot and mark the
group killed; (3) call the provider; (4) record each outcome. A crash after (2) leaves
``pending`` rows, which :meth:`Executor.resume` replays exactly once at the next start; the
group is already marked killed, so evaluation never issues a second kill. A replayed kill reads
first (``Action.applied``): one the provider already shows in effect is journaled done, unsent.

Nothing here calls back into the engine: every method returns :class:`Acted` (the events to
queue and the result of each operation); the many-unit methods are async generators yielding
one :class:`Acted` per unit, so each announcement can be queued as soon as its action is
recorded. Consume them fully. The kills of one cycle run side by side (``KILL_CONCURRENCY``;
those sharing a target one after the other), each in the order above, and are yielded as they
finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from killswitch.act import announce
from killswitch.act.journal import Journal, JournalOp, KillMode
from killswitch.act.plan import (
    KillBatch,
    KillFate,
    KillPlan,
    Op,
    RestorePlan,
    Undo,
    plan_kills,
    plan_restore,
    provider_of,
    resolve_row,
)
from killswitch.act.runner import ActionResult, Outcome, applied, run_op, snapshot
from killswitch.metrics import Metrics
from killswitch.model import BudgetPolicy, Decision, DecisionKind, Money, Override, Window
from killswitch.notifiers.events import Event
from killswitch.plugins import ActionContext, Provider
from killswitch.secrets import redact
from killswitch.state import JournalRow, Store
from killswitch.state.lease import scoped

log = structlog.get_logger("killswitch.act")

# Kills of one cycle in flight at once. One at a time, each kill's reads, journal commits and
# provider calls add up (about 65 ms a kill on SQLite), so the hundredth key of a runaway fleet
# waited seconds; the shared HTTP client still paces and retries 429s per provider.
KILL_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class Acted:
    """What carrying out one unit produced: events for the engine to queue, one result per op."""

    events: tuple[Event, ...] = ()
    results: tuple[ActionResult, ...] = ()

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


async def _as_done(tasks: Sequence[asyncio.Future[Acted]]) -> AsyncIterator[Acted]:
    """Each task's result as soon as it is done, so its announcement is queued then and not
    behind a slower kill (a crash meanwhile would lose it: the group is already marked). A kill
    that raised (a lost lease) does not hide the others' outcomes: they are all yielded first,
    then the first error is raised."""
    error: Exception | None = None
    for next_done in asyncio.as_completed(tasks):
        try:
            acted = await next_done
        except Exception as exc:
            error = error or exc
            continue
        yield acted
    if error is not None:
        raise error


class Executor:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        metrics: Metrics,
        policies: Mapping[str, BudgetPolicy],
        *,
        identity: str,
        max_actions_per_cycle: int = 20,
    ) -> None:
        self.journal = Journal(store, identity)
        self.providers = providers
        self.metrics = metrics
        self.policies = policies
        self.identity = identity
        self.max_actions = max_actions_per_cycle

    # ---- planning (pure, but for reading the journal's open kills) ---------------------
    def plan_kills(
        self,
        decisions: Sequence[Decision],
        *,
        manual: bool = False,
        only_target: str | None = None,
        overrides: Sequence[Override] = (),
        now: datetime | None = None,
    ) -> KillBatch:
        return plan_kills(
            decisions,
            max_actions=self.max_actions,
            manual=manual,
            only_target=only_target,
            overrides=overrides,
            now=now,
        )

    def plan_restore(
        self, d: Decision, only_target: str | None = None, *, manual: bool = False
    ) -> RestorePlan:
        open_ = self.journal.open_kills(d.budget, d.group)
        return plan_restore(d, open_, only_target, manual=manual)

    def open_kills(self, budget: str, group: str | None = None) -> list[JournalRow]:
        return self.journal.open_kills(budget, group)

    # ---- kills -------------------------------------------------------------------------
    async def run_kills(
        self,
        decisions: Sequence[Decision],
        now: datetime,
        *,
        manual: bool = False,
        only_target: str | None = None,
        overrides: Sequence[Override] = (),
    ) -> AsyncIterator[Acted]:
        """One :class:`Acted` per kill plan, or a single blast-radius refusal for all of them.
        Kills of groups an active override holds are not planned (see ``KillBatch.held``)."""
        batch = self.plan_kills(
            decisions, manual=manual, only_target=only_target, overrides=overrides, now=now
        )
        if batch.blocked:
            yield self.block(batch, now)
            return
        gate = asyncio.Semaphore(KILL_CONCURRENCY)
        # Two budgets killing the same target run one after the other, in plan order (locks
        # are FIFO): the second reads the state the first left, as it always did.
        locks = {o.target: asyncio.Lock() for p in batch.plans for o in p.ops}

        async def one(p: KillPlan) -> Acted:
            async with gate, AsyncExitStack() as held:
                for target in sorted({o.target for o in p.ops}):  # one order: no deadlock
                    await held.enter_async_context(locks[target])
                return await self.kill(p, now, manual=manual)

        tasks = [asyncio.ensure_future(one(p)) for p in batch.plans]
        try:
            async for acted in _as_done(tasks):
                yield acted
        finally:  # the cycle was cancelled: what is in flight stays journaled pending (replayed)
            for t in tasks:
                t.cancel()

    def block(self, batch: KillBatch, now: datetime) -> Acted:
        """The blast-radius rail: act on none, count each as blocked, page."""
        for p in batch.plans:
            self._count(p.ops, "blocked")
        budgets = sorted({p.decision.budget for p in batch.plans})
        log.error(
            "blast radius exceeded: acting on none",
            planned=batch.total,
            limit=batch.limit,
            budgets=budgets,
        )
        return Acted((announce.blast_radius(batch, now),))

    async def kill(self, plan: KillPlan, now: datetime, *, manual: bool = False) -> Acted:
        d = plan.decision
        if plan.fate is KillFate.PROTECTED:
            self.journal.mark_killed(d, now, KillMode.PROTECTED)
            return Acted((announce.protected(plan, now),))
        if plan.fate is KillFate.NO_TARGET:
            return Acted((announce.no_target(d, now),))
        snapshots = await self._snapshots(plan, now)
        if isinstance(snapshots, Event):
            return Acted((snapshots,))
        ids = self.journal.kill_intent(plan, snapshots, now, manual=manual)
        if plan.fate is KillFate.DRY_RUN:
            self._count(plan.ops, "dry_run")
            touched = [o.description for o in plan.ops]
            log.warning("DRY-RUN kill", budget=d.budget, group=d.group, actions=touched)
            dry = tuple(ActionResult.dry_run(o) for o in plan.ops)
            return Acted((announce.dry_run(plan, now),), dry)
        ctx = self._ctx(d.policy, d.group, d.window, d.spend, d.limit, now, manual)
        results = [
            await self._carry_out(row_id, op, ctx, d.policy, now, snapshot=snap)
            for row_id, op, snap in zip(ids, plan.ops, snapshots, strict=True)
        ]
        self.metrics.kills.labels(d.budget).inc()
        return Acted((announce.killed(d, results, now),), tuple(results))

    async def _snapshots(
        self, plan: KillPlan, now: datetime
    ) -> list[dict[str, Any] | None] | Event:
        """Each target's prior state, or the event saying why nothing is done (do not act blind)."""
        if plan.dry_run:
            return [None] * len(plan.ops)
        out = []
        for op in plan.ops:
            try:
                provider = self.providers[provider_of(op.action, plan.policy)]
                out.append(await snapshot(op, provider))
            except Exception as exc:
                error = redact(str(exc) or type(exc).__name__)
                self._count([op], "failure")
                log.error(
                    "cannot read prior state; not acting",
                    action=op.action.name,
                    target=op.target,
                    error=error,
                )
                return announce.snapshot_failed(plan.decision, op.target, error, now)
        return out

    # ---- restores ----------------------------------------------------------------------
    async def run_restore(
        self, d: Decision, now: datetime, *, manual: bool = False, only_target: str | None = None
    ) -> Acted:
        """Undo exactly the journaled kills of ``d``'s group; ``ok`` when every undo held."""
        st0 = self.journal.state(d.budget, d.group)
        if st0 is not None and st0.kill_mode == KillMode.PROTECTED:
            # Nothing was done to a protected target, so there is nothing to announce.
            self.journal.clear_killed(d.budget, d.group, st0, now)
            return Acted()
        plan = self.plan_restore(d, only_target, manual=manual)
        if plan.held is not None:  # killed by hand: only a manual restore lifts it
            return Acted()
        results = tuple([await self._undo(u, d, now, manual) for u in plan.undo])
        self.journal.abandon_failed_kills(d.budget, d.group, now)
        ok = all(r.ok for r in results)
        st = self.journal.state(d.budget, d.group)
        if ok:
            if st is not None:
                self.journal.clear_killed(d.budget, d.group, st, now)
            self.metrics.restores.labels(d.budget).inc()
        window = st.killed_window_start.isoformat() if st and st.killed_window_start else ""
        event = announce.restored(d, results, now, manual=manual, kill_window=window)
        return Acted((event,), results)

    async def _undo(self, u: Undo, d: Decision, now: datetime, manual: bool) -> ActionResult:
        if u.skipped:
            return ActionResult.skipped(u.op, "irreversible: nothing to undo")
        row_id = self.journal.restore_intent(u, d, now, manual=manual)
        if u.dry_run:
            return ActionResult.dry_run(u.op)
        ctx = self._ctx(d.policy, d.group, d.window, d.spend, d.limit, now, manual)
        prior = u.row.prior or {}
        return await self._carry_out(row_id, u.op, ctx, d.policy, now, undo_prior=prior)

    # ---- retries and crash recovery ----------------------------------------------------
    async def retry_failed_kills(
        self, now: datetime, budgets: Collection[str] | None = None
    ) -> AsyncIterator[Acted]:
        """Failed kill rows of groups still marked killed (and not yet restored) run again;
        only those of ``budgets`` when given (with ha.shard: the budgets this cycle decides)."""
        for row in self.journal.failed_kills():
            if row.budget not in self.policies or (
                budgets is not None and row.budget not in budgets
            ):
                continue
            st = self.journal.state(row.budget, row.group)
            if st is None or not st.killed or st.killed_window_start != row.window_start:
                continue
            yield await self.replay(row, now)

    async def resume(
        self, now: datetime, owns: Callable[[str], bool] | None = None
    ) -> AsyncIterator[Acted]:
        """Replay the rows a crash left ``pending``, once each; then settle restored groups.
        With ``owns`` (ha.shard), only the rows of budgets it says this replica holds."""
        rows = [r for r in self.journal.pending() if owns is None or owns(r.budget)]
        for row in rows:
            log.warning(
                "resuming unfinished action from the journal",
                id=row.id,
                action=row.action,
                target=row.target,
                op=row.op,
            )
            yield await self.replay(row, now)
        if rows:
            policies = {n: p for n, p in self.policies.items() if owns is None or owns(n)}
            self.journal.settle(policies, now)

    async def replay(self, row: JournalRow, now: datetime) -> Acted:
        """Carry out one journal row again and announce it (same key as the original event)."""
        if row.op == JournalOp.CAP:  # the cap keeper reads the cap again next cycle instead
            self.journal.fail(row.id, now, "not replayed: the next cycle checks the cap again")
            return Acted()
        policy = self.policies.get(row.budget)
        ra = resolve_row(policy, row) if policy is not None else None
        if policy is None or ra is None:
            self.journal.fail(row.id, now, "action no longer configured for this budget")
            return Acted()
        window = policy.window.at(row.window_start or now)
        kill = row.op == JournalOp.KILL
        undo_prior = None if kill else self.journal.kill_prior(row)
        self.journal.reopen(row.id, now)
        op = Op.of(ra, row.target)
        result = await self._already_applied(row, op, policy, now) if kill else None
        already = result is not None
        if result is None:
            ctx = self._ctx(policy, row.group, window, None, policy.limit, now, row.manual)
            result = await self._carry_out(
                row.id,
                op,
                ctx,
                policy,
                now,
                undo_prior=undo_prior,
                snapshot=row.prior if kill else None,
            )
        spend = Money(Decimal(row.spend), policy.limit.currency) if row.spend else None
        kind = DecisionKind.KILL if kill else DecisionKind.RESTORE
        d = Decision(
            kind, row.budget, row.group, window, spend, policy.limit, row.reason, policy=policy
        )
        return Acted((announce.replayed(d, result, now, already_applied=already),), (result,))

    async def _already_applied(
        self, row: JournalRow, op: Op, policy: BudgetPolicy, now: datetime
    ) -> ActionResult | None:
        """Read before a replayed kill writes: one the provider already shows is journaled done
        and not sent again (the call landed, the crash came before its outcome was recorded)."""
        if await applied(op, self.providers[policy.provider]) is not True:
            return None
        self.journal.done_already_applied(row.id, row.prior, now)
        self._count([op], "already_applied")
        log.warning(
            "replay: already applied at the provider; not sent again",
            id=row.id,
            action=op.action.name,
            target=op.target,
        )
        return ActionResult(
            op.action.name, op.target, Outcome.SUCCESS, undo=op.impl.undo_summary, prior=row.prior
        )

    # ---- one operation -----------------------------------------------------------------
    async def _carry_out(
        self,
        row_id: int,
        op: Op,
        ctx: ActionContext,
        policy: BudgetPolicy,
        now: datetime,
        *,
        undo_prior: Mapping[str, Any] | None = None,
        snapshot: Mapping[str, Any] | None = None,
    ) -> ActionResult:
        """Call the provider for a journaled intent, then record the outcome."""
        provider = self.providers[provider_of(op.action, policy)]
        fence = self.journal.store.fence
        if fence is not None:
            # Re-checked right before the call: a replica that lost the lease (of this budget's
            # shard, with ha.shard) since the intent raises LeaseLost here and leaves the row
            # pending for the holder's replay.
            scoped(fence, policy.name).ensure()
        result = await run_op(op, provider, ctx, undo_prior=undo_prior, snapshot=snapshot)
        self.journal.finish(row_id, result, now)
        self._count([op], result.outcome.value)
        return result

    def _ctx(
        self,
        policy: BudgetPolicy,
        group: str,
        window: Window,
        spend: Money | None,
        limit: Money,
        now: datetime,
        manual: bool,
    ) -> ActionContext:
        return ActionContext(
            policy.name,
            group,
            window,
            spend,
            limit,
            now,
            manual=manual,
            own_identity=self.identity,
            protected=policy.protect,
        )

    def _count(self, ops: Iterable[Op], result: str) -> None:
        for op in ops:
            self.metrics.actions.labels(op.action.name, result).inc()
