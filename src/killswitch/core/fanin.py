"""A budget across providers (``sources:``): each source summed on its own, then per group.

Pure: no I/O and no clock. Each source's groups are summed exactly as a one-source budget's are
(:func:`~killswitch.core.spend.group_spend`, with that source's own coverage, so one provider's
complete buckets never vouch for another's silence); the group's spend is then the sum of its
sources' known spend, and :func:`~killswitch.core.evaluate.judge` decides on it like on any
other. What is not known is never read as $0:

* a source with nothing for a group adds nothing and is shown without an amount;
* a stale source (its provider's last poll failed, its data is older than ``stale_after``, or it
  has not been read since the daemon started) counts with its last good data, and marks every
  group stale;
* a killed group is restored only while every source is fresh: a new window's spend is not
  known to be under the line while one of its sources cannot be read;
* amounts in another currency than the limit are never added: the group is incomplete (its
  data cannot be trusted), its state ``error``, and the detail names the source.

Each group keeps every provider's own dims (``GroupSpend.provider_dims``), so a breach acts on
each provider's own targets: an OpenAI action gets the group's OpenAI projects, an OpenRouter
action its OpenRouter keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from killswitch.core.evaluate import BudgetRule, Evaluation, judge
from killswitch.core.scope import Scope
from killswitch.core.spend import GroupSpend, group_spend
from killswitch.model import (
    BudgetState,
    Coverage,
    DecisionKind,
    GroupStatus,
    Money,
    SourceSpend,
    SpendObservation,
    TargetState,
    utc,
)

# States a currency mismatch overrides: a breach (or kill) on the known part still stands.
_OVERRIDDEN = frozenset(
    {BudgetState.OK, BudgetState.WARNING, BudgetState.INCOMPLETE, BudgetState.NO_DATA}
)


@dataclass(frozen=True, slots=True)
class Feed:
    """One source of a budget across providers, as the engine holds it at evaluation time."""

    provider: str
    source: str
    observations: Sequence[SpendObservation]
    coverage: Sequence[Coverage] = ()
    stale: bool = False
    why_stale: str = ""  # for the status detail: "last poll failed", "not read yet"

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.source}"


def evaluate_feeds(
    rule: BudgetRule,
    feeds: Sequence[Feed],
    prior: Mapping[str, TargetState],
    now: datetime,
) -> Evaluation:
    """Evaluate a budget whose spend is the sum of ``feeds`` (in config order)."""
    now = utc(now)
    window = rule.window.at(now)
    currency = rule.limit.currency
    grouped = [_by_group(rule.scope, f.observations) for f in feeds]
    known = set(rule.scope.declared_groups()) | {g for g, st in prior.items() if st.killed}
    groups = set().union(*grouped) | known
    spends = {
        g: combine(
            [
                (f, group_spend(by_target.get(g, {}), window, currency, now, f.coverage))
                for f, by_target in zip(feeds, grouped, strict=True)
            ]
        )
        for g in groups
    }
    stale = any(f.stale for f in feeds)
    ev = judge(rule, spends, prior, window, stale=stale)
    ev.statuses = [_mismatch(s, spends[s.group]) for s in ev.statuses]
    if stale:  # a restore changes no state in the core: holding it back just waits a cycle
        ev.decisions = [d for d in ev.decisions if d.kind is not DecisionKind.RESTORE]
    return ev


def _by_group(
    scope: Scope, observations: Sequence[SpendObservation]
) -> dict[str, dict[str, list[SpendObservation]]]:
    grouped: dict[str, dict[str, list[SpendObservation]]] = defaultdict(lambda: defaultdict(list))
    for o in observations:
        g = scope.group_of(o.dims)
        if g is not None:
            grouped[g][o.target].append(o)
    return grouped


def combine(parts: Sequence[tuple[Feed, GroupSpend]]) -> GroupSpend:
    """One group's spend over its sources: known amounts summed, each source's share kept."""
    total: Money | None = None
    out = GroupSpend(None, True, [], defaultdict(set), [])
    shares = []
    for feed, gs in parts:
        shares.append(SourceSpend(feed.provider, feed.source, gs.amount, feed.stale, gs.complete))
        out.members += [f"{feed.label}/{m}" for m in gs.members]
        mine = out.provider_dims.setdefault(feed.provider, defaultdict(set))
        for k, v in gs.dims.items():
            out.dims[k] |= v
            mine[k] |= v
        out.notes += [f"{feed.label}: {n}" for n in gs.notes]
        if feed.stale:
            out.notes.append(
                f"{feed.label} is stale ({feed.why_stale or 'no fresh data'}): "
                "its last good data counts, nothing after it"
            )
        out.currency_mismatch |= gs.currency_mismatch
        out.complete &= gs.complete
        if gs.amount is not None:
            total = gs.amount if total is None else total + gs.amount
    out.amount = total
    out.parts = tuple(shares)
    out.dims = dict(out.dims)
    return out


def _mismatch(s: GroupStatus, gs: GroupSpend) -> GroupStatus:
    """A source in another currency: the group is in error (its other sources still count)."""
    if not gs.currency_mismatch or s.state not in _OVERRIDDEN:
        return s
    return replace(s, state=BudgetState.ERROR)
