"""``azure.cost-query``: month-to-date cost per resource (or per tag value) from Cost Management.

``POST {scope}/providers/Microsoft.CostManagement/query`` with a ``Custom`` time period from the
first of the UTC month to now, ``granularity: None`` and one grouping (``ResourceId`` or a
``TagKey``) gives one row per group: ``[cost, group..., currency]``. Each group becomes a
``to_date`` observation for the calendar month (dims ``resource`` and ``resource_group``, or
``tag``), so ``window: monthly`` budgets scope on them (``{resources: [...]}``, ``{each:
resource}``, ``{tags: [ml]}``). Resource ids are compared as Azure returns them (lower case).

Asking for an explicit range (rather than ``MonthToDate``) pins the month to the daemon's clock,
so late-arriving cost lands in the month it belongs to. Cost Management throttles queries and
refreshes every few hours: answers are reused for ``cost_query.min_interval``, and a group with no
row has no observation (no data, never $0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import (
    CurrencyMismatch,
    Money,
    ObservationKind,
    PollResult,
    SpendObservation,
)
from killswitch.providers.azure.clients import CachedSource
from killswitch.providers.azure.config import AzureConfig
from killswitch.providers.azure.periods import Period, month
from killswitch.providers.azure.shapes import CURRENCY, QueryPage, number, parse_query

NAME = "azure.cost-query"
ALIAS = "totalCost"
MAX_PAGES = 50


@dataclass(frozen=True, slots=True)
class Group:
    target: str
    dims: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Result:
    at: datetime
    period: Period
    costs: tuple[tuple[Group, Money], ...]


def definition(cfg: AzureConfig, period: Period, now: datetime) -> dict[str, Any]:
    """The QueryDefinition body (documented in the module docstring)."""
    q = cfg.cost_query
    column = "Cost"  # ActualCost and AmortizedCost both aggregate the Cost column
    grouping = (
        {"type": "TagKey", "name": q.tag} if q.tag else {"type": "Dimension", "name": "ResourceId"}
    )
    dataset: dict[str, Any] = {
        "granularity": "None",
        "aggregation": {ALIAS: {"name": column, "function": "Sum"}},
        "grouping": [grouping],
    }
    if q.resource_types:
        dataset["filter"] = {
            "dimensions": {
                "name": "ResourceType",
                "operator": "In",
                "values": list(q.resource_types),
            }
        }
    return {
        "type": q.cost_type,
        "timeframe": "Custom",
        "timePeriod": {
            "from": period.start.isoformat().replace("+00:00", "Z"),
            "to": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
        "dataset": dataset,
    }


def _column(page: QueryPage, names: tuple[str, ...], where: str) -> int:
    for n in names:
        for i, c in enumerate(page.columns):
            if c.lower() == n.lower():
                return i
    raise MalformedResponse(f"{where}: no {' or '.join(names)} column")


def _group(row: tuple[Any, ...], page: QueryPage, tag: str | None, where: str) -> Group:
    if tag is None:
        rid = row[_column(page, ("ResourceId",), where)]
        if not isinstance(rid, str):
            raise MalformedResponse(f"{where}: ResourceId is not a string")
        rid = rid or "(unassigned)"
        dims = [("resource", rid)]
        parts = rid.split("/")
        if len(parts) > 4 and parts[3].lower() == "resourcegroups":
            dims.append(("resource_group", parts[4]))
        return Group(rid, tuple(dims))
    value = row[_column(page, ("TagValue",), where)]
    if value is not None and not isinstance(value, str):
        raise MalformedResponse(f"{where}: TagValue is not a string")
    value = value or "(untagged)"
    return Group(f"tag:{tag}={value}", (("tag", value),))


def costs(pages: list[QueryPage], column: str, tag: str | None, where: str) -> dict[Group, Money]:
    out: dict[Group, Money] = {}
    for p, page in enumerate(pages):
        if not page.rows:
            continue
        w = f"{where} page {p}"
        cost_i = _column(page, (ALIAS, column), w)
        cur_i = _column(page, ("Currency", "BillingCurrency"), w)
        for r, row in enumerate(page.rows):
            cur = row[cur_i]
            if not isinstance(cur, str) or not CURRENCY.match(cur):
                raise MalformedResponse(f"{w} row {r}: Currency is not a currency code")
            amount = Money(number(row[cost_i], f"{w} row {r} cost"), cur)
            g = _group(row, page, tag, f"{w} row {r}")
            try:
                out[g] = out[g] + amount if g in out else amount
            except CurrencyMismatch:
                raise MalformedResponse(f"{w}: {g.target} is reported in two currencies") from None
    return out


class CostQuerySource(CachedSource[Result]):
    name = NAME

    def _pages(self, body: dict[str, Any], where: str) -> list[QueryPage]:
        from azure.core.rest import HttpRequest

        client = self.clients.costmanagement()
        scope = self.cfg.query_scope.lstrip("/")
        first = client.query.usage(scope, body)
        pages = [parse_query(first, where)]
        while pages[-1].next_link:
            if len(pages) >= MAX_PAGES:
                raise SourceError(f"{where}: more than {MAX_PAGES} pages; refusing to guess")
            resp = client.send_request(HttpRequest("POST", pages[-1].next_link, json=body))
            resp.raise_for_status()
            pages.append(parse_query(resp.json() if resp.status_code != 204 else None, where))
        return pages

    async def fetch(self, now: datetime) -> Result:
        if c := self._cached(now, self.cfg.cost_query.min_interval):
            return c
        period = month(now)
        body = definition(self.cfg, period, now)
        where = f"Cost Management query at {self.cfg.query_scope}"
        pages = await self.clients.source_call(where, lambda: self._pages(body, where))
        column = body["dataset"]["aggregation"][ALIAS]["name"]
        found = costs(pages, column, self.cfg.cost_query.tag, where)
        self._cache = Result(now, period, tuple(found.items()))
        return self._cache

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            r = await self.fetch(now.astimezone(UTC))
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        obs = tuple(
            SpendObservation(
                self.name,
                g.target,
                ObservationKind.TO_DATE,
                amount,
                r.at,
                r.period.start,
                r.period.end,
                dict(g.dims),
            )
            for g, amount in r.costs
        )
        return PollResult(self.name, obs, data_as_of=r.at - self.cfg.data_lag)
