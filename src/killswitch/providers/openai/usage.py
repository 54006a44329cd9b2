"""``openai.usage``: near-real-time spend per key, project and model, from token usage x price.

Reads ``GET /organization/usage/{type}`` for each configured type (completions, embeddings,
audio_speeches, audio_transcriptions, images), grouped by ``project_id``, ``api_key_id``,
``model`` (what budgets scope on) plus what the price depends on (``batch`` and
``service_tier`` for completions, ``size`` for images). Every (bucket, project, key, model)
becomes one ``bucket`` observation with dims ``{key, project, model}``, summed over usage types,
batch and tiers. A model without a price gives ``complete=False`` and a note, never $0.

Bucket width (see ``config.py``): observations are ``resolution`` wide (1h by default). The
recent part of every read (``lookback``, from an hour boundary) is read with 1-minute buckets
and summed into its bins, so an hour in progress is as fresh as the API; older hours are read
with 1-hour buckets (168 per page: a month is five requests per type, not 31). Both give the
same sum for a complete hour, and every bin is either wholly re-read or not at all, so a bin's
value is never partial. With ``resolution: 1m`` everything is read and emitted per minute.

Reads are incremental: the first poll reads from the earliest window start (and the reconciled
days before it); later polls re-read only ``lookback``. The recent part is read without
``end_time`` (the API runs it to the present), and a fully paginated read vouches for
``[start, now)`` with a :class:`Coverage`: a key with no row there spent $0.

Reconciliation (``reconcile.py``): this source remembers what it priced per project and day,
and every ``reconcile_interval`` reads ``/organization/costs`` (through the reader shared with
``openai.costs``) to export ``estimate_drift_usd{project, day}`` and drift events.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import structlog

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import Coverage, Money, ObservationKind, PollResult, SpendObservation
from killswitch.plugins import ProviderContext
from killswitch.providers._admin_api.costs import DAY, floor_day
from killswitch.providers._admin_api.reconcile import Reconciler, utc_days
from killswitch.providers._kit.source import GuardedSource
from killswitch.providers.openai.client import USAGE_PATH, AdminAPI, unix
from killswitch.providers.openai.config import USAGE_PAGE_LIMITS, OpenAIConfig
from killswitch.providers.openai.costs import CostReader
from killswitch.providers.openai.pricing import price_row
from killswitch.providers.openai.reconcile import SUBJECT, billed
from killswitch.providers.openai.shapes import NO_KEY, NO_PROJECT, Page, UsageRow, usage_rows

log = structlog.get_logger("killswitch.providers.openai")
NAME = "openai.usage"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
WIDTHS = {"1m": MINUTE, "1h": HOUR}
DIMS = ("project_id", "api_key_id", "model")
GROUP_BY = {
    "completions": (*DIMS, "batch", "service_tier"),
    "embeddings": DIMS,
    "audio_speeches": DIMS,
    "audio_transcriptions": DIMS,
    "images": (*DIMS, "size"),
}


def floor(t: datetime, width: timedelta) -> datetime:
    s = (t - EPOCH).total_seconds()
    w = width.total_seconds()
    return EPOCH + timedelta(seconds=s - s % w)


@dataclass(slots=True)
class _Bin:
    amount: Decimal = Decimal(0)
    complete: bool = True
    notes: list[str] = field(default_factory=list)


class UsageSource(GuardedSource):
    name = NAME

    def __init__(
        self,
        api: AdminAPI,
        cfg: OpenAIConfig,
        context: ProviderContext,
        costs: CostReader,
        key_projects: MutableMapping[str, str],
    ) -> None:
        self.api = api
        self.cfg = cfg
        self.context = context
        self.drift = Reconciler(SUBJECT, costs, cfg.reconcile_interval)
        self.key_projects = key_projects  # learned here, used by openai.delete-key
        self._first: datetime | None = None  # earliest bin start read in this process
        self._until: datetime | None = None  # end of what the last read covered
        self._warned_alignment = False

    async def _poll(self, now: datetime, since: datetime) -> PollResult:
        w = self.cfg.width
        self._check_alignment(since, w)
        want = floor(since, w)
        if self.cfg.reconcile:
            want = min(want, floor_day(now) - DAY * self.cfg.reconcile_days)
        start = want
        if self._first is not None and want >= self._first and self._until is not None:
            start = max(want, floor(self._until - self.cfg.lookback, w))
        if start >= now:
            return PollResult(self.name, data_as_of=now)
        fine_from = start if w == MINUTE else max(start, floor(now - self.cfg.lookback, HOUR))
        rows: list[UsageRow] = []
        for usage_type in self.cfg.usage_types:
            if fine_from > start:
                rows += await self._read(usage_type, start, fine_from, "1h")
            rows += await self._read(usage_type, fine_from, None, "1m")
        obs = self._observations(rows, now)
        if self._first is None or start < self._first:
            self._first = start
        self._until = now
        result = PollResult(
            self.name, tuple(obs), coverage=(Coverage(self.name, start, now),), data_as_of=now
        )
        return await self._reconcile(result, now)

    def _check_alignment(self, since: datetime, w: timedelta) -> None:
        if w == HOUR and floor(since, HOUR) != since and not self._warned_alignment:
            self._warned_alignment = True
            log.warning(
                "a budget window on openai.usage starts off the hour; hourly buckets that "
                "straddle a window start are not counted in it: set resolution: 1m",
                since=since.isoformat(),
            )

    async def _read(
        self, usage_type: str, start: datetime, end: datetime | None, width: str
    ) -> list[UsageRow]:
        path = USAGE_PATH.format(usage_type)
        params: list[tuple[str, str | int]] = [("start_time", unix(start))]
        if end is not None:
            params.append(("end_time", unix(end)))
        params += [("bucket_width", width), ("limit", USAGE_PAGE_LIMITS[width])]
        params += [("group_by", g) for g in GROUP_BY[usage_type]]
        pages = await self.api.report(path, params)
        where = f"GET {path}"
        for p in pages:
            for i, b in enumerate(p.data):
                if b.end - b.start != WIDTHS[width] or b.start < start:
                    raise MalformedResponse(
                        f"{where}.data[{i}]: a bucket is not a {width} bucket inside the request"
                    )
        if end is not None:  # the minute read owns [end, now): never count a bucket twice
            pages = [Page([b for b in p.data if b.start < end], False, None) for p in pages]
        return usage_rows(usage_type, pages, where)

    def _observations(self, rows: list[UsageRow], now: datetime) -> list[SpendObservation]:
        w = self.cfg.width
        bins: dict[tuple[datetime, str, str, str], _Bin] = {}
        for r in rows:
            if r.key != NO_KEY and r.project != NO_PROJECT:
                self.key_projects[r.key] = r.project
            b = bins.setdefault((floor(r.start, w), r.project, r.key, r.model), _Bin())
            priced = price_row(self.context.prices, self.cfg, r)
            if priced.note and priced.note not in b.notes:
                b.notes.append(priced.note)
            if priced.amount is None:
                b.complete = False
            else:
                b.amount += priced.amount
        out = []
        for (start, project, key, model), b in sorted(bins.items()):
            target = f"{project}|{key}|{model}"
            if self.cfg.reconcile:
                day = start.date().isoformat()
                # the estimate side of drift: project, day, USD, complete
                self.drift.estimates[(target, start)] = (project, day, b.amount, b.complete)
            out.append(
                SpendObservation(
                    self.name,
                    target,
                    ObservationKind.BUCKET,
                    Money(b.amount, "USD"),
                    now,
                    start,
                    start + w,
                    {"key": key, "project": project, "model": model},
                    complete=b.complete,
                    note="; ".join(b.notes),
                )
            )
        return out

    async def _reconcile(self, result: PollResult, now: datetime) -> PollResult:
        cfg = self.cfg
        if not cfg.reconcile or not self.drift.due(now):
            return result
        today = floor_day(now)
        first_day = today - DAY * cfg.reconcile_days
        try:
            snap = await self.drift.bill(now, first_day)
        except SourceError as exc:  # the bill is unreadable: spend data is still good
            log.warning("costs unreadable; drift not updated", error=str(exc))
            return result
        first = self._first
        assert first is not None
        # completed days this process read from their start, settled long enough to be billed
        days = utc_days(
            first_day, today, lambda d: d >= first and d + DAY + cfg.reconcile_settle <= now
        )
        return self.drift.compare(result, billed(snap.rows), days, self.context)
