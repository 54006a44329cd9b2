"""``openai.costs``: what OpenAI bills, per project and line item, per UTC day.

``GET /organization/costs`` (``bucket_width=1d``, ``group_by=project_id&group_by=line_item``)
gives ``amount.value`` as a float in dollars (not cents). Each (project, line item, day) becomes
a ``bucket`` observation with dims ``{project, line_item}``. There is no per-key cost here
(``group_by=api_key_id`` is in the spec but reported to answer 400 live): per-key budgets use
``openai.usage``. Negative lines (credits) are left out: they would lower spend, and a kill
switch errs on the side of seeing more spend, not less.

Reads go through :class:`CostReader`, shared with the usage source's reconciliation, so the
costs endpoint is read at most once per ``reconcile_interval`` whichever source asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog

from killswitch.errors import MalformedResponse
from killswitch.model import Coverage, Money, ObservationKind, PollResult, SpendObservation
from killswitch.providers._admin_api.costs import DAY, BilledReader, BilledSource, floor_day
from killswitch.providers.openai.client import COSTS_PATH, AdminAPI, unix
from killswitch.providers.openai.config import COSTS_PAGE_LIMIT
from killswitch.providers.openai.shapes import CostRow, cost_rows

log = structlog.get_logger("killswitch.providers.openai")
NAME = "openai.costs"


@dataclass(frozen=True, slots=True)
class CostSnapshot:
    rows: list[CostRow]
    start: datetime  # first day requested
    fetched_at: datetime


class CostReader(BilledReader[AdminAPI, CostSnapshot]):
    async def fetch(self, now: datetime, start: datetime) -> CostSnapshot:
        params: list[tuple[str, str | int]] = [
            ("start_time", unix(start)),
            ("bucket_width", "1d"),
            ("group_by", "project_id"),
            ("group_by", "line_item"),
            ("limit", COSTS_PAGE_LIMIT),
        ]
        pages = await self.api.report(COSTS_PATH, params)
        where = f"GET {COSTS_PATH}"
        for p in pages:
            for i, b in enumerate(p.data):
                if b.end - b.start != DAY:
                    raise MalformedResponse(f"{where}.data[{i}]: a bucket is not one day long")
        rows = []
        for r in cost_rows(pages, where):
            if r.amount < 0:
                log.warning("negative cost line left out", project=r.project, day=str(r.start))
                continue
            rows.append(r)
        return CostSnapshot(rows, start, now)

    async def month_to_date(self, project: str, now: datetime) -> Decimal:
        """Billed USD of one project since the start of the UTC month (lags real spend)."""
        start = floor_day(now).replace(day=1)
        params: list[tuple[str, str | int]] = [
            ("start_time", unix(start)),
            ("bucket_width", "1d"),
            ("project_ids", project),
            ("limit", 31),
        ]
        rows = cost_rows(await self.api.report(COSTS_PATH, params), f"GET {COSTS_PATH}")
        return sum((r.amount for r in rows if r.currency == "USD" and r.amount > 0), Decimal(0))


class CostsSource(BilledSource[CostSnapshot]):
    name = NAME

    def report(self, snap: CostSnapshot, now: datetime) -> PollResult:
        merged: dict[tuple[str, str, datetime, datetime, str], Decimal] = {}
        for r in snap.rows:
            k = (r.project, r.line_item, r.start, r.end, r.currency)
            merged[k] = merged.get(k, Decimal(0)) + r.amount
        obs = [
            SpendObservation(
                self.name,
                f"{project}|{line_item}|{currency}",
                ObservationKind.BUCKET,
                Money(amount, currency),
                snap.fetched_at,
                start,
                end,
                {"project": project, "line_item": line_item},
            )
            for (project, line_item, start, end, currency), amount in sorted(merged.items())
        ]
        # The snapshot is at most reconcile_interval old: what it did not bill, nothing has yet.
        cov = (Coverage(self.name, snap.start, now),)
        return PollResult(self.name, tuple(obs), coverage=cov, data_as_of=snap.fetched_at)
