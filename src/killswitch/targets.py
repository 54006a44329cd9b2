"""The targets a manual ``kill`` or ``restore`` may name, so a typo is refused, not obeyed.

A target is known when the budget's own data names it: a group the daemon has evaluated (its
status), a group in the recorded observations, one a fresh poll of the budget's source reports, or
one the journal has acted on. For budgets without ``each`` the group is ``*`` and the targets are
whatever the configured actions would touch. Nothing here changes state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from killswitch.config import BudgetConfig, Config
from killswitch.core.scope import ALL_GROUP
from killswitch.model import SpendObservation
from killswitch.plugins import Provider, TargetRequest, registry
from killswitch.secrets import redact
from killswitch.state import Store

POLL_TIMEOUT_S = 30.0
HISTORY = timedelta(days=40)  # observations older than the longest calendar window add nothing
SHOWN = 20


@dataclass
class Known:
    """Targets a budget's data names; ``source_error`` when a fresh poll could not be read."""

    groups: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    source_error: str | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.groups or name in self.targets

    def listing(self) -> str:
        names = sorted((self.groups | self.targets) - {ALL_GROUP})
        if not names:
            why = f"the source could not be read: {self.source_error}" if self.source_error else ""
            return f"none known yet{f' ({why})' if why else ''}"
        more = f", ... ({len(names) - SHOWN} more)" if len(names) > SHOWN else ""
        return ", ".join(names[:SHOWN]) + more


def protected(cfg: Config, b: BudgetConfig, *names: str) -> list[str]:
    """Which of ``names`` the global or the budget's protect list covers."""
    protect = set(cfg.base.protect) | set(b.protect)
    return [n for n in names if n in protect]


def action_targets(cfg: Config, b: BudgetConfig, group: str, dims: dict[str, Any]) -> set[str]:
    """What the configured actions would touch for ``group`` (the protect list not applied)."""
    req = TargetRequest(group, b.scope_spec.each, dims)
    out: set[str] = set()
    for ra in cfg.actions.get(b.name, ()):
        out.update(registry.actions[ra.name]().targets(ra.params, req))
    return out


def _groups(b: BudgetConfig, obs: Iterable[SpendObservation]) -> set[str]:
    scope = b.scope_spec
    return {g for o in obs if (g := scope.group_of(o.dims)) is not None}


def recorded(
    cfg: Config, store: Store, b: BudgetConfig, sources: Iterable[str], now: datetime
) -> Known:
    """Targets known from state alone: statuses, stored observations (of every source the
    budget reads), the journal."""
    known = Known()
    known.groups |= {r["group"] for r in store.statuses() if r.get("budget") == b.name}
    for source in sources:
        known.groups |= _groups(b, store.load_observations(source, now - HISTORY))
    for r in store.journal_rows(budget=b.name):
        known.groups.add(r.group)
        known.targets.add(r.target)
    if not b.scope_spec.each:
        known.groups.add(ALL_GROUP)
        known.targets |= action_targets(cfg, b, ALL_GROUP, {})
    return known


async def polled(provider: Provider, b: BudgetConfig, source: str, now: datetime) -> Known:
    """Targets the budget's source reports now (one poll, bounded; nothing recorded)."""
    since = b.window_spec.at(now).start
    try:
        src = provider.sources()[source]
        result = await asyncio.wait_for(src.poll(now, since), POLL_TIMEOUT_S)
    except TimeoutError:
        return Known(source_error=f"no answer within {POLL_TIMEOUT_S:.0f}s")
    except Exception as exc:  # a source that raises is one we could not read, nothing more
        return Known(source_error=redact(f"{type(exc).__name__}: {exc}"))
    if result.error:
        return Known(source_error=result.error)
    return Known(groups=_groups(b, result.observations))
