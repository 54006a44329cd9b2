"""Every LiteLLM proxy shape killswitch relies on, in one place.

Read from the proxy's own OpenAPI document (``app.openapi()`` of ``litellm.proxy.proxy_server``,
litellm 1.108) and the endpoint code behind it. Each parser accepts the documented shape and
raises :class:`MalformedResponse` naming the field for anything else: a wrong answer is a loud
poll error, never $0.

Two facts decide how spend is read (both from the proxy's docstrings):

* ``spend`` on a key, team, user or end user is a *budget counter*: "When budget_duration is set
  this covers only the current budget window, not the key's lifetime" and it is set back to 0 at
  each reset. Without ``budget_duration`` it only grows: a lifetime counter.
* ``/user/daily/activity`` "reads daily spend records that only ever accumulate and are never
  affected by budget resets": per UTC day, per key and model. Its pages partition the
  underlying rows, each page aggregated on its own, so pages are summed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse
from killswitch.providers._admin_api.shapes import decimal, obj

# Float sums computed by the proxy can disagree in the last bits; below this they are equal.
EPSILON = Decimal("0.000001")


def usd(v: Any, where: str) -> Decimal:
    """A USD amount: a JSON number (the proxy's floats), finite and not negative."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise MalformedResponse(f"{where} is not a number")
    return decimal(v, where, negative="{where} is negative")


def optional_usd(v: Any, where: str) -> Decimal | None:
    return None if v is None else usd(v, where)


def text(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v:
        raise MalformedResponse(f"{where} is missing or not a string")
    return v


def optional_text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


# ---- entities with a spend counter: keys, teams, users, end users ----------------------------


@dataclass(frozen=True, slots=True)
class Entity:
    """One key, team, user or end user and its spend counter."""

    id: str
    spend: Decimal | None  # None: the proxy says null (allowed for teams): no data, not $0
    resets: bool  # budget_duration set: spend is a budget counter that goes back to 0
    dims: dict[str, str] = field(default_factory=dict)


def entity(item: Any, where: str, id_field: str, dims: dict[str, str]) -> Entity:
    """Parse one list item: ``id_field`` and ``spend`` required; ``dims`` maps fields to dims."""
    o = obj(item, where)
    ident = text(o.get(id_field), f"{where}.{id_field}")
    if "spend" not in o:
        raise MalformedResponse(f"{where}.spend is missing for {ident}")
    spend = optional_usd(o["spend"], f"{where}.spend")
    budget = o.get("litellm_budget_table")
    duration = o.get("budget_duration") or (
        budget.get("budget_duration") if isinstance(budget, dict) else None
    )
    out = {d: v for f, d in dims.items() if (v := optional_text(o.get(f)))}
    return Entity(ident, spend, bool(duration), out)


def page_items(body: Any, where: str, list_field: str | None) -> list[Any]:
    """The list in a list answer: the body itself, or ``body[list_field]``."""
    items = body if list_field is None else obj(body, where).get(list_field)
    if not isinstance(items, list):
        raise MalformedResponse(f"{where}: no {list_field or 'top-level'} list")
    return items


def total_pages(body: Any, where: str, field_name: str) -> int:
    n = obj(body, where).get(field_name)
    if n is None:  # /key/list declares it nullable; then the page length decides
        return -1
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise MalformedResponse(f"{where}.{field_name} is not a page count")
    return n


# ---- /user/daily/activity -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyMeta:
    alias: str | None = None
    team: str | None = None
    user: str | None = None


@dataclass(slots=True)
class DailySpend:
    """Spend per (UTC day, hashed key, model), summed over pages; model "" = not reported."""

    cells: dict[tuple[date, str, str], Decimal] = field(default_factory=dict)
    key_totals: dict[tuple[date, str], Decimal] = field(default_factory=dict)
    meta: dict[str, KeyMeta] = field(default_factory=dict)

    def add_page(self, body: Any, where: str) -> None:
        results = obj(body, where).get("results")
        if not isinstance(results, list):
            raise MalformedResponse(f"{where}: no results list")
        for i, r in enumerate(results):
            self._add_day(obj(r, f"{where}.results[{i}]"), f"{where}.results[{i}]")

    def _add_day(self, r: dict[str, Any], where: str) -> None:
        raw = r.get("date")
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            day = None
        if day is None:
            raise MalformedResponse(f"{where}.date is not a YYYY-MM-DD date")
        bd = obj(r.get("breakdown"), f"{where}.breakdown")
        for key, m in obj(bd.get("api_keys", {}), f"{where}.breakdown.api_keys").items():
            w = f"{where}.breakdown.api_keys[{key}]"
            spend = usd(obj(obj(m, w).get("metrics"), f"{w}.metrics").get("spend"), f"{w}.spend")
            self.key_totals[(day, key)] = self.key_totals.get((day, key), Decimal(0)) + spend
            self._meta(key, m.get("metadata"))
        for model, mm in obj(bd.get("models", {}), f"{where}.breakdown.models").items():
            w = f"{where}.breakdown.models[{model}]"
            per_key = obj(obj(mm, w).get("api_key_breakdown", {}), f"{w}.api_key_breakdown")
            for key, km in per_key.items():
                kw = f"{w}.api_key_breakdown[{key}]"
                metrics = obj(obj(km, kw).get("metrics"), f"{kw}.metrics")
                spend = usd(metrics.get("spend"), f"{kw}.spend")
                cell = (day, key, model)
                self.cells[cell] = self.cells.get(cell, Decimal(0)) + spend
                self._meta(key, km.get("metadata"))

    def _meta(self, key: str, raw: Any) -> None:
        if isinstance(raw, dict) and key not in self.meta:
            self.meta[key] = KeyMeta(
                optional_text(raw.get("key_alias")),
                optional_text(raw.get("team_id")),
                optional_text(raw.get("user_id")),
            )

    def finish(self) -> dict[tuple[date, str, str], Decimal]:
        """Cells per model, plus each key's spend no model accounts for (model "")."""
        out = dict(self.cells)
        by_key: dict[tuple[date, str], Decimal] = {}
        for (day, key, _), spend in self.cells.items():
            by_key[(day, key)] = by_key.get((day, key), Decimal(0)) + spend
        for (day, key), total in self.key_totals.items():
            rest = total - by_key.get((day, key), Decimal(0))
            if rest < -EPSILON:
                raise MalformedResponse(
                    f"/user/daily/activity {day}: key {key[:12]}... spends less in total than "
                    "its models do"
                )
            if rest > EPSILON:
                out[(day, key, "")] = rest
        for day, key in by_key.keys() - self.key_totals.keys():
            raise MalformedResponse(
                f"/user/daily/activity {day}: key {key[:12]}... spends on models but has no "
                "breakdown.api_keys entry"
            )
        return out


# ---- /key/info and /team/info (actions) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyInfo:
    blocked: bool
    spend: Decimal
    max_budget: Decimal | None
    budget_duration: str | None


def key_info(body: Any, where: str) -> KeyInfo:
    info = obj(obj(body, where).get("info"), f"{where}.info")
    blocked = info.get("blocked")
    if blocked is not None and not isinstance(blocked, bool):
        raise MalformedResponse(f"{where}.info.blocked is not a boolean")
    return KeyInfo(
        bool(blocked),
        usd(info.get("spend"), f"{where}.info.spend"),
        optional_usd(info.get("max_budget"), f"{where}.info.max_budget"),
        optional_text(info.get("budget_duration")),
    )


def team_blocked(body: Any, where: str) -> bool:
    info = obj(obj(body, where).get("team_info"), f"{where}.team_info")
    blocked = info.get("blocked", False)
    if not isinstance(blocked, bool):
        raise MalformedResponse(f"{where}.team_info.blocked is not a boolean")
    return blocked


def end_user_blocked(body: Any, where: str) -> bool:
    blocked = obj(body, where).get("blocked")
    if not isinstance(blocked, bool):  # required by CustomerResponse
        raise MalformedResponse(f"{where}.blocked is missing or not a boolean")
    return blocked
