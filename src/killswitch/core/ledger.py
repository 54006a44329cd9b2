"""In-memory view of recent observations per source, fed by polls and warmed from the store.

Evaluation reads from here, so a cycle over 10k keys never waits on the database. Only what a
window can still need is kept: to_date/bucket rows that end after the cutoff, counter samples
after it, and each target's last counter sample before it (the baseline of a window delta).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from killswitch.model import ObservationKind, SpendObservation

PeriodKey = tuple[str, datetime | None, datetime | None]


class Ledger:
    def __init__(self) -> None:
        self._periods: dict[
            str, dict[tuple[str, str, datetime | None, datetime | None], SpendObservation]
        ] = defaultdict(dict)
        self._counters: dict[str, dict[str, list[SpendObservation]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(self, observations: Iterable[SpendObservation]) -> None:
        for o in observations:
            if o.kind is ObservationKind.COUNTER:
                samples = self._counters[o.source][o.target]
                if samples and samples[-1].observed_at > o.observed_at:
                    samples.append(o)
                    samples.sort(key=lambda s: s.observed_at)
                elif samples and samples[-1].amount == o.amount and len(samples) > 1:
                    samples[-1] = o  # unchanged: keep the series short
                else:
                    samples.append(o)
            else:
                key = (o.target, o.kind.value, o.start, o.end)
                prev = self._periods[o.source].get(key)
                if prev is None or o.observed_at >= prev.observed_at:
                    self._periods[o.source][key] = o

    def observations(self, source: str) -> list[SpendObservation]:
        out = list(self._periods.get(source, {}).values())
        for samples in self._counters.get(source, {}).values():
            out.extend(samples)
        return out

    def prune(self, source: str, cutoff: datetime) -> None:
        periods = self._periods.get(source, {})
        for key in [k for k, o in periods.items() if o.end is not None and o.end < cutoff]:
            del periods[key]
        for target, samples in self._counters.get(source, {}).items():
            before = [s for s in samples if s.observed_at <= cutoff]
            if len(before) > 1:
                self._counters[source][target] = [before[-1]] + [
                    s for s in samples if s.observed_at > cutoff
                ]

    def size(self) -> int:
        return sum(len(p) for p in self._periods.values()) + sum(
            len(s) for c in self._counters.values() for s in c.values()
        )
