"""Forecast a group's spend a little ahead, so a runaway is killed before the provider's lag
lets it run past the cap.

Pure: no I/O and no clock (``now`` is passed in). The input is the group's recent history in the
current window: samples of ``(as_of, cumulative spend)``, where ``as_of`` is the instant the
source's data describes (``PollResult.data_as_of``), not when it was polled. The rate is the
Theil-Sen slope (median of pairwise slopes) over the last ``min_history``: one burst, one late
bucket or one re-read cannot move the median, a sustained ramp does. The projection first
carries the last sample forward over the data's age (estimating spend *now*), then over the
horizon, capped at the window's end (spend resets there).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from killswitch.model import Forecast, Money, Window

ZERO = Decimal(0)
ZERO_TD = timedelta(0)
HOUR = Decimal(3600)
# Pairwise slopes grow with the square of the samples: thin a long history to this many points
# (evenly spaced, first and last kept), so fast polls cost the same as 60 s ones.
MAX_POINTS = 16


@dataclass(frozen=True, slots=True)
class ForecastRule:
    """A budget's ``forecast:`` block, as the core sees it."""

    horizon: timedelta = timedelta(minutes=15)
    kill: bool = False
    min_history: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Sample:
    """The group's spend in the window that started at ``window_start``, as of ``as_of``."""

    as_of: datetime
    spend: Decimal
    window_start: datetime


def _seconds(td: timedelta) -> Decimal:
    return Decimal(td.days * 86400 + td.seconds) + Decimal(td.microseconds) / 1_000_000


def recent(samples: Sequence[Sample], window: Window, span: timedelta) -> list[Sample] | None:
    """The samples of this window covering the last ``span`` (plus the newest one before it, so
    the span is really covered), or None when the history is shorter than ``span``."""
    mine = sorted((s for s in samples if s.window_start == window.start), key=lambda s: s.as_of)
    if len(mine) < 2:
        return None
    cutoff = mine[-1].as_of - span
    older = [i for i, s in enumerate(mine) if s.as_of <= cutoff]
    if not older:
        return None
    return mine[older[-1] :]


def _thin(points: list[Sample]) -> list[Sample]:
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def robust_rate(points: Sequence[Sample]) -> Decimal:
    """Theil-Sen slope in money per second: the median of every pairwise slope (never below 0:
    cumulative spend does not fall, a correction downwards is not a negative rate)."""
    pts = _thin(list(points))
    if not pts:
        return ZERO
    t0 = pts[0].as_of
    xs = [(_seconds(p.as_of - t0), p.spend) for p in pts]  # n conversions, not n^2
    slopes: list[Decimal] = []
    for i, (ta, sa) in enumerate(xs):
        for tb, sb in xs[i + 1 :]:
            if tb > ta:
                slopes.append((sb - sa) / (tb - ta))
    if not slopes:
        return ZERO
    slopes.sort()
    n = len(slopes)
    mid = slopes[n // 2] if n % 2 else (slopes[n // 2 - 1] + slopes[n // 2]) / 2
    return max(mid, ZERO)


def steepest(points: Sequence[Sample]) -> Decimal:
    """The steepest step between consecutive samples: every pairwise slope is an average of the
    steps between its ends, so their median (the robust rate) can never exceed this."""
    best = ZERO
    for a, b in pairwise(points):
        if b.spend > a.spend and b.as_of > a.as_of:
            best = max(best, (b.spend - a.spend) / _seconds(b.as_of - a.as_of))
    return best


def crossing(
    rule: ForecastRule,
    samples: Sequence[Sample],
    window: Window,
    now: datetime,
    line: Decimal,
    currency: str = "USD",
) -> Forecast | None:
    """The projection when it reaches ``line``, else None. Cheap for the many groups nowhere
    near: when even the steepest recent step cannot reach the line, the robust rate is skipped."""
    points = recent(samples, window, rule.min_history)
    if points is None:
        return None
    last = points[-1]
    reach = _seconds(max(now - last.as_of, ZERO_TD) + max(_until(rule, window, now), ZERO_TD))
    if last.spend + steepest(points) * reach < line:
        return None
    f = _project(rule, points, window, now, line, currency)
    return f if f.projected.amount >= line else None


def _until(rule: ForecastRule, window: Window, now: datetime) -> timedelta:
    return min(now + rule.horizon, window.end) - now


def project(
    rule: ForecastRule,
    samples: Sequence[Sample],
    window: Window,
    now: datetime,
    line: Decimal,
    currency: str = "USD",
) -> Forecast | None:
    """Spend projected to ``min(now + horizon, window end)``; None with too little history."""
    points = recent(samples, window, rule.min_history)
    if points is None:
        return None
    return _project(rule, points, window, now, line, currency)


def _project(
    rule: ForecastRule,
    points: Sequence[Sample],
    window: Window,
    now: datetime,
    line: Decimal,
    currency: str,
) -> Forecast:
    rate = robust_rate(points)
    last = points[-1]
    age = max(now - last.as_of, ZERO_TD)
    estimated_now = last.spend + rate * _seconds(age)
    at = min(now + rule.horizon, window.end)
    projected = estimated_now + rate * _seconds(max(at - now, ZERO_TD))
    crosses_at = None
    if rate > 0:
        crosses_at = last.as_of + timedelta(seconds=float(max(line - last.spend, ZERO) / rate))
    return Forecast(
        Money(projected, currency),
        at,
        Money(rate * HOUR, currency),
        Money(estimated_now, currency),
        age,
        crosses_at,
    )


class History(Mapping[str, Sequence[Sample]]):
    """The engine's bounded memory of one budget's recent samples, per group.

    Each ring keeps what a projection can use (``keep``, i.e. ``min_history`` plus slack) and at
    most ``max_samples`` entries; a sample with the ``as_of`` of the previous one (a stale
    source repeating itself) replaces it rather than piling up.
    """

    def __init__(self, keep: timedelta, max_samples: int = 128) -> None:
        self.keep = keep
        self.max_samples = max_samples
        self._rings: dict[str, deque[Sample]] = {}

    def add(self, group: str, sample: Sample) -> None:
        ring = self._rings.get(group)
        if ring is None:
            ring = self._rings[group] = deque(maxlen=self.max_samples)
        while ring and (
            ring[-1].as_of >= sample.as_of or ring[-1].window_start != sample.window_start
        ):
            ring.pop()
        ring.append(sample)
        # keep one sample older than the span, so the span stays covered
        while len(ring) > 2 and ring[1].as_of <= sample.as_of - self.keep:
            ring.popleft()

    def extend(self, samples: Iterable[tuple[str, Sample]]) -> None:
        for group, sample in samples:
            self.add(group, sample)

    def __getitem__(self, group: str) -> Sequence[Sample]:
        return self._rings[group]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rings)

    def retain(self, groups: Iterable[str]) -> None:
        """Forget groups no longer evaluated (a key that went away)."""
        keep = set(groups)
        for g in [g for g in self._rings if g not in keep]:
            del self._rings[g]

    def __len__(self) -> int:
        return len(self._rings)

    def size(self) -> int:
        """Samples held, over every group (what memory it takes)."""
        return sum(len(r) for r in self._rings.values())
