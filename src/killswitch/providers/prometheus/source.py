"""One PromQL query as a spend source.

``to_date``: the query's ``$__range`` becomes the time since the period started, and the query is
evaluated at the engine's ``now``: ``increase(spend_total[$__range])`` is then spend in exactly
the budget's window (Prometheus extrapolates at the edges and, like any ``increase``, does not
see spend from before a series' first sample). ``counter``: the raw total is sampled at ``now``
and, once per window start, at ``since``, so a window that began before our first poll is still
measured from a sample at or before its start.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import ObservationKind, PollResult, SpendObservation
from killswitch.providers._rows import Row, amount_of, observations
from killswitch.providers.prometheus.client import PrometheusAPI, Vector, describe
from killswitch.providers.prometheus.config import RANGE, PromQuery


def range_for(query: PromQuery, now: datetime) -> str:
    """``$__range`` at ``now``: the period so far (rolling: its length), in whole milliseconds."""
    period = query.period_spec
    assert period is not None
    window = period.at(now)
    span = window.end - window.start if period.slides else now - window.start
    return f"{max(1, math.ceil(span / timedelta(milliseconds=1)))}ms"


class PromQLSource:
    def __init__(self, api: PrometheusAPI, query: PromQuery) -> None:
        self.api = api
        self.query = query
        self.name = query.name
        self._baseline: tuple[datetime, tuple[SpendObservation, ...]] | None = None

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            obs = await (
                self._to_date(now) if self.query.kind == "to_date" else self._counter(now, since)
            )
        except SourceError as exc:
            return PollResult(self.name, error=f"query {self.name}: {exc}")
        return PollResult(self.name, obs, data_as_of=now)

    async def _to_date(self, now: datetime) -> tuple[SpendObservation, ...]:
        promql = self.query.promql.replace(RANGE, range_for(self.query, now))
        rows = self._rows(await self.api.instant(promql, now))
        return observations(self.name, ObservationKind.TO_DATE, rows, now, self.query.period_spec)

    async def _counter(self, now: datetime, since: datetime) -> tuple[SpendObservation, ...]:
        current = self._rows(await self.api.instant(self.query.promql, now))
        obs = observations(self.name, ObservationKind.COUNTER, current, now)
        if since < now:
            obs += await self._baseline_at(since)
        return obs

    async def _baseline_at(self, since: datetime) -> tuple[SpendObservation, ...]:
        # The past does not change: read the total at a window start once, not every poll.
        if self._baseline is None or self._baseline[0] != since:
            rows = self._rows(await self.api.instant(self.query.promql, since))
            self._baseline = (since, observations(self.name, ObservationKind.COUNTER, rows, since))
        return self._baseline[1]

    def _rows(self, vector: Vector) -> list[Row]:
        notes = tuple(f"Prometheus warned: {w}" for w in vector.warnings)
        rows = []
        for s in vector.samples:
            if s.value in ("NaN", "+Inf", "-Inf", "Inf"):
                raise MalformedResponse(
                    f"series {describe(s.labels)} is {s.value}, not an amount (a division by "
                    "zero or a missing series in the expression?)"
                )
            amount = amount_of(s.value, f"series {describe(s.labels)}")
            dims = {
                dim: s.labels[label] for label, dim in self.query.dims.items() if label in s.labels
            }
            rows.append(Row(dims, amount, self.query.currency, notes=notes))
        return rows
