"""``anthropic.usage``: per-key spend estimated from token usage x price, in 1-minute buckets.

``GET /v1/organizations/usage_report/messages`` grouped by ``api_key_id``, ``workspace_id``,
``model`` (what budgets scope on) and also ``service_tier`` and ``context_window`` (what the
price depends on: batch is half price, long context is a dearer tier). Each (bucket, key,
workspace, model) becomes one ``bucket`` observation with dims ``{key, workspace, model}``;
Workbench usage has no API key and is reported under the key ``workbench``, the default workspace
under ``default``. Every span read is vouched for with a ``Coverage``, so a minute without a row
is $0. A model without a price gives ``complete=False`` and a note, never $0.

Reads are incremental: the first poll in a process reads from the earliest window start; later
polls re-read only ``lookback`` (usage lands within ~5 minutes, sometimes later). The request
sends no ``ending_at``: the report then runs to the present, and coverage ends where the last
returned bucket ends, so a server that stops at the last complete minute is never read as $0 for
the minute in progress.

Every ``reconcile_interval`` the cost report is read too (see ``reconcile.py``) and the drift
between this estimate and the bill is exported per workspace and day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import structlog

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import Coverage, Money, ObservationKind, PollResult, SpendObservation
from killswitch.plugins import ProviderContext
from killswitch.providers._admin_api.costs import DAY, floor_day
from killswitch.providers._admin_api.reconcile import Reconciler, utc_days
from killswitch.providers.anthropic.client import USAGE_PATH, AdminAPI, RateLimited
from killswitch.providers.anthropic.config import PAGE_LIMITS, AnthropicConfig
from killswitch.providers.anthropic.pricing import RateBook, price_row
from killswitch.providers.anthropic.reconcile import EXCLUDED_USAGE_TIERS, SUBJECT, billed
from killswitch.providers.anthropic.shapes import UsageRow, bucket_spans, usage_rows
from killswitch.providers.anthropic.source_costs import CostReader

log = structlog.get_logger("killswitch.providers.anthropic")
NAME = "anthropic.usage"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")


def floor(t: datetime, width: timedelta) -> datetime:
    s = (t - EPOCH).total_seconds()
    w = width.total_seconds()
    return EPOCH + timedelta(seconds=s - s % w)


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UsageSource:
    name = NAME

    def __init__(
        self,
        api: AdminAPI,
        cfg: AnthropicConfig,
        context: ProviderContext,
        costs: CostReader,
    ) -> None:
        self.api = api
        self.cfg = cfg
        self.context = context
        self.drift = Reconciler(SUBJECT, costs, cfg.reconcile_interval)
        self.rates = RateBook(context.prices, cfg.web_search_usd_per_1000)
        self._first: datetime | None = None  # earliest bucket start read in this process
        self._until: datetime | None = None  # end of what the last read covered
        self._last: PollResult | None = None

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            result = await self._poll(now, since)
        except RateLimited as exc:
            if self._last is not None:  # nothing new may be asked yet: the last answer stands
                return replace(self._last, events=(), gauges={})
            return PollResult(self.name, error=str(exc))
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        self._last = result
        return result

    async def _poll(self, now: datetime, since: datetime) -> PollResult:
        w = self.cfg.width
        first_run = self._first is None or since < self._first
        start = floor(since, w)
        if not first_run and self._until is not None:
            start = max(start, floor(self._until - self.cfg.lookback, w))
        if start >= now:
            return PollResult(self.name, data_as_of=now)
        params: list[tuple[str, str | int]] = [
            ("starting_at", rfc3339(start)),
            ("bucket_width", self.cfg.bucket_width),
            ("limit", PAGE_LIMITS[self.cfg.bucket_width]),
            *(("group_by[]", g) for g in GROUP_BY),
        ]
        pages = await self.api.report(USAGE_PATH, params)
        where = f"GET {USAGE_PATH}"
        spans = bucket_spans(pages, where)
        for s, e in spans:
            if e - s != w:
                raise MalformedResponse(f"{where}: a bucket is not {self.cfg.bucket_width} long")
        rows = usage_rows(pages, where)
        obs = self._observations(rows, now)
        until = min(now, max((e for _, e in spans), default=start))
        if self._first is None or start < self._first:
            self._first = start
        self._until = until
        cov = (Coverage(self.name, start, until),) if until > start else ()
        result = PollResult(self.name, tuple(obs), coverage=cov, data_as_of=now)
        return await self._reconcile(result, now)

    def _observations(self, rows: list[UsageRow], now: datetime) -> list[SpendObservation]:
        groups: dict[tuple[datetime, datetime, str, str, str], list[UsageRow]] = defaultdict(list)
        for r in rows:
            groups[(r.start, r.end, r.key, r.workspace, r.model or "unknown")].append(r)
        out = []
        for (start, end, key, ws, model), rs in sorted(groups.items()):
            total, comparable, complete, notes = Decimal(0), Decimal(0), True, []
            for r in rs:
                priced = price_row(self.rates, r)
                if priced.note and priced.note not in notes:
                    notes.append(priced.note)
                if priced.amount is None:
                    complete = False
                    continue
                total += priced.amount
                if r.service_tier not in EXCLUDED_USAGE_TIERS:
                    comparable += priced.amount
            target = f"{key}|{ws}|{model}"
            # the estimate side of drift: workspace, day, comparable USD, complete
            day = start.date().isoformat()
            self.drift.estimates[(target, start)] = (ws, day, comparable, complete)
            out.append(
                SpendObservation(
                    self.name,
                    target,
                    ObservationKind.BUCKET,
                    Money(total, "USD"),
                    now,
                    start,
                    end,
                    {"key": key, "workspace": ws, "model": model},
                    complete=complete,
                    note="; ".join(notes),
                )
            )
        return out

    async def _reconcile(self, result: PollResult, now: datetime) -> PollResult:
        if not self.drift.due(now):
            return result
        today = floor_day(now)
        first_day = today - timedelta(days=self.cfg.reconcile_days - 1)
        try:
            snap = await self.drift.bill(now, first_day)
        except RateLimited:
            return result
        except SourceError as exc:  # the bill is unreadable: spend data is still good
            log.warning("cost report unreadable; drift not updated", error=str(exc))
            return result
        first = self._first
        assert first is not None

        def compared(d: datetime) -> bool:
            read_in_full = d >= first  # usage: this process read the day from its start
            is_billed = snap.covered_until >= min(d + DAY, snap.fetched_at)
            return read_in_full and is_billed

        days = utc_days(first_day, today + DAY, compared)
        return self.drift.compare(result, billed(snap.rows), days, self.context)
