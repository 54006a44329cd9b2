"""What we read from ARM, validated field by field.

The SDK models are lenient (a string where a number belongs passes through), so every field we
act on is checked here against the swagger's shape and a mismatch raises
:class:`MalformedResponse` naming the field: a spend figure we cannot read is an error, never $0,
and an account property we cannot read is no basis for an undo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse
from killswitch.model import Money, to_decimal
from killswitch.providers.azure.ids import resource_id

CURRENCY = re.compile(r"^[A-Z]{3}$")
_BUDGETS = "/providers/microsoft.consumption/budgets/"


def as_mapping(raw: Any) -> dict[str, Any]:
    """An SDK model or a dict -> the JSON object ARM sent."""
    if isinstance(raw, dict):
        return raw
    as_dict = getattr(raw, "as_dict", None)
    if callable(as_dict):
        out = as_dict()
        if isinstance(out, dict):
            return out
    raise MalformedResponse(f"expected a JSON object, got {type(raw).__name__}")


def _obj(parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    v = parent.get(key)
    if not isinstance(v, dict):
        raise MalformedResponse(f"{where}.{key} is missing or not an object")
    return v


def _str(parent: Mapping[str, Any], key: str, where: str) -> str:
    v = parent.get(key)
    if not isinstance(v, str) or not v:
        raise MalformedResponse(f"{where}.{key} is missing or not a string")
    return v


def number(v: Any, where: str) -> Decimal:
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise MalformedResponse(f"{where} is not a number")
    try:
        return to_decimal(v, field_name=where)
    except ValueError as exc:
        raise MalformedResponse(str(exc)) from None


def timestamp(v: Any, where: str) -> datetime:
    if not isinstance(v, str):
        raise MalformedResponse(f"{where} is not a date-time string")
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        raise MalformedResponse(f"{where}: {v!r} is not an ISO 8601 date-time") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def money(parent: Mapping[str, Any], key: str, where: str) -> Money | None:
    """``{amount: number, unit: "USD"}``; absent or null is None (not evaluated yet)."""
    v = parent.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise MalformedResponse(f"{where}.{key} is not an object")
    unit = v.get("unit")
    if not isinstance(unit, str) or not CURRENCY.match(unit):
        raise MalformedResponse(f"{where}.{key}.unit is not a currency code")
    amount = number(v.get("amount"), f"{where}.{key}.amount")
    if amount < 0:
        raise MalformedResponse(f"{where}.{key}.amount is negative")
    return Money(amount, unit)


@dataclass(frozen=True, slots=True)
class BudgetReading:
    """One Consumption budget as Azure reports it."""

    id: str
    name: str
    scope: str
    category: str
    grain: str
    start: datetime
    end: datetime | None
    spend: Money | None
    forecast: Money | None
    amount: Decimal | None


def parse_budget(raw: Any, where: str) -> BudgetReading:
    b = as_mapping(raw)
    name = _str(b, "name", where)
    rid = resource_id(_str(b, "id", where))
    cut = rid.lower().rfind(_BUDGETS)
    if cut < 0:
        raise MalformedResponse(f"{where}.id is not a Microsoft.Consumption budget id")
    props = _obj(b, "properties", where)
    p = f"{where}.properties"
    period = _obj(props, "timePeriod", p)
    end = period.get("endDate")
    amount = props.get("amount")
    return BudgetReading(
        id=rid,
        name=name,
        scope=rid[:cut],
        category=_str(props, "category", p),
        grain=_str(props, "timeGrain", p),
        start=timestamp(period.get("startDate"), f"{p}.timePeriod.startDate"),
        end=None if end is None else timestamp(end, f"{p}.timePeriod.endDate"),
        spend=money(props, "currentSpend", p),
        forecast=money(props, "forecastSpend", p),
        amount=None if amount is None else number(amount, f"{p}.amount"),
    )


@dataclass(frozen=True, slots=True)
class QueryPage:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    next_link: str | None


def parse_query(raw: Any, where: str) -> QueryPage:
    """A Cost Management ``QueryResult``: ``properties.columns``, ``rows``, ``nextLink``."""
    if raw is None:  # 204 No Content: nothing to report for the range
        return QueryPage((), (), None)
    q = as_mapping(raw)
    props = _obj(q, "properties", where)
    cols = props.get("columns")
    rows = props.get("rows")
    if not isinstance(cols, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in cols
    ):
        raise MalformedResponse(f"{where}.properties.columns is not a list of named columns")
    if not isinstance(rows, list) or not all(
        isinstance(r, list) and len(r) == len(cols) for r in rows
    ):
        raise MalformedResponse(
            f"{where}.properties.rows is not a list of rows with one value per column"
        )
    link = props.get("nextLink")
    if link is not None and not isinstance(link, str):
        raise MalformedResponse(f"{where}.properties.nextLink is not a string")
    return QueryPage(tuple(c["name"] for c in cols), tuple(tuple(r) for r in rows), link or None)


def disable_local_auth(raw: Any, where: str) -> bool | None:
    """``properties.disableLocalAuth`` of an account; None when never set (keys allowed)."""
    props = _obj(as_mapping(raw), "properties", where)
    v = props.get("disableLocalAuth")
    if v is not None and not isinstance(v, bool):
        raise MalformedResponse(f"{where}.properties.disableLocalAuth is not a boolean")
    return v


@dataclass(frozen=True, slots=True)
class DeploymentSku:
    name: str
    capacity: int


def deployment_sku(raw: Any, where: str) -> DeploymentSku:
    sku = _obj(as_mapping(raw), "sku", where)
    cap = sku.get("capacity")
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
        raise MalformedResponse(f"{where}.sku.capacity is missing or not a whole number")
    return DeploymentSku(_str(sku, "name", f"{where}.sku"), cap)
