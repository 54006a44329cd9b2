"""Carry out decisions: safety rails, journal, provider call, outcome, notification.

Order of a kill, which is what makes it crash-safe: (1) in one transaction, journal every
(action, target) as an intent and mark the group killed; (2) call the provider; (3) record each
outcome. A crash after (1) leaves ``pending`` rows, which ``resume()`` replays exactly once at the
next start; the group is already marked killed, so evaluation never issues a second kill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from killswitch.config import Config, ResolvedAction
from killswitch.errors import ActionError
from killswitch.metrics import Metrics
from killswitch.model import Decision, DecisionKind, Money, Window
from killswitch.notifiers.events import Event
from killswitch.plugins import Action, ActionContext, Provider, TargetRequest, registry
from killswitch.secrets import redact
from killswitch.state import JournalRow, Store

log = structlog.get_logger("killswitch.executor")
_CENT = Decimal("0.01")

ACTION_TIMEOUT = 120.0


@dataclass
class PlannedOp:
    action: ResolvedAction
    impl: Action
    target: str
    description: str


@dataclass
class PlannedKill:
    decision: Decision
    ops: list[PlannedOp] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    dry_run: bool = False


class Executor:
    def __init__(
        self,
        config: Config,
        store: Store,
        providers: Mapping[str, Provider],
        metrics: Metrics,
        notify: Callable[[Event], None],
        identity: str,
    ) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.metrics = metrics
        self.notify = notify
        self.identity = identity

    # ---- planning (pure given config) -------------------------------------------------------
    def plan_kill(self, d: Decision, only_target: str | None = None) -> PlannedKill:
        budget = self.config.budget(d.budget)
        protect = set(self.config.base.protect) | set(budget.protect)
        plan = PlannedKill(d, dry_run=self.config.base.dry_run or budget.dry_run)
        req = TargetRequest(d.group, budget.scope_spec.each, d.dims)
        for ra in self.config.actions[d.budget]:
            impl = registry.actions[ra.name]()
            for target in impl.targets(ra.params, req):
                if only_target is not None and target != only_target and d.group != only_target:
                    continue
                if target in protect or d.group in protect:
                    plan.protected.append(target)
                    continue
                plan.ops.append(PlannedOp(ra, impl, target, impl.describe(target, ra.params)))
        return plan

    # ---- kills ----------------------------------------------------------------------------
    async def run_kills(
        self,
        decisions: Sequence[Decision],
        now: datetime,
        *,
        manual: bool = False,
        only_target: str | None = None,
    ) -> None:
        plans = [self.plan_kill(d, only_target) for d in decisions]
        total = sum(len(p.ops) for p in plans)
        limit = self.config.base.max_actions_per_cycle
        if total > limit and not manual:
            self._block(plans, total, limit, now)
            return
        for p in plans:
            await self._kill(p, now, manual)

    def _block(self, plans: list[PlannedKill], total: int, limit: int, now: datetime) -> None:
        budgets = sorted({p.decision.budget for p in plans})
        windows = sorted({p.decision.window.key for p in plans})
        key = f"blast_radius:{','.join(budgets)}:{windows[0]}"
        for p in plans:
            for op in p.ops:
                self.metrics.actions.labels(op.action.name, "blocked").inc()
        log.error(
            "blast radius exceeded: acting on none", planned=total, limit=limit, budgets=budgets
        )
        self.notify(
            Event(
                "blast_radius",
                key,
                f"{total} actions were due in one cycle, above max_actions_per_cycle={limit}; "
                f"none was carried out. Budgets: {', '.join(budgets)}. Check for a runaway or a "
                "bad config, then raise the limit or use `killswitch kill` per budget.",
                now.isoformat(),
                reason=f"{total} > {limit}",
                details={"planned": str(total), "limit": str(limit)},
            )
        )

    async def _kill(self, p: PlannedKill, now: datetime, manual: bool) -> None:
        d = p.decision
        budget = self.config.budget(d.budget)
        if p.protected and not p.ops:
            self.notify(
                self._event(
                    "protected",
                    d,
                    now,
                    f"{d.reason}; target(s) {', '.join(p.protected)} are on the "
                    "protect list, nothing was done",
                    key=f"protected:{d.budget}:{d.group}:{d.window.key}",
                )
            )
            self._mark_killed(d, now, "protected")
            return
        if not p.ops:
            self.notify(
                self._event(
                    "kill_failed",
                    d,
                    now,
                    f"{d.reason}; no target to act on (the breached spend names "
                    "none the configured actions can touch)",
                    key=f"no_target:{d.budget}:{d.group}:{d.window.key}",
                )
            )
            return
        status = "dry_run" if p.dry_run else "pending"
        snapshots: list[dict[str, Any] | None] = []
        if not p.dry_run:
            for op in p.ops:
                try:
                    snapshots.append(
                        await asyncio.wait_for(
                            op.impl.snapshot(
                                self.providers[budget.provider], op.target, op.action.params
                            ),
                            ACTION_TIMEOUT,
                        )
                    )
                except Exception as exc:  # cannot record prior state: do not act blind
                    msg = redact(str(exc) or type(exc).__name__)
                    self.metrics.actions.labels(op.action.name, "failure").inc()
                    log.error(
                        "cannot read prior state; not acting",
                        action=op.action.name,
                        target=op.target,
                        error=msg,
                    )
                    self.notify(
                        self._event(
                            "kill_failed",
                            d,
                            now,
                            f"{d.reason}; reading the prior state of "
                            f"{op.target} failed ({msg}), so nothing was done; retrying next cycle",
                            key=f"snapshot_failed:{d.budget}:{d.group}:{d.window.key}",
                        )
                    )
                    return
        else:
            snapshots = [None] * len(p.ops)
        with self.store.tx() as conn:
            ids = self.store.journal_add(
                conn,
                [
                    {
                        "budget": d.budget,
                        "grp": d.group,
                        "target": op.target,
                        "action": op.action.name,
                        "op": "kill",
                        "status": status,
                        "prior": snap,
                        "params": op.action.params.model_dump(mode="json", exclude={"secret"}),
                        "window_start": d.window.start,
                        "manual": manual,
                        "actor": self.identity,
                        "reason": redact(d.reason),
                        "spend": str(d.spend.amount) if d.spend else None,
                    }
                    for op, snap in zip(p.ops, snapshots, strict=True)
                ],
                now,
            )
            states = self.store.states(d.budget, conn)
            st = states.get(d.group)
            from killswitch.model import TargetState

            st = st or TargetState(window_start=d.window.start)
            self.store.save_states(
                d.budget,
                {
                    d.group: replace(
                        st,
                        killed=True,
                        kill_mode="dry_run" if p.dry_run else "enforce",
                        killed_window_start=d.window.start,
                    )
                },
                now,
                conn,
            )
        if p.dry_run:
            for op in p.ops:
                self.metrics.actions.labels(op.action.name, "dry_run").inc()
            log.warning(
                "DRY-RUN kill",
                budget=d.budget,
                group=d.group,
                actions=[o.description for o in p.ops],
            )
            self.notify(
                self._event(
                    "kill_dry_run",
                    d,
                    now,
                    f"{d.reason}. DRY-RUN: nothing was executed.",
                    actions=[
                        {"action": o.action.name, "target": o.target, "result": "dry_run"}
                        for o in p.ops
                    ],
                )
            )
            return
        results = []
        for row_id, op, snap in zip(ids, p.ops, snapshots, strict=True):
            results.append(
                await self._execute(
                    row_id,
                    op.action,
                    op.target,
                    d.budget,
                    d.group,
                    d.window,
                    now,
                    manual,
                    budget_provider=budget.provider,
                    spend=d,
                    snapshot=snap,
                )
            )
        ok = [r for r in results if r["result"] == "success"]
        self.metrics.kills.labels(d.budget).inc()
        kind = "kill" if len(ok) == len(results) else "kill_failed"
        summary = d.reason + (
            ""
            if kind == "kill"
            else f"; {len(results) - len(ok)} of {len(results)} actions failed and "
            "will be retried next cycle"
        )
        self.notify(
            self._event(
                kind,
                d,
                now,
                summary,
                actions=results,
                restore_hint=self._restore_hint(d.budget, d.group),
            )
        )

    def _mark_killed(self, d: Decision, now: datetime, mode: str) -> None:
        from killswitch.model import TargetState

        st = self.store.states(d.budget).get(d.group) or TargetState(window_start=d.window.start)
        self.store.save_states(
            d.budget,
            {d.group: replace(st, killed=True, kill_mode=mode, killed_window_start=d.window.start)},
            now,
        )

    async def _execute(
        self,
        row_id: int,
        ra: ResolvedAction,
        target: str,
        budget: str,
        group: str,
        window: Window,
        now: datetime,
        manual: bool,
        *,
        budget_provider: str,
        spend: Decision | None,
        undo_prior: Mapping[str, Any] | None = None,
        snapshot: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        impl = registry.actions[ra.name]()
        provider = self.providers[budget_provider]
        d = spend
        ctx = ActionContext(
            budget,
            group,
            window,
            d.spend if d else None,
            d.limit if d else self.config.budget(budget).limit_money,
            now,
            manual=manual,
            own_identity=self.identity,
            protected=frozenset(self.config.base.protect)
            | frozenset(self.config.budget(budget).protect),
        )
        op = "undo" if undo_prior is not None else "kill"
        try:
            if undo_prior is None:
                prior = await asyncio.wait_for(
                    impl.execute(provider, target, ra.params, ctx), ACTION_TIMEOUT
                )
                if snapshot is not None:  # journaled before the call: authoritative
                    prior = {**(prior or {}), **snapshot}
            else:
                await asyncio.wait_for(
                    impl.undo(provider, target, ra.params, undo_prior, ctx), ACTION_TIMEOUT
                )
                prior = dict(undo_prior)
        except (ActionError, TimeoutError) as exc:
            msg = redact(str(exc) or type(exc).__name__)
            self.store.journal_finish(row_id, "failed", now, error=msg)
            self.metrics.actions.labels(ra.name, "failure").inc()
            log.error(f"{op} failed", action=ra.name, target=target, budget=budget, error=msg)
            return {
                "action": ra.name,
                "target": target,
                "result": "failure",
                "error": msg,
                "undo": impl.undo_summary,
            }
        except Exception as exc:  # a plugin bug must not kill the loop, nor lose the record
            msg = redact(f"{type(exc).__name__}: {exc}")
            self.store.journal_finish(row_id, "failed", now, error=msg)
            self.metrics.actions.labels(ra.name, "failure").inc()
            log.exception(f"{op} raised", action=ra.name, target=target, budget=budget)
            return {
                "action": ra.name,
                "target": target,
                "result": "failure",
                "error": msg,
                "undo": impl.undo_summary,
            }
        self.store.journal_finish(row_id, "done", now, prior=prior)
        self.metrics.actions.labels(ra.name, "success").inc()
        log.warning(f"{op} done", action=ra.name, target=target, budget=budget, group=group)
        return {"action": ra.name, "target": target, "result": "success", "undo": impl.undo_summary}

    # ---- retries and crash recovery ----------------------------------------------------------
    async def retry_failed_kills(self, now: datetime) -> None:
        """Failed kill rows of groups still marked killed (and not yet restored) run again."""
        for row in self.store.journal_rows(status=["failed"], op="kill"):
            if row.budget not in self.config.actions:
                continue
            st = self.store.states(row.budget).get(row.group)
            if st is None or not st.killed or st.killed_window_start != row.window_start:
                continue
            await self._replay(row, now)

    async def resume(self, now: datetime) -> int:
        """Replay journal rows left ``pending`` by a crash. Returns how many were replayed."""
        rows = self.store.journal_rows(status=["pending"])
        for row in rows:
            log.warning(
                "resuming unfinished action from the journal",
                id=row.id,
                action=row.action,
                target=row.target,
                op=row.op,
            )
            await self._replay(row, now)
        if rows:
            self._settle_restores(now)
        return len(rows)

    async def _replay(self, row: JournalRow, now: datetime) -> None:
        ra = self._resolved(row)
        if ra is None:
            self.store.journal_finish(
                row.id, "failed", now, error="action no longer configured for this budget"
            )
            return
        budget = self.config.budget(row.budget)
        window = budget.window_spec.at(row.window_start or now)
        undo_prior = None
        if row.op == "restore":
            kill = self.store.journal_rows(budget=row.budget, group=row.group, op="kill")
            undo_prior = next((k.prior or {} for k in kill if k.id == row.kill_id), {})
        self.store.journal_set_pending(row.id, now)
        result = await self._execute(
            row.id,
            ra,
            row.target,
            row.budget,
            row.group,
            window,
            now,
            row.manual,
            budget_provider=budget.provider,
            spend=None,
            undo_prior=undo_prior,
            snapshot=row.prior if row.op == "kill" else None,
        )
        # Announce it: the crash may have come before the notification was queued. Same dedup
        # key as the original announcement, so it is never sent twice.
        spend = Money(Decimal(row.spend), budget.limit_money.currency) if row.spend else None
        d = Decision(
            DecisionKind.KILL if row.op == "kill" else DecisionKind.RESTORE,
            row.budget,
            row.group,
            window,
            spend,
            budget.limit_money,
            row.reason,
        )
        ok = result["result"] == "success"
        kind = (
            ("kill" if ok else "kill_failed")
            if row.op == "kill"
            else ("restore" if ok else "restore_failed")
        )
        self.notify(
            self._event(
                kind,
                d,
                now,
                f"{row.reason} (completed after a restart: the journal replayed it)",
                actions=[result],
                restore_hint=self._restore_hint(row.budget, row.group)
                if row.op == "kill"
                else None,
            )
        )

    def _resolved(self, row: JournalRow) -> ResolvedAction | None:
        for ra in self.config.actions.get(row.budget, ()):
            if (
                ra.name == row.action
                and ra.params.model_dump(mode="json", exclude={"secret"}) == row.params
            ):
                return ra
        return next(
            (ra for ra in self.config.actions.get(row.budget, ()) if ra.name == row.action), None
        )

    # ---- restores -------------------------------------------------------------------------
    def open_kills(self, budget: str, group: str | None = None) -> list[JournalRow]:
        """Kill rows (done or dry-run) not yet undone: exactly what a restore must undo."""
        kills = self.store.journal_rows(
            budget=budget, group=group, op="kill", status=["done", "dry_run"]
        )
        restored = {
            r.kill_id
            for r in self.store.journal_rows(
                budget=budget, group=group, op="restore", status=["done", "dry_run"]
            )
        }
        return [k for k in kills if k.id not in restored]

    async def run_restore(
        self, d: Decision, now: datetime, *, manual: bool = False, only_target: str | None = None
    ) -> bool:
        st0 = self.store.states(d.budget).get(d.group)
        if st0 is not None and st0.kill_mode == "protected":
            # Nothing was done to a protected target, so there is nothing to announce.
            self.store.save_states(
                d.budget,
                {d.group: replace(st0, killed=False, kill_mode="", killed_window_start=None)},
                now,
            )
            return True
        kills = [
            k
            for k in self.open_kills(d.budget, d.group)
            if only_target is None or only_target in (k.target, k.group)
        ]
        failed_kills = self.store.journal_rows(
            budget=d.budget, group=d.group, op="kill", status=["failed"]
        )
        results = []
        for k in kills:
            ra = self._resolved(k)
            if ra is None:
                continue
            impl = registry.actions[ra.name]
            dry = k.status == "dry_run"
            if not dry and not impl().reversible:
                results.append(
                    {
                        "action": k.action,
                        "target": k.target,
                        "result": "skipped",
                        "error": "irreversible: nothing to undo",
                    }
                )
                continue
            with self.store.tx() as conn:
                (row_id,) = self.store.journal_add(
                    conn,
                    [
                        {
                            "budget": k.budget,
                            "grp": k.group,
                            "target": k.target,
                            "action": k.action,
                            "op": "restore",
                            "status": "dry_run" if dry else "pending",
                            "params": k.params,
                            "window_start": d.window.start,
                            "kill_id": k.id,
                            "manual": manual,
                            "actor": self.identity,
                            "reason": redact(d.reason),
                        }
                    ],
                    now,
                )
            if dry:
                results.append({"action": k.action, "target": k.target, "result": "dry_run"})
                continue
            results.append(
                await self._execute(
                    row_id,
                    ra,
                    k.target,
                    d.budget,
                    d.group,
                    d.window,
                    now,
                    manual,
                    budget_provider=self.config.budget(d.budget).provider,
                    spend=d,
                    undo_prior=k.prior or {},
                )
            )
        # A kill that failed and was never carried out needs no undo; close it so it is
        # not retried after the restore.
        for f in failed_kills:
            self.store.journal_finish(f.id, "abandoned", now, error="superseded by restore")
        ok = all(r["result"] in ("success", "dry_run", "skipped") for r in results)
        st = self.store.states(d.budget).get(d.group)
        if ok:
            if st is not None:
                self.store.save_states(
                    d.budget,
                    {d.group: replace(st, killed=False, kill_mode="", killed_window_start=None)},
                    now,
                )
            self.metrics.restores.labels(d.budget).inc()
        kill_window = st.killed_window_start.isoformat() if st and st.killed_window_start else ""
        self.notify(
            self._event(
                "restore" if ok else "restore_failed",
                d,
                now,
                d.reason if ok else f"{d.reason}; some undo actions failed and will be retried",
                actions=results,
                key_suffix=f":{now.isoformat()}" if manual else "",
                details={"kill_window_start": kill_window},
            )
        )
        return ok

    def _settle_restores(self, now: datetime) -> None:
        """After resuming restore rows: groups whose kills are all undone are no longer killed."""
        for b in self.config.budgets:
            for g, st in self.store.states(b.name).items():
                if (
                    st.killed
                    and st.kill_mode == "enforce"
                    and not self.open_kills(b.name, g)
                    and self.store.journal_rows(
                        budget=b.name, group=g, op="restore", status=["done"]
                    )
                ):
                    self.store.save_states(
                        b.name,
                        {g: replace(st, killed=False, kill_mode="", killed_window_start=None)},
                        now,
                    )

    # ---- notifications ----------------------------------------------------------------------
    def _restore_hint(self, budget: str, group: str) -> str:
        cfg = self.config.source_path or "FILE"
        return f"killswitch restore -c {cfg} {budget} --target {group}"

    def _event(
        self,
        kind: str,
        d: Decision,
        now: datetime,
        summary: str,
        *,
        actions: list[dict[str, Any]] | None = None,
        restore_hint: str | None = None,
        key: str | None = None,
        key_suffix: str = "",
        details: dict[str, str] | None = None,
    ) -> Event:
        budget = self.config.budget(d.budget)
        return Event(
            kind=kind,
            dedup_key=key or f"{kind}:{d.budget}:{d.group}:{d.window.key}{key_suffix}",
            summary=redact(summary),
            at=now.isoformat(),
            budget=d.budget,
            group=d.group,
            provider=budget.provider,
            spend=str(d.spend.amount.quantize(_CENT)) if d.spend else None,
            limit=str(d.limit.amount),
            currency=d.limit.currency,
            window_start=d.window.start.isoformat(),
            window_end=d.window.end.isoformat(),
            threshold=str(d.threshold) if d.threshold is not None else None,
            reason=redact(d.reason),
            actions=actions or [],
            restore_hint=restore_hint,
            details=details or {},
        )
