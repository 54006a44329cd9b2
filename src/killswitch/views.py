"""What ``killswitch plan`` and ``killswitch status`` show, computed apart from how it is printed.

``plan`` runs the engine's own evaluation (:meth:`Engine.preview`: the same poll, ledger,
source health and staleness as a daemon cycle, with nothing persisted or announced), so it says
exactly what the daemon would do now, and its states are the ones ``status`` shows. Every poll
shares one deadline; a source that could not be read is listed with the reason.

``status`` reads what the daemon last published, and judges its freshness: a source whose last
poll failed or whose last success is older than its provider's ``stale_after``, or a status row
older than that (the daemon is not running?), is stale.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from killswitch.act.plan import KillBatch, KillPlan
from killswitch.config import Config
from killswitch.core.evaluate import Evaluation
from killswitch.durations import format_duration
from killswitch.engine import CycleReport, Engine
from killswitch.model import Decision, DecisionKind, GroupStatus, Override
from killswitch.secrets import redact
from killswitch.state.store import status_fields

_CENT = Decimal("0.01")
# How long past the deadline a poll that ignores cancellation may keep the plan waiting.
CANCEL_GRACE = 2.0


def cents(amount: str | Decimal | None) -> str:
    """An amount for people: rounded to cents ("?" when unknown). JSON keeps it exact."""
    return "?" if amount is None else str(Decimal(amount).quantize(_CENT))


def ago(delta: timedelta) -> str:
    return format_duration(timedelta(seconds=max(0, int(delta.total_seconds()))))


# ---- plan ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SourceRead:
    provider: str
    source: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "source": self.source,
            "ok": self.error is None,
            "error": self.error,
        }


async def preview_all(engine: Engine, timeout: float) -> tuple[list[CycleReport], list[SourceRead]]:
    """Every provider previewed concurrently under one deadline; what could not be read, why."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    tasks = {
        name: asyncio.create_task(engine.preview(name, deadline=deadline))
        for name in engine.providers
    }
    if tasks:
        await asyncio.wait(tasks.values(), timeout=timeout + CANCEL_GRACE)
    reports, reads = [], []
    for name, task in tasks.items():
        if task.done() and not task.cancelled() and task.exception() is None:
            report = task.result()
            reports.append(report)
            reads += [SourceRead(name, s, r.error) for s, r in sorted(report.polls.items())]
            continue
        task.cancel()
        why = _task_error(task, timeout)
        reads += [SourceRead(name, s, why) for s in engine.wanted_sources(name)]
    return reports, reads


def _task_error(task: asyncio.Task[CycleReport], timeout: float) -> str:
    if not task.done() or task.cancelled():
        return f"no answer within {timeout:g}s (timed out)"
    exc = task.exception()
    return redact(f"{type(exc).__name__}: {exc}")


def plan_rows(engine: Engine, reports: Iterable[CycleReport]) -> list[dict[str, Any]]:
    """One row per budget group: its state (as ``status`` would show it) and the decisions."""
    reports = list(reports)
    _settle_across(engine, reports)
    errors = {(r.provider, s): p.error for r in reports for s, p in r.polls.items()}
    rows: list[dict[str, Any]] = []
    now = engine.clock()
    for report in reports:
        overrides = engine.executor.journal.overrides(list(report.evaluations), now)
        batch = engine.executor.plan_kills(
            [d for d in report.decisions if d.kind is DecisionKind.KILL],
            overrides=overrides,
            now=now,
        )
        for name, ev in report.evaluations.items():
            rows += _budget_rows(engine, errors, name, ev, batch)
    return rows


def _settle_across(engine: Engine, reports: Sequence[CycleReport]) -> None:
    """A budget across providers is in every one of its providers' previews: keep it once,
    evaluated again now that every preview has recorded its polls (so it sums them all)."""
    seen: set[str] = set()
    for report in reports:
        for name in list(report.evaluations):
            b = engine.config.budget(name)
            if not b.multi:
                continue
            if name in seen:
                del report.evaluations[name]
                continue
            seen.add(name)
            report.evaluations[name] = engine.evaluate_across(b, engine.clock())


def _budget_rows(
    engine: Engine,
    errors: Mapping[tuple[str, str], str | None],
    name: str,
    ev: Evaluation,
    batch: KillBatch,
) -> list[dict[str, Any]]:
    feeds = engine.sources_of(engine.config.budget(name))
    source = ", ".join(s if len(feeds) == 1 else f"{p}/{s}" for p, s in feeds)
    failed = [f"{p}/{s}: {errors[(p, s)]}" for p, s in feeds if errors.get((p, s))]
    error = errors.get(feeds[0]) if len(feeds) == 1 else "; ".join(failed) or None
    rows = {s.group: _status_row(s, source, error) for s in engine.settled(name, ev)}
    for d in ev.decisions:
        row = rows.get(d.group)
        if row is not None:
            row["decisions"].append(_decision_item(engine, d, batch))
    return list(rows.values())


def _status_row(s: GroupStatus, source: str, error: str | None) -> dict[str, Any]:
    return {
        **status_fields(s),
        "window": f"{s.window.start.isoformat()} .. {s.window.end.isoformat()}",
        "window_end": s.window.end.isoformat(),
        "stale": s.stale,
        "source": source,
        "source_error": error,
        **({"sources": [p.to_json() for p in s.sources]} if s.sources else {}),
        "decisions": [],
    }


def _decision_item(engine: Engine, d: Decision, batch: KillBatch) -> dict[str, Any]:
    item: dict[str, Any] = {"decision": d.kind.value, "reason": d.reason}
    if d.forecast is not None:
        item["forecast"] = d.forecast.details()
    held = next((o for h, o in batch.held if h is d), None)
    if held is not None:
        item["held"] = held.describe()  # an operator's override: the daemon would not kill
    elif d.kind is DecisionKind.KILL:
        p = _plan_of(batch, d)
        item["dry_run"] = p.dry_run
        item["would_touch"] = [o.description for o in p.ops]
        item["protected"] = list(p.protected)
        item["blocked"] = batch.blocked  # the blast-radius rail would refuse the whole cycle
    elif d.kind is DecisionKind.RESTORE:
        plan = engine.executor.plan_restore(d)
        undo = plan.undo
        if plan.held is not None:
            item["held"] = plan.held.describe()
        item["would_undo"] = [f"{u.row.action} on {u.row.target}" for u in undo if not u.skipped]
        item["cannot_undo"] = [f"{u.row.action} on {u.row.target}" for u in undo if u.skipped]
    return item


def _plan_of(batch: KillBatch, d: Decision) -> KillPlan:
    return next(p for p in batch.plans if p.decision is d)


def render_plan(report: Mapping[str, Any]) -> list[str]:
    lines = ["sources:"]
    for s in report["sources"]:
        state = "ok" if s["ok"] else f"NOT READ: {s['error']}"
        lines.append(f"  {s['provider']}/{s['source']}: {state}")
    for r in report["budgets"]:
        stale = " (stale: last good data)" if r["stale"] else ""
        lines.append(
            f"{r['budget']} [{r['group']}] {r['state']}{stale}: {cents(r['spend'])} / "
            f"{cents(r['limit'])} {r['currency']} ({r['window']})"
        )
        lines += _render_sources(r)
        for d in r["decisions"]:
            lines += _render_decision(d)
    if not any(r["decisions"] for r in report["budgets"]):
        lines.append("nothing to do")
    return lines


def _render_sources(row: Mapping[str, Any]) -> list[str]:
    """A budget across providers: each source's share of the group's spend, on one line."""
    parts = row.get("sources") or []
    if not parts:
        return []
    shares = [
        f"{p['provider']}/{p['source']} {cents(p['spend'])}"
        + (" (stale)" if p["stale"] else "")
        + ("" if p["complete"] else " (incomplete)")
        for p in parts
    ]
    return [f"    from: {', '.join(shares)}"]


def _render_decision(d: Mapping[str, Any]) -> list[str]:
    lines = [f"  -> {d['decision'].upper()}: {d['reason']}"]
    if d.get("held"):
        lines.append(f"       HELD, nothing would be done: {d['held']}")
    if d.get("blocked"):
        lines.append("       BLOCKED: above max_actions_per_cycle, the daemon would act on none")
    dry = "(dry-run) " if d.get("dry_run") else ""
    lines += [f"       would {dry}run: {t}" for t in d.get("would_touch", [])]
    lines += [f"       protected, skipped: {t}" for t in d.get("protected", [])]
    lines += [f"       would undo: {t}" for t in d.get("would_undo", [])]
    lines += [f"       irreversible, cannot undo: {t}" for t in d.get("cannot_undo", [])]
    return lines


# ---- status --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SourceFreshness:
    provider: str
    source: str
    stale: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def source_freshness(
    config: Config, source_rows: Sequence[Mapping[str, Any]], now: datetime
) -> list[SourceFreshness]:
    """Each configured provider's sources as the daemon last recorded them."""
    out = []
    for r in sorted(source_rows, key=lambda r: (r["provider"], r["source"])):
        pconf = config.providers.get(r["provider"])
        if pconf is None:
            continue
        stale, detail = _freshness(r, pconf.stale_threshold, now)
        out.append(SourceFreshness(r["provider"], r["source"], stale, detail))
    return out


def _freshness(r: Mapping[str, Any], threshold: timedelta, now: datetime) -> tuple[bool, str]:
    last_ok: datetime | None = r.get("last_success")
    if r.get("last_error"):
        seen = f"; last read {ago(now - last_ok)} ago" if last_ok else "; never read"
        return True, f"last poll failed: {r['last_error']}{seen}"
    if last_ok is None:
        return True, "never read"
    if now - last_ok > threshold:
        return True, f"last read {ago(now - last_ok)} ago (stale after {ago(threshold)})"
    return False, f"read {ago(now - last_ok)} ago"


def status_rows(
    config: Config,
    rows: Sequence[Mapping[str, Any]],
    sources: Sequence[SourceFreshness],
    now: datetime,
    overrides: Sequence[Override] = (),
) -> list[dict[str, Any]]:
    """The published rows, each marked ``stale`` (with why), with when its window resets and
    the operator's override in force on it, if any."""
    held = {(o.budget, o.group): o.describe() for o in overrides}
    stale_providers = {s.provider: s.detail for s in sources if s.stale}
    providers = {b.name: b.providers for b in config.budgets}
    out = []
    for r in rows:
        mine = providers.get(r["budget"], ())
        reasons = [f"{p}: {stale_providers[p]}" for p in mine if p in stale_providers]
        if r.get("stale") and not reasons:
            reasons.append("its source was stale at the last cycle")
        # any of its providers' cycles updates a budget across providers: the slowest bounds it
        thresholds = [config.providers[p].stale_threshold for p in mine if p in config.providers]
        age = now - datetime.fromisoformat(r["updated_at"])
        if thresholds and age > max(thresholds):
            reasons.append(f"status last updated {ago(age)} ago: is the daemon running?")
        resets_in = datetime.fromisoformat(r["window_end"]) - now
        out.append(
            {
                **r,
                "stale": bool(reasons),
                "stale_reason": "; ".join(reasons),
                "resets_in_seconds": max(0, int(resets_in.total_seconds())),
                "override": held.get((r["budget"], r["group"])),
            }
        )
    return out


def render_status(
    rows: Sequence[Mapping[str, Any]], sources: Sequence[SourceFreshness]
) -> list[str]:
    lines = [
        f"{'BUDGET':24} {'TARGET':24} {'STATE':10} {'SPEND':>12} {'LIMIT':>10} {'RATIO':>7}  "
        f"{'WINDOW':14} RESETS"
    ]
    for r in rows:
        ratio = f"{Decimal(r['ratio']) * 100:.1f}%" if r["ratio"] is not None else "-"
        resets = f"in {ago(timedelta(seconds=r['resets_in_seconds']))} ({r['window_end']})"
        lines.append(
            f"{r['budget'][:24]:24} {r['group'][:24]:24} {r['state']:10} {cents(r['spend']):>12} "
            f"{cents(r['limit']):>10} {ratio:>7}  {r['window'][:14]:14} {resets}"
            + ("  STALE" if r["stale"] else "")
            + (f"  {r['override']}" if r.get("override") else "")
        )
        lines += _render_sources(r)
    if sources:
        lines.append("sources:")
        lines += [
            f"  {s.provider}/{s.source}: {'STALE: ' if s.stale else 'ok, '}{s.detail}"
            for s in sources
        ]
    return lines
