"""``aws.cost-explorer``: billed cost per day from ``GetCostAndUsage``, month to date.

The query runs with DAILY granularity from the start of the month (or of the earliest window a
budget needs, if that is earlier) to the end of today, so each day becomes a ``bucket``
observation per group (``group_by``, default per service) and the queried days are vouched for
with a ``Coverage``: a day on which a group has no entry is $0 for it. Daily, weekly and monthly
windows in UTC all add up from these buckets.

Each request costs $0.01, so the source keeps its last answer and calls again only after
``cost_explorer.min_interval`` (default 1 h) or when the queried period changes (a new day). Cost
Explorer data lags by up to a day and recent days are marked ``Estimated``; the observations say
so in their note.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import (
    Coverage,
    Money,
    ObservationKind,
    PollResult,
    SpendObservation,
    to_decimal,
)
from killswitch.providers.aws.config import CostExplorerSourceConfig
from killswitch.providers.aws.session import AwsSession
from killswitch.providers.aws.throttle import Throttle

NAME = "aws.cost-explorer"
MAX_PAGES = 50


def _day(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _parse_day(v: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise MalformedResponse(f"GetCostAndUsage: {field} is not a date") from None


class CostExplorerSource:
    name = NAME

    def __init__(self, session: AwsSession, cfg: CostExplorerSourceConfig) -> None:
        self.session = session
        self.cfg = cfg
        self.throttle = Throttle(cfg.min_interval, cfg.error_retry)

    def period(self, now: datetime, since: datetime) -> tuple[date, date]:
        today = now.astimezone(UTC).date()
        start = min(today.replace(day=1), since.astimezone(UTC).date())
        return start, today + timedelta(days=1)

    def request(self, start: date, end: date) -> dict[str, Any]:
        req: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [self.cfg.metric],
        }
        if self.cfg.group_by:
            req["GroupBy"] = self.cfg.group_definitions()
        flt = self.cfg.filter_expression()
        if flt is not None:
            req["Filter"] = flt
        return req

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        key = self.period(now, since)
        cached = self.throttle.cached(key, now)
        if cached is not None:
            return cached
        try:
            pages = await self._fetch(self.request(*key))
            result = self.parse(pages, now)
        except SourceError as exc:
            result = PollResult(self.name, error=str(exc))
        return self.throttle.remember(key, now, result)

    async def _fetch(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            params = dict(req, NextPageToken=token) if token else req
            page = await self.session.call("ce", "get_cost_and_usage", **params)
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                return pages
        raise SourceError(f"GetCostAndUsage: more than {MAX_PAGES} pages; refusing to guess")

    def parse(self, pages: list[dict[str, Any]], now: datetime) -> PollResult:
        metric = self.cfg.metric
        grouped = bool(self.cfg.group_by)
        dims_names = self.cfg.dim_names()
        amounts: dict[tuple[date, date, tuple[str, ...]], Money] = {}
        estimated: dict[tuple[date, date], bool] = defaultdict(bool)
        days: set[tuple[date, date]] = set()
        for page in pages:
            rows = page.get("ResultsByTime") if isinstance(page, dict) else None
            if not isinstance(rows, list):
                raise MalformedResponse("GetCostAndUsage: ResultsByTime is not a list")
            for i, row in enumerate(rows):
                if not isinstance(row, dict) or not isinstance(row.get("TimePeriod"), dict):
                    raise MalformedResponse(f"GetCostAndUsage: ResultsByTime[{i}] has no period")
                start = _parse_day(row["TimePeriod"].get("Start"), "TimePeriod.Start")
                end = _parse_day(row["TimePeriod"].get("End"), "TimePeriod.End")
                if end <= start:
                    raise MalformedResponse("GetCostAndUsage: TimePeriod ends before it starts")
                days.add((start, end))
                estimated[(start, end)] |= bool(row.get("Estimated", False))
                if grouped:
                    groups = row.get("Groups", [])
                    if not isinstance(groups, list):
                        raise MalformedResponse("GetCostAndUsage: Groups is not a list")
                    for g in groups:
                        keys = self._keys(g, len(dims_names))
                        metrics = g.get("Metrics") if isinstance(g, dict) else None
                        amounts[(start, end, keys)] = self._money(metrics, metric)
                else:
                    amounts[(start, end, ())] = self._money(row.get("Total"), metric)
        if not days:
            raise MalformedResponse("GetCostAndUsage: no ResultsByTime (empty answer, not $0)")
        obs = []
        for (start, end, keys), money in sorted(amounts.items()):
            target = "/".join(keys) if keys else "total"
            dims = dict(zip(dims_names, keys, strict=True))
            note = (
                "estimated (Cost Explorer data lags up to 24 h)" if estimated[(start, end)] else ""
            )
            obs.append(
                SpendObservation(
                    self.name,
                    target,
                    ObservationKind.BUCKET,
                    money,
                    now,
                    _day(start),
                    _day(end),
                    dims,
                    note=note,
                )
            )
        coverage = tuple(Coverage(self.name, _day(s), _day(e)) for s, e in sorted(days))
        return PollResult(self.name, tuple(obs), coverage=coverage, data_as_of=now)

    @staticmethod
    def _keys(group: Any, n: int) -> tuple[str, ...]:
        keys = group.get("Keys") if isinstance(group, dict) else None
        if (
            not isinstance(keys, list)
            or len(keys) != n
            or not all(isinstance(k, str) for k in keys)
        ):
            raise MalformedResponse("GetCostAndUsage: a group has no Keys of the grouped shape")
        # Tag groups come back as "key$value" ("key$" when the resource is untagged).
        return tuple(k.split("$", 1)[1] if "$" in k else k for k in keys)

    @staticmethod
    def _money(metrics: Any, metric: str) -> Money:
        m = metrics.get(metric) if isinstance(metrics, dict) else None
        if not isinstance(m, dict):
            raise MalformedResponse(f"GetCostAndUsage: {metric} is missing")
        unit = m.get("Unit")
        if not isinstance(unit, str) or len(unit) != 3 or not unit.isupper():
            raise MalformedResponse(f"GetCostAndUsage: {metric}.Unit is not a currency")
        try:
            amount = to_decimal(m.get("Amount"), field_name=f"{metric}.Amount")
        except ValueError as exc:
            raise MalformedResponse(f"GetCostAndUsage: {exc}") from None
        return Money(amount, unit)
