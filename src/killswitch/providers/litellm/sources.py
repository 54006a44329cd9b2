"""LiteLLM sources: daily spend buckets, and the spend counters of keys, teams, users, end users.

``litellm.daily`` (the default) is the one that serves calendar windows: the proxy's daily spend
table per UTC day, key and model, which budget resets never touch. A day's bucket grows while the
day is open and is re-read each poll. The proxy vouches for the range it answers, so a key with
no row on a day spent $0 that day (:class:`Coverage`).

The counter sources read each entity's ``spend``. It is a lifetime counter only for entities
without ``budget_duration``; the others are reset to 0 by the proxy at each budget reset, which
a window difference would read as negative spend, so they are left out (and counted in the
``killswitch_litellm_counters_skipped`` gauge, with those whose spend is null): budget them through ``litellm.daily``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse, SourceError
from killswitch.http import ProviderHTTP
from killswitch.model import (
    Coverage,
    Money,
    ObservationKind,
    PollResult,
    SpendObservation,
)
from killswitch.providers._admin_api.shapes import obj
from killswitch.providers.litellm import shapes

DAILY_PATH = "/user/daily/activity"
UNKNOWN_MODEL = "unknown"  # spend the proxy reports for a key but under no model


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


class DailyActivitySource:
    name = "litellm.daily"

    def __init__(self, http: ProviderHTTP, page_size: int, max_pages: int) -> None:
        self.http = http
        self.page_size = page_size
        self.max_pages = max_pages

    async def read(self, first: date, last: date) -> shapes.DailySpend:
        acc = shapes.DailySpend()
        params: dict[str, Any] = {
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "page_size": self.page_size,
        }
        for page in range(1, self.max_pages + 1):
            body = await self.http.json("GET", DAILY_PATH, params={**params, "page": page})
            acc.add_page(body, f"{DAILY_PATH} page {page}")
            meta = obj(obj(body, DAILY_PATH).get("metadata"), f"{DAILY_PATH}.metadata")
            more = meta.get("has_more")
            if not isinstance(more, bool):
                raise MalformedResponse(f"{DAILY_PATH}.metadata.has_more is not a boolean")
            if not more:
                return acc
        raise SourceError(f"{DAILY_PATH}: more than {self.max_pages} pages; raise max_pages")

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        first, last = since.astimezone(UTC).date(), now.astimezone(UTC).date()
        try:
            acc = await self.read(first, last)
            cells = acc.finish()
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        obs = [
            self._obs(day, key, model, spend, acc, now)
            for (day, key, model), spend in cells.items()
        ]
        coverage = Coverage(self.name, _day_start(first), now)
        return PollResult(self.name, tuple(obs), (coverage,), data_as_of=now)

    def _obs(
        self,
        day: date,
        key: str,
        model: str,
        spend: Decimal,
        acc: shapes.DailySpend,
        now: datetime,
    ) -> SpendObservation:
        meta = acc.meta.get(key, shapes.KeyMeta())
        dims = {"key": key, "model": model or UNKNOWN_MODEL}
        for dim, value in (("team", meta.team), ("user", meta.user), ("key_label", meta.alias)):
            if value:
                dims[dim] = value
        start = _day_start(day)
        return SpendObservation(
            self.name,
            f"{key}/{dims['model']}",
            ObservationKind.BUCKET,
            Money(spend, "USD"),
            now,
            start,
            start + timedelta(days=1),
            dims,
        )


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """How to list one kind of entity: path, paging, id field, and fields that become dims."""

    path: str
    list_field: str | None
    id_field: str
    dim: str
    dims: dict[str, str]
    page_param: str | None = None
    size_param: str | None = None
    page_size: int = 100
    pages_field: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


COUNTERS: dict[str, CounterSpec] = {
    "keys": CounterSpec(
        "/key/list",
        "keys",
        "token",
        "key",
        {"key_alias": "key_label", "team_id": "team", "user_id": "user"},
        page_param="page",
        size_param="size",
        pages_field="total_pages",
        extra=(("return_full_object", "true"),),
    ),
    "teams": CounterSpec(
        "/v2/team/list",
        "teams",
        "team_id",
        "team",
        {"team_alias": "team_label", "organization_id": "organization"},
        page_param="page",
        size_param="page_size",
        pages_field="total_pages",
    ),
    "users": CounterSpec(
        "/user/list",
        "users",
        "user_id",
        "user",
        {"user_email": "user_email"},
        page_param="page",
        size_param="page_size",
        pages_field="total_pages",
    ),
    # /customer/list answers every end user at once (no paging parameters declared).
    "end_users": CounterSpec(
        "/customer/list", None, "user_id", "end_user", {"alias": "end_user_label"}
    ),
}


class CounterSource:
    def __init__(self, http: ProviderHTTP, spec: CounterSpec, max_pages: int) -> None:
        self.http = http
        self.spec = spec
        self.max_pages = max_pages
        self.name = f"litellm.{next(n for n, s in COUNTERS.items() if s is spec)}"

    async def list(self) -> list[shapes.Entity]:
        s = self.spec
        out: list[shapes.Entity] = []
        for page in range(1, self.max_pages + 1):
            params: dict[str, Any] = dict(s.extra)
            if s.page_param and s.size_param:
                params |= {s.page_param: page, s.size_param: s.page_size}
            body = await self.http.json("GET", s.path, params=params)
            items = shapes.page_items(body, s.path, s.list_field)
            for i, item in enumerate(items):
                out.append(shapes.entity(item, f"{s.path}[{page}:{i}]", s.id_field, s.dims))
            if s.pages_field is None:
                return out
            pages = shapes.total_pages(body, s.path, s.pages_field)
            if (pages >= 0 and page >= pages) or (pages < 0 and len(items) < s.page_size):
                return out
        raise SourceError(f"{s.path}: more than {self.max_pages} pages; raise max_pages")

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            entities = await self.list()
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        obs = []
        skipped = 0
        for e in entities:
            if e.resets or e.spend is None:
                skipped += 1
                continue
            obs.append(
                SpendObservation(
                    self.name,
                    e.id,
                    ObservationKind.COUNTER,
                    Money(e.spend, "USD"),
                    now,
                    dims={self.spec.dim: e.id, **e.dims},
                )
            )
        series: dict[tuple[tuple[str, str], ...], Decimal] = {
            (("source", self.name),): Decimal(skipped)
        }
        gauges = {"litellm_counters_skipped": series}
        return PollResult(self.name, tuple(obs), data_as_of=now, gauges=gauges)
