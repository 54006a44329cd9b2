"""The events an operation produces, each with the dedup key that makes it one alert, ever.

Pure: these functions build :class:`~killswitch.notifiers.events.Event` values; the executor
returns them and the engine queues them (nothing here sends or stores anything).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from killswitch.act.plan import KillBatch, KillPlan, notice_kind
from killswitch.act.runner import ActionResult
from killswitch.model import Decision, DecisionKind, Override
from killswitch.notifiers.events import Event
from killswitch.secrets import redact

_CENT = Decimal("0.01")


def event(
    kind: str,
    d: Decision,
    now: datetime,
    summary: str,
    *,
    actions: Sequence[ActionResult] = (),
    restore_hint: str | None = None,
    key: str | None = None,
    key_suffix: str = "",
    details: Mapping[str, str] | None = None,
) -> Event:
    """An event about decision ``d``; the default key is kind, budget, group and window."""
    return Event(
        kind=kind,
        dedup_key=key or f"{kind}:{d.budget}:{d.group}:{d.window.key}{key_suffix}",
        summary=redact(summary),
        at=now.isoformat(),
        budget=d.budget,
        group=d.group,
        provider=d.policy.provider,
        spend=str(d.spend.amount.quantize(_CENT)) if d.spend else None,
        limit=str(d.limit.amount),
        currency=d.limit.currency,
        window_start=d.window.start.isoformat(),
        window_end=d.window.end.isoformat(),
        threshold=str(d.threshold) if d.threshold is not None else None,
        reason=redact(d.reason),
        actions=[r.to_event() for r in actions],
        restore_hint=restore_hint,
        details={**(d.forecast.details() if d.forecast else {}), **(details or {})},
    )


def restore_hint(d: Decision) -> str:
    cfg = d.policy.config_path or "FILE"
    return f"killswitch restore -c {cfg} {d.budget} --target {d.group}"


def notice(d: Decision, now: datetime) -> Event:
    """A warning, an alert-only breach or incomplete data: announced, nothing done."""
    kind = notice_kind(d)
    if kind is None:
        raise ValueError(f"{d.kind.value} is acted on, not only announced")
    if d.kind is DecisionKind.INCOMPLETE:
        key = f"incomplete:{d.budget}:{d.group}:{now.isoformat()}"
    else:
        key = f"{d.kind.value}:{d.budget}:{d.group}:{d.window.key}:{d.threshold}"
    return event(kind, d, now, d.reason, key=key)


def blast_radius(batch: KillBatch, now: datetime) -> Event:
    budgets = sorted({p.decision.budget for p in batch.plans})
    windows = sorted({p.decision.window.key for p in batch.plans})
    total, limit = batch.total, batch.limit
    return Event(
        "blast_radius",
        f"blast_radius:{','.join(budgets)}:{windows[0]}",
        f"{total} actions were due in one cycle, above max_actions_per_cycle={limit}; "
        f"none was carried out. Budgets: {', '.join(budgets)}. Check for a runaway or a "
        "bad config, then raise the limit or use `killswitch kill` per budget.",
        now.isoformat(),
        reason=f"{total} > {limit}",
        details={"planned": str(total), "limit": str(limit)},
    )


def protected(plan: KillPlan, now: datetime) -> Event:
    d = plan.decision
    return event(
        "protected",
        d,
        now,
        f"{d.reason}; target(s) {', '.join(plan.protected)} are on the "
        "protect list, nothing was done",
        key=f"protected:{d.budget}:{d.group}:{d.window.key}",
    )


def no_target(d: Decision, now: datetime) -> Event:
    return event(
        "kill_failed",
        d,
        now,
        f"{d.reason}; no target to act on (the breached spend names "
        "none the configured actions can touch)",
        key=f"no_target:{d.budget}:{d.group}:{d.window.key}",
    )


def snapshot_failed(d: Decision, target: str, error: str, now: datetime) -> Event:
    return event(
        "kill_failed",
        d,
        now,
        f"{d.reason}; reading the prior state of "
        f"{target} failed ({error}), so nothing was done; retrying next cycle",
        key=f"snapshot_failed:{d.budget}:{d.group}:{d.window.key}",
    )


def dry_run(plan: KillPlan, now: datetime) -> Event:
    d = plan.decision
    results = [ActionResult.dry_run(op) for op in plan.ops]
    return event(
        "kill_dry_run", d, now, f"{d.reason}. DRY-RUN: nothing was executed.", actions=results
    )


def killed(d: Decision, results: Sequence[ActionResult], now: datetime) -> Event:
    """``kill`` when every action succeeded, else ``kill_failed`` (the failed ones are retried)."""
    failed = sum(1 for r in results if not r.ok)
    summary = d.reason
    if failed:
        summary += f"; {failed} of {len(results)} actions failed and will be retried next cycle"
    kind = "kill_failed" if failed else ("forecast_kill" if d.forecast else "kill")
    return event(kind, d, now, summary, actions=results, restore_hint=restore_hint(d))


def restored(
    d: Decision,
    results: Sequence[ActionResult],
    now: datetime,
    *,
    manual: bool,
    kill_window: str,
) -> Event:
    ok = all(r.ok for r in results)
    return event(
        "restore" if ok else "restore_failed",
        d,
        now,
        d.reason if ok else f"{d.reason}; some undo actions failed and will be retried",
        actions=results,
        key_suffix=f":{now.isoformat()}" if manual else "",
        details={"kill_window_start": kill_window},
    )


def replayed(
    d: Decision, result: ActionResult, now: datetime, *, already_applied: bool = False
) -> Event:
    """A journal row carried out after a restart. Same dedup key as the original announcement,
    so if that one was queued before the crash, this one is never sent twice."""
    if d.kind is DecisionKind.KILL:
        kind, hint = ("kill" if result.ok else "kill_failed"), restore_hint(d)
    else:
        kind, hint = ("restore" if result.ok else "restore_failed"), None
    how = (
        "the provider already showed it applied, so it was not sent again"
        if already_applied
        else "the journal replayed it"
    )
    summary = f"{d.reason} (completed after a restart: {how})"
    return event(kind, d, now, summary, actions=[result], restore_hint=hint)


def override(kind: str, o: Override, now: datetime, summary: str) -> Event:
    """``override_set`` or ``override_cleared``: an operator outranked the rules (or stopped)."""
    return Event(
        kind,
        f"{kind}:{o.budget}:{o.group}:{now.isoformat()}",
        redact(summary),
        now.isoformat(),
        budget=o.budget,
        group=o.group,
        reason=redact(o.reason),
        details={
            "actor": o.actor,
            "until": o.until.isoformat() if o.until else "",
        },
    )
