"""``anthropic.costs``: what Anthropic bills, per workspace and cost line, per UTC day.

``GET /v1/organizations/cost_report`` (bucket_width 1d, grouped by ``workspace_id`` and
``description``) gives amounts as decimal strings of cents. Each (workspace, description, day)
becomes a ``bucket`` observation with dims ``{workspace, description, model, cost_type,
token_type}``. There is no per-key cost (use ``anthropic.usage`` for keys). The report excludes
Priority Tier.

The report is read through :class:`CostReader`, shared with the usage source's reconciliation,
so both never read it twice within ``reconcile_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from killswitch.errors import SourceError
from killswitch.model import Coverage, Money, ObservationKind, PollResult, SpendObservation
from killswitch.providers._admin_api.costs import DAY, BilledReader, BilledSource
from killswitch.providers.anthropic.client import COST_PATH, AdminAPI, RateLimited
from killswitch.providers.anthropic.shapes import CostRow, bucket_spans, cost_rows

NAME = "anthropic.costs"


@dataclass(frozen=True, slots=True)
class CostSnapshot:
    rows: list[CostRow]
    start: datetime  # first day requested
    covered_until: datetime  # end of the last bucket returned (clamped to fetch time)
    fetched_at: datetime


class CostReader(BilledReader[AdminAPI, CostSnapshot]):
    async def fetch(self, now: datetime, start: datetime) -> CostSnapshot:
        params: list[tuple[str, str | int]] = [
            ("starting_at", start.isoformat().replace("+00:00", "Z")),
            ("bucket_width", "1d"),
            ("group_by[]", "workspace_id"),
            ("group_by[]", "description"),
            ("limit", 31),
        ]
        try:
            pages = await self.api.report(COST_PATH, params)
        except RateLimited:
            stale = self.cache.last  # held back by the gate: an older read that covers will do
            if stale is not None and stale.start <= start:
                return stale
            raise
        where = f"GET {COST_PATH}"
        rows = cost_rows(pages, where)
        spans = bucket_spans(pages, where)
        for s, e in spans:
            if e - s != DAY:
                raise SourceError(f"{where}: a bucket is not one day long")
        until = min(now, max((e for _, e in spans), default=start))
        return CostSnapshot(rows, start, until, now)


class CostsSource(BilledSource[CostSnapshot]):
    name = NAME

    def report(self, snap: CostSnapshot, now: datetime) -> PollResult:
        merged: dict[tuple[str, str, datetime], list[CostRow]] = {}
        for r in snap.rows:
            merged.setdefault((r.workspace, r.description or "total", r.start), []).append(r)
        obs = []
        for (ws, desc, _), rows in sorted(merged.items()):
            first = rows[0]
            dims = {"workspace": ws, "description": desc}
            for k in ("model", "cost_type", "token_type"):
                v = getattr(first, k)
                if v:
                    dims[k] = v
            if any(r.currency != first.currency for r in rows):
                return PollResult(self.name, error=f"{COST_PATH}: {ws}/{desc} mixes currencies")
            amount = Money(sum((r.amount for r in rows), Decimal(0)), first.currency)
            obs.append(
                SpendObservation(
                    self.name,
                    f"{ws}|{desc}",
                    ObservationKind.BUCKET,
                    amount,
                    snap.fetched_at,
                    first.start,
                    first.end,
                    dims,
                )
            )
        cov = (
            (Coverage(self.name, snap.start, snap.covered_until),)
            if snap.covered_until > snap.start
            else ()
        )
        return PollResult(self.name, tuple(obs), coverage=cov, data_as_of=snap.fetched_at)
