"""``azure.budgets``: spend of each Consumption budget, as computed by Azure.

``GET {scope}/providers/Microsoft.Consumption/budgets`` returns, per budget, ``currentSpend``
(spend so far in the budget's current period, in its ``unit`` currency) and, sometimes,
``forecastSpend``. Each becomes a ``to_date`` observation for that calendar period (dims
``budget`` = the budget's name and ``budget_scope`` = its ARM scope), and the forecast and the
budget's own amount become gauges. A killswitch budget matches when its window is the same
calendar period in UTC (``window: monthly`` for a Monthly Azure budget).

Azure's cost data lands 8-24 h after use and budgets are re-evaluated about daily, so polls reuse
the last answer for ``budgets.min_interval`` and ``data_as_of`` is the read minus ``data_lag``.
Right after a period starts Azure may still show the previous period's figure; labelled with the
new period it could kill for a month on old spend, so during ``budgets.reset_grace`` a figure is
withheld (no data, never a guess) until it drops below the last one of the previous period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import ObservationKind, PollResult, SourceEvent, SpendObservation
from killswitch.providers.azure.clients import AzureClients, CachedSource
from killswitch.providers.azure.config import AzureConfig
from killswitch.providers.azure.periods import Period, current_period
from killswitch.providers.azure.shapes import BudgetReading, as_mapping, parse_budget

NAME = "azure.budgets"
FORECAST_GAUGE = "azure_budget_forecast_spend"
AMOUNT_GAUGE = "azure_budget_amount"
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Fetch:
    at: datetime
    budgets: tuple[BudgetReading, ...]


class BudgetsSource(CachedSource[Fetch]):
    name = NAME

    def __init__(self, cfg: AzureConfig, clients: AzureClients) -> None:
        super().__init__(cfg, clients)
        self._seen: dict[str, tuple[datetime, Decimal]] = {}  # id -> accepted period, amount
        self._announced: set[str] = set()  # events already returned by this process

    async def _list(self, scope: str) -> list[BudgetReading]:
        client = self.clients.consumption()
        what = f"list Consumption budgets at {scope}"
        raw = await self.clients.source_call(
            what,
            lambda: [
                as_mapping(b)
                for b in client.budgets.list(scope.lstrip("/"), raw_response_hook=_envelope)
            ],
        )
        return [parse_budget(item, f"{what}: value[{i}]") for i, item in enumerate(raw)]

    async def fetch(self, now: datetime) -> Fetch:
        if c := self._cached(now, self.cfg.budgets.min_interval):
            return c
        seen: dict[str, BudgetReading] = {}
        for scope in self.cfg.budget_scopes:
            for b in await self._list(scope):  # a subscription lists its groups' budgets too
                seen.setdefault(b.id.lower(), b)
        self._cache = Fetch(now, tuple(seen.values()))
        return self._cache

    def _accept(self, b: BudgetReading, period: Period, at: datetime) -> bool:
        """Is this figure surely the new period's? (see the module docstring)"""
        assert b.spend is not None
        amount = b.spend.amount
        prev = self._seen.get(b.id)
        ok = (
            at - period.start >= self.cfg.budgets.reset_grace
            or amount == 0
            or (prev is not None and prev[0] == period.start)
            or (prev is not None and prev[0] < period.start and amount < prev[1])
        )
        if ok:
            self._seen[b.id] = (period.start, amount)
        return ok

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            f = await self.fetch(now.astimezone(UTC))
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        obs: list[SpendObservation] = []
        events: list[SourceEvent] = []
        forecast: dict[Labels, Decimal] = {}
        amounts: dict[Labels, Decimal] = {}
        for b in f.budgets:
            if b.category.lower() != "cost":
                continue  # a Usage budget counts quantities, not money
            labels: Labels = (("budget", b.name), ("budget_scope", b.scope))
            if b.amount is not None:
                amounts[labels] = b.amount
            period = current_period(b.grain, b.start, b.end, f.at)
            if isinstance(period, str):
                events.append(_skipped(b, period, f.at))
                continue
            if b.forecast is not None:
                forecast[(*labels, ("currency", b.forecast.currency))] = b.forecast.amount
            if b.spend is None:
                events.append(_skipped(b, "Azure has not evaluated it yet", period.start))
                continue
            if not self._accept(b, period, f.at):
                events.append(_withheld(b, period, self.cfg.budgets.reset_grace))
                continue
            partial = b.start > period.start
            obs.append(
                SpendObservation(
                    self.name,
                    b.id,
                    ObservationKind.TO_DATE,
                    b.spend,
                    f.at,
                    period.start,
                    period.end,
                    dict(labels),
                    complete=not partial,
                    note=f"budget {b.name} starts {b.start.date()}, inside this period"
                    if partial
                    else "",
                )
            )
        return PollResult(
            self.name,
            tuple(obs),
            data_as_of=f.at - self.cfg.data_lag,
            gauges={FORECAST_GAUGE: forecast, AMOUNT_GAUGE: amounts},
            events=tuple(self._fresh(events)),
        )

    def _fresh(self, events: list[SourceEvent]) -> list[SourceEvent]:
        """Each fact once per process (the engine logs every event it is handed)."""
        out = [e for e in events if e.dedup_key not in self._announced]
        self._announced.update(e.dedup_key for e in out)
        return out


def _envelope(response: Any) -> None:
    """Every page must be ``{"value": [...]}``: the SDK reads anything else as "no budgets"."""
    http = response.http_response
    if http.status_code != 200:
        return  # the SDK raises its own error for it
    try:
        body = json.loads(http.text() or "null")
    except ValueError:
        raise MalformedResponse("budgets page is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise MalformedResponse("budgets page has no 'value' list")


def _skipped(b: BudgetReading, reason: str, when: datetime) -> SourceEvent:
    return SourceEvent(
        "azure_budget_skipped",
        f"azure-budget-skipped:{b.id}:{reason}:{when.date().isoformat()[:7]}",
        f"Azure budget {b.name} ({b.scope}) gives no spend: {reason}",
        {"budget": b.name, "scope": b.scope},
    )


def _withheld(b: BudgetReading, period: Period, grace: timedelta) -> SourceEvent:
    return SourceEvent(
        "azure_budget_withheld",
        f"azure-budget-withheld:{b.id}:{period.start.isoformat()}",
        f"Azure budget {b.name} ({b.scope}) reports {b.spend} at the start of the period from "
        f"{period.start.date()}; that may still be the previous period's figure, so it is not "
        f"used until it drops or {grace} pass",
        {"budget": b.name, "scope": b.scope},
    )
