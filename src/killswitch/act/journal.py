"""The action journal: its status, op and kill-mode values, and every row transition.

A kill row goes ``pending -> done | failed``; a failed kill is retried while its group stays
killed, and ``abandoned`` once a restore supersedes it. ``dry_run`` rows are final on creation.
A restore row points at the kill row it undoes (``kill_id``). The intent of a kill and the
"group is killed" mark are written in ONE transaction, before the provider is called: that is
what lets :meth:`Journal.pending` rows be replayed exactly once after a crash.

Every write the executor makes to the store goes through this module (one place to fence).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from killswitch.act.plan import KillPlan, Undo, kill_hold, provider_of
from killswitch.act.runner import ActionResult, Outcome
from killswitch.model import BudgetPolicy, Decision, Override, TargetState
from killswitch.secrets import redact
from killswitch.state import JournalRow, Store


class JournalStatus(enum.StrEnum):
    PENDING = "pending"  # intent written; the provider call has not been recorded yet
    DONE = "done"
    FAILED = "failed"  # a kill is retried next cycle while its group stays killed
    DRY_RUN = "dry_run"  # final on creation: journaled and announced, never executed
    ABANDONED = "abandoned"  # a failed kill superseded by a restore: never retried


class JournalOp(enum.StrEnum):
    KILL = "kill"
    RESTORE = "restore"
    CAP = "cap"  # a native cap set (back) to the budget's limit; prior = the cap it replaced
    OVERRIDE = "override"  # an operator's override set or cleared (history only, status done)


class KillMode(enum.StrEnum):
    """``TargetState.kill_mode`` of a killed group: how it was "killed"."""

    ENFORCE = "enforce"  # provider actions were (or are being) carried out
    DRY_RUN = "dry_run"  # journaled as dry-run only
    PROTECTED = "protected"  # breached on a protected target: announced, nothing done


# The note on a replayed kill row found already in effect (shown as a note, not an error).
ALREADY_APPLIED = "replayed: already applied"

# Kill rows that took effect (or would have): what a restore must undo.
EFFECTIVE = (JournalStatus.DONE.value, JournalStatus.DRY_RUN.value)


class Journal:
    """The journal and the killed marks of one store, written as one actor (``identity``)."""

    def __init__(self, store: Store, identity: str) -> None:
        self.store = store
        self.identity = identity

    # ---- intents -----------------------------------------------------------------------
    def kill_intent(
        self,
        plan: KillPlan,
        snapshots: Sequence[Mapping[str, Any] | None],
        now: datetime,
        *,
        manual: bool,
    ) -> list[int]:
        """In one transaction: a row per op (with its prior-state snapshot), group killed."""
        d = plan.decision
        status = JournalStatus.DRY_RUN if plan.dry_run else JournalStatus.PENDING
        rows = [
            {
                **self._row(d, op.action.name, op.target, JournalOp.KILL, status, manual),
                "provider": provider_of(op.action, d.policy),
                "prior": dict(snap) if snap is not None else None,
                "params": op.action.params.model_dump(mode="json", exclude={"secret"}),
                "spend": str(d.spend.amount) if d.spend else None,
            }
            for op, snap in zip(plan.ops, snapshots, strict=True)
        ]
        mode = KillMode.DRY_RUN if plan.dry_run else KillMode.ENFORCE
        with self.store.tx() as conn:
            ids = self.store.journal_add(conn, rows, now)
            st = self.store.state(d.budget, d.group, conn)
            self.store.save_states(d.budget, {d.group: _killed(st, d, mode)}, now, conn)
        return ids

    def restore_intent(self, undo: Undo, d: Decision, now: datetime, *, manual: bool) -> int:
        """The restore row for one open kill, before its undo is called."""
        k = undo.row
        status = JournalStatus.DRY_RUN if undo.dry_run else JournalStatus.PENDING
        row = {
            **self._row(d, k.action, k.target, JournalOp.RESTORE, status, manual),
            "grp": k.group,
            "provider": provider_of(undo.op.action, d.policy),
            "params": k.params,
            "kill_id": k.id,
        }
        with self.store.tx() as conn:
            (row_id,) = self.store.journal_add(conn, [row], now)
        return row_id

    def _row(
        self,
        d: Decision,
        action: str,
        target: str,
        op: JournalOp,
        status: JournalStatus,
        manual: bool,
    ) -> dict[str, Any]:
        return {
            "budget": d.budget,
            "grp": d.group,
            "target": target,
            "action": action,
            "op": op.value,
            "status": status.value,
            "window_start": d.window.start,
            "manual": manual,
            "actor": self.identity,
            "reason": redact(d.reason),
        }

    def cap_intent(
        self,
        budget: str,
        group: str,
        target: str,
        action: str,
        prior: Mapping[str, Any],
        params: Mapping[str, Any],
        now: datetime,
        reason: str,
    ) -> int:
        """A native-cap write, journaled before it is made; ``prior`` is the value it replaces.

        Such rows are never replayed: the next cycle reads the cap again and decides afresh.
        """
        row = {
            "budget": budget,
            "grp": group,
            "target": target,
            "action": action,
            "op": JournalOp.CAP.value,
            "status": JournalStatus.PENDING.value,
            "params": dict(params),
            "prior": dict(prior),
            "manual": False,
            "actor": self.identity,
            "reason": redact(reason),
        }
        with self.store.tx() as conn:
            (row_id,) = self.store.journal_add(conn, [row], now)
        return row_id

    def cap_done(self, row_id: int, now: datetime) -> None:
        self.store.journal_finish(row_id, JournalStatus.DONE.value, now)

    def last_cap(self, budget: str, group: str, target: str) -> JournalRow | None:
        """The newest native-cap write that took effect for this target, if any."""
        rows = self.store.journal_rows(
            budget=budget,
            group=group,
            op=JournalOp.CAP.value,
            status=[JournalStatus.DONE.value],
            newest_first=True,
        )
        return next((r for r in rows if r.target == target), None)

    # ---- overrides ---------------------------------------------------------------------
    def set_override(self, o: Override, window_start: datetime | None, now: datetime) -> int:
        """Journal and store an override in one transaction; returns the journal row's id."""
        row = _override_row(o, "set", o.describe(), window_start)
        with self.store.tx() as conn:
            (row_id,) = self.store.journal_add(conn, [row], now)
            self.store.override_put(conn, o, row_id)
        return row_id

    def clear_overrides(
        self, budget: str, group: str | None, actor: str, reason: str, now: datetime
    ) -> list[Override]:
        """Lift the budget's overrides (one group's, or all); each lift is journaled."""
        with self.store.tx() as conn:
            gone = self.store.override_delete(conn, budget, group)
            rows = [
                _override_row(
                    replace(o, actor=actor, reason=reason),
                    "clear",
                    f"lifted by {actor or 'unknown'}"
                    + (f": {reason}" if reason else "")
                    + f" (was: {o.describe()})",
                    None,
                )
                for o in gone
            ]
            if rows:
                self.store.journal_add(conn, rows, now)
        return gone

    # ---- outcomes ----------------------------------------------------------------------
    def finish(self, row_id: int, result: ActionResult, now: datetime) -> None:
        """Record the outcome of a provider call: ``done`` (with the prior state) or ``failed``."""
        if result.outcome is Outcome.SUCCESS:
            self.store.journal_finish(row_id, JournalStatus.DONE.value, now, prior=result.prior)
        else:
            self.store.journal_finish(row_id, JournalStatus.FAILED.value, now, error=result.error)

    def done_already_applied(
        self, row_id: int, prior: Mapping[str, Any] | None, now: datetime
    ) -> None:
        """A replayed kill the provider already showed in effect: done, with the note why."""
        self.store.journal_finish(
            row_id, JournalStatus.DONE.value, now, prior=prior, error=ALREADY_APPLIED
        )

    def fail(self, row_id: int, now: datetime, error: str) -> None:
        self.store.journal_finish(row_id, JournalStatus.FAILED.value, now, error=error)

    def reopen(self, row_id: int, now: datetime) -> None:
        """A row about to be replayed is pending again until its outcome is recorded."""
        self.store.journal_set_pending(row_id, now)

    def abandon_failed_kills(self, budget: str, group: str, now: datetime) -> None:
        """A kill that failed and never took effect needs no undo; never retry it either."""
        for f in self.failed_kills(budget, group):
            self.store.journal_finish(
                f.id, JournalStatus.ABANDONED.value, now, error="superseded by restore"
            )

    # ---- queries -----------------------------------------------------------------------
    def pending(self) -> list[JournalRow]:
        return self.store.journal_rows(status=[JournalStatus.PENDING.value])

    def failed_kills(self, budget: str | None = None, group: str | None = None) -> list[JournalRow]:
        return self.store.journal_rows(
            budget=budget, group=group, op=JournalOp.KILL.value, status=[JournalStatus.FAILED.value]
        )

    def open_kills(self, budget: str, group: str | None = None) -> list[JournalRow]:
        """Kill rows (done or dry-run) not yet undone: exactly what a restore must undo."""
        kills = self.store.journal_rows(
            budget=budget, group=group, op=JournalOp.KILL.value, status=EFFECTIVE
        )
        restored = {
            r.kill_id
            for r in self.store.journal_rows(
                budget=budget, group=group, op=JournalOp.RESTORE.value, status=EFFECTIVE
            )
        }
        return [k for k in kills if k.id not in restored]

    def overrides(self, budgets: Iterable[str], now: datetime) -> list[Override]:
        """Every override in force: the stored ones still active, and the hold of each group
        killed by hand (until a manual restore), by budget and group."""
        names = set(budgets)
        out = [o for o in self.store.overrides() if o.budget in names and o.active(now)]
        for name in sorted(names):
            open_ = self.open_kills(name)
            for g in sorted({k.group for k in open_}):
                hold = kill_hold([k for k in open_ if k.group == g])
                if hold is not None:
                    out.append(hold)
        return sorted(out, key=lambda o: (o.budget, o.group))

    def kill_prior(self, restore_row: JournalRow) -> Mapping[str, Any]:
        """The prior state journaled with the kill a restore row undoes (``{}`` if none)."""
        kills = self.store.journal_rows(
            budget=restore_row.budget, group=restore_row.group, op=JournalOp.KILL.value
        )
        return next((k.prior or {} for k in kills if k.id == restore_row.kill_id), {})

    def state(self, budget: str, group: str) -> TargetState | None:
        return self.store.state(budget, group)

    # ---- killed marks ------------------------------------------------------------------
    def mark_killed(self, d: Decision, now: datetime, mode: KillMode) -> None:
        st = self.state(d.budget, d.group)
        self.store.save_states(d.budget, {d.group: _killed(st, d, mode)}, now)

    def clear_killed(self, budget: str, group: str, st: TargetState, now: datetime) -> None:
        cleared = replace(st, killed=False, kill_mode="", killed_window_start=None)
        self.store.save_states(budget, {group: cleared}, now)

    def settle(self, policies: Mapping[str, BudgetPolicy], now: datetime) -> None:
        """After replaying restore rows: groups whose kills are all undone are no longer killed."""
        for name in policies:
            for g, st in self.store.states(name).items():
                if st.killed and st.kill_mode == KillMode.ENFORCE and self._undone(name, g):
                    self.clear_killed(name, g, st, now)

    def _undone(self, budget: str, group: str) -> bool:
        return not self.open_kills(budget, group) and bool(
            self.store.journal_rows(
                budget=budget,
                group=group,
                op=JournalOp.RESTORE.value,
                status=[JournalStatus.DONE.value],
            )
        )


def _killed(st: TargetState | None, d: Decision, mode: KillMode) -> TargetState:
    st = st or TargetState(window_start=d.window.start)
    return replace(st, killed=True, kill_mode=mode.value, killed_window_start=d.window.start)


def _override_row(
    o: Override, action: str, text: str, window_start: datetime | None
) -> dict[str, Any]:
    """A journal row recording an override set or cleared: final (``done``) on creation."""
    return {
        "budget": o.budget,
        "grp": o.group,
        "target": o.group,
        "action": action,
        "op": JournalOp.OVERRIDE.value,
        "status": JournalStatus.DONE.value,
        "params": {"kind": o.kind, "until": o.until.isoformat() if o.until else None},
        "window_start": window_start,
        "manual": True,
        "actor": o.actor,
        "reason": redact(text),
    }
