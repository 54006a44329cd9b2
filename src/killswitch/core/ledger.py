"""In-memory view of recent observations per source, fed by polls and warmed from the store.

Evaluation reads from here, so a cycle over 10k keys never waits on the database. Only what a
window can still need is kept (see :mod:`killswitch.core.retention`): period rows a budget reads,
each target's counter baselines, and counter history only for rolling windows.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from killswitch.core.retention import Horizon
from killswitch.model import ObservationKind, SpendObservation

PeriodKey = tuple[str, str, datetime | None, datetime | None]


class Ledger:
    def __init__(self) -> None:
        self._periods: dict[str, dict[PeriodKey, SpendObservation]] = defaultdict(dict)
        # per source, per target: samples sorted by observed_at, one per instant
        self._counters: dict[str, dict[str, list[SpendObservation]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(self, observations: Iterable[SpendObservation]) -> None:
        for o in observations:
            if o.kind is ObservationKind.COUNTER:
                _insert(self._counters[o.source][o.target], o)
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

    def prune(self, source: str, keep: Horizon | datetime) -> None:
        """Forget what the horizon (or, given a time, everything before it) no longer needs."""
        h = keep if isinstance(keep, Horizon) else Horizon.before(keep)
        periods = self._periods.get(source, {})
        for key in [k for k, o in periods.items() if not h.keeps_period(o)]:
            del periods[key]
        counters = self._counters.get(source, {})
        for target, samples in counters.items():
            counters[target] = h.keep_counters(samples)

    def size(self) -> int:
        return sum(len(p) for p in self._periods.values()) + sum(
            len(s) for c in self._counters.values() for s in c.values()
        )


def _insert(samples: list[SpendObservation], o: SpendObservation) -> None:
    """Keep the series sorted with one sample per instant; an unchanged reading adds nothing.

    Skipping (not replacing) an unchanged last sample keeps the earlier one, which may be the
    baseline of a window that started in between; a second sample is always kept so a target
    that never spends is still measured.
    """
    if not samples or samples[-1].observed_at < o.observed_at:  # the usual case: a new reading
        i = len(samples)
        times: list[datetime] = []
    else:
        times = [s.observed_at for s in samples]
        i = bisect_left(times, o.observed_at)
    if i < len(samples) and times[i] == o.observed_at:
        samples[i] = o  # the same instant read again: the newer reading wins
    elif (
        i == len(samples)
        and len(samples) > 1
        and (samples[-1].amount, samples[-1].complete) == (o.amount, o.complete)
    ):
        return
    else:
        samples.insert(i, o)
