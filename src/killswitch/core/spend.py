"""Spend of one group over one window, from whatever kinds of observations its source gives.

Precedence, per finest-grain target: an exact ``to_date`` match for the window wins; else the sum
of ``bucket`` observations inside the window; else the difference of ``counter`` samples. A target
with none of these contributes no data: never zero. Bucket sources that vouch for a span with a
:class:`Coverage` make "no bucket" mean $0 for that span.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from killswitch.model import (
    Coverage,
    Money,
    ObservationKind,
    SourceSpend,
    SpendObservation,
    Window,
)


@dataclass(slots=True)
class TargetSpend:
    amount: Money | None
    complete: bool
    notes: list[str] = field(default_factory=list)


def covered(coverage: Sequence[Coverage], start: datetime, end: datetime) -> bool:
    """Do the coverage spans (merged) contain ``[start, end)``?"""
    cursor = start
    for span in sorted(coverage, key=lambda c: c.start):
        if span.start > cursor:
            break
        cursor = max(cursor, span.end)
        if cursor >= end:
            return True
    return cursor >= end


def target_spend(
    obs: Iterable[SpendObservation], window: Window, currency: str, now: datetime
) -> TargetSpend:
    """Spend of one target in ``window`` (observations must all be that target's)."""
    to_date: SpendObservation | None = None
    buckets: dict[tuple[datetime, datetime], SpendObservation] = {}
    counters: list[SpendObservation] = []
    for o in obs:
        if o.kind is ObservationKind.TO_DATE:
            if (
                o.start == window.start
                and o.end == window.end
                and (to_date is None or o.observed_at >= to_date.observed_at)
            ):
                to_date = o
        elif o.kind is ObservationKind.BUCKET:
            assert o.start is not None and o.end is not None
            if o.start >= window.start and o.end <= max(window.end, now):
                prev = buckets.get((o.start, o.end))
                if prev is None or o.observed_at >= prev.observed_at:
                    buckets[(o.start, o.end)] = o
        else:
            counters.append(o)
    if to_date is not None:
        return TargetSpend(to_date.amount, to_date.complete, [to_date.note] if to_date.note else [])
    if buckets:
        total = Money(Money.usd(0).amount, currency)
        complete = True
        notes: list[str] = []
        for b in buckets.values():
            total = total + b.amount
            complete &= b.complete
            if b.note and b.note not in notes:
                notes.append(b.note)
        return TargetSpend(total, complete, notes)
    if counters:
        return _counter_delta(counters, window)
    return TargetSpend(None, False, ["no data"])


def _counter_delta(samples: list[SpendObservation], window: Window) -> TargetSpend:
    samples.sort(key=lambda o: o.observed_at)
    latest = samples[-1]
    before = [s for s in samples if s.observed_at <= window.start]
    if before:
        base = before[-1]
        return TargetSpend(latest.amount - base.amount, latest.complete and base.complete)
    # History starts inside the window: the delta from the first sample understates spend, so
    # say so; fail_closed budgets treat this as a breach, others report it as incomplete.
    first = samples[0]
    if first is latest:
        return TargetSpend(None, False, ["one counter sample so far; need two to measure"])
    return TargetSpend(
        latest.amount - first.amount,
        False,
        [f"counter history starts {first.observed_at.isoformat()}, after the window start"],
    )


@dataclass(slots=True)
class GroupSpend:
    amount: Money | None
    complete: bool
    members: list[str]
    dims: dict[str, set[str]]
    notes: list[str]
    currency_mismatch: bool = False
    # A budget across providers: each source's contribution, and each provider's own dims
    parts: tuple[SourceSpend, ...] = ()
    provider_dims: dict[str, dict[str, set[str]]] = field(default_factory=dict)


def group_spend(
    by_target: dict[str, list[SpendObservation]],
    window: Window,
    currency: str,
    now: datetime,
    coverage: Sequence[Coverage] = (),
    *,
    vouched: bool | None = None,
) -> GroupSpend:
    """Sum the targets of one group. Any target without data makes the sum incomplete.

    ``vouched`` (does coverage span the window so far?) is the same for every group of one
    evaluation; the caller passes it so it is computed once, not once per group.
    """
    if vouched is None:
        vouched = covered(coverage, window.start, min(now, window.end))
    if len(by_target) == 1 and not vouched:
        return _one_target(by_target, window, currency, now)
    total: Money | None = None
    complete = True
    mismatch = False
    members: list[str] = []
    dims: dict[str, set[str]] = defaultdict(set)
    notes: list[str] = []
    items = by_target.items() if len(by_target) < 2 else sorted(by_target.items())
    for target, obs in items:
        ts = target_spend(obs, window, currency, now)
        if ts.amount is None and vouched:
            ts = TargetSpend(Money(Money.usd(0).amount, currency), True)
        members.append(target)
        for o in obs:
            for k, v in o.dims.items():
                dims[k].add(v)
        if ts.notes:
            notes += [n for n in ts.notes if n not in notes]
        if ts.amount is None:
            complete = False
            continue
        if ts.amount.currency != currency:
            notes.append(f"{target} reports {ts.amount.currency}, limit is {currency}")
            complete = False
            mismatch = True
            continue
        total = ts.amount if total is None else total + ts.amount
        complete &= ts.complete
    if total is None and vouched and complete:
        total = Money(Money.usd(0).amount, currency)
    return GroupSpend(total, complete, members, dict(dims), notes, mismatch)


def _one_target(
    by_target: dict[str, list[SpendObservation]], window: Window, currency: str, now: datetime
) -> GroupSpend:
    """The common case (a group per key, no coverage): the general sum without its bookkeeping."""
    ((target, obs),) = by_target.items()
    if len(obs) == 1:
        o = obs[0]
        if (
            o.kind is ObservationKind.TO_DATE
            and o.start == window.start
            and o.end == window.end
            and not o.note
            and o.amount.currency == currency
        ):  # one to-date figure for this very window: the usual key of a per-key budget
            return GroupSpend(
                o.amount, o.complete, [target], {k: {v} for k, v in o.dims.items()}, []
            )
    ts = target_spend(obs, window, currency, now)
    if len(obs) == 1:
        dims = {k: {v} for k, v in obs[0].dims.items()}
    else:
        dims = {}
        for o in obs:
            for k, v in o.dims.items():
                dims.setdefault(k, set()).add(v)
    notes = list(dict.fromkeys(ts.notes))
    if ts.amount is None:
        return GroupSpend(None, False, [target], dims, notes)
    if ts.amount.currency != currency:
        notes.append(f"{target} reports {ts.amount.currency}, limit is {currency}")
        return GroupSpend(None, False, [target], dims, notes, True)
    return GroupSpend(ts.amount, ts.complete, [target], dims, notes)
