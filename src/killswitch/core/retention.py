"""Which observations of a source any budget window can still need: the source's horizon.

Pure (the time is passed in). The ledger applies a horizon every cycle and the store every few
minutes, so what the daemon keeps grows with keys x windows, never with time:

* ``to_date`` rows count only for the exact window they cover, so only spans that are some
  budget's window (now, or a margin ago; for a rolling window, the one ending now) are kept;
* ``bucket`` rows are kept while they can fall inside a window (they end after its start);
* ``counter`` samples: a tumbling window (daily, weekly, monthly, interval) needs one baseline,
  the last sample at or before its start, and the latest sample; only a rolling window, whose
  start moves with the clock, needs the samples in between. So there is no counter history
  unless some budget on the source has a rolling window.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from killswitch.core.windows import WindowSpec
from killswitch.model import ObservationKind, SpendObservation


@dataclass(frozen=True, slots=True)
class Horizon:
    """What a source's observations must still answer, as of one moment."""

    periods_from: datetime  # to_date and bucket rows that end before this are not needed
    spans: frozenset[tuple[datetime, datetime]] | None  # to_date spans read; None: any span
    anchors: tuple[datetime, ...]  # counters: the last sample at or before each is a baseline
    history_from: datetime  # counters: every sample after this is kept (rolling windows)

    @classmethod
    def before(cls, cutoff: datetime) -> Horizon:
        """The one-cutoff rule: nothing ending before it, one counter baseline at it."""
        return cls(cutoff, None, (cutoff,), cutoff)

    def keeps_period(self, o: SpendObservation) -> bool:
        if o.end is None or o.end < self.periods_from:
            return False
        if o.kind is ObservationKind.TO_DATE and self.spans is not None:
            return (o.start, o.end) in self.spans
        return True

    def keep_counters(self, samples: Sequence[SpendObservation]) -> list[SpendObservation]:
        """Of one target's samples (oldest first): the baselines and the rolling history."""
        times = [s.observed_at for s in samples]
        keep = {i for i, t in enumerate(times) if t > self.history_from}
        for a in (*self.anchors, self.history_from):
            i = bisect_right(times, a) - 1
            if i >= 0:
                keep.add(i)
        return [samples[i] for i in sorted(keep)]


def horizon(windows: Iterable[WindowSpec], now: datetime, margin: timedelta) -> Horizon:
    """The horizon of a source read by budgets with these windows.

    Windows are taken both now and ``margin`` ago, so for a while after a window rolls over the
    previous one can still be evaluated (a replica or a CLI whose clock lags a little).
    """
    specs = list(windows)
    if not specs:  # polled for health only: keep the latest counter sample and no period
        return Horizon(now - margin, frozenset(), (), now)
    at = [(s, s.at(t)) for s in specs for t in (now - margin, now)]
    rolling = [w.start for s, w in at if s.slides]
    history_from = min(rolling) - margin if rolling else now
    return Horizon(
        periods_from=min(w.start for _, w in at) - margin,
        spans=frozenset((w.start, w.end) for _, w in at),  # a rolling span is read only now
        anchors=tuple(sorted({w.start for s, w in at if not s.slides})),
        history_from=history_from,
    )
