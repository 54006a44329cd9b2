"""Documented Admin API response shapes, validated at the edge.

Built from Anthropic's API reference (platform.claude.com/docs/en/api/admin/...: "Get Messages
Usage Report", "Get Cost Report") and the anthropic-sdk-python types
(``src/anthropic/types/beta/organization/beta_api_key.py``, ``beta_workspace.py``). Anything
that does not match raises :class:`MalformedResponse` naming the field: a response we cannot read
must never become $0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse
from killswitch.model import utc
from killswitch.providers._admin_api import shapes as admin_shapes
from killswitch.providers._admin_api.shapes import count, decimal, envelope, obj, opt_str, span

WORKBENCH = "workbench"  # api_key_id is null for usage in the Console Workbench (no API key)
DEFAULT_WORKSPACE = "default"  # workspace_id is null for the organization's default workspace


def timestamp(v: Any, where: str) -> datetime:
    if not isinstance(v, str):
        raise MalformedResponse(f"{where} is not an RFC 3339 string")
    try:
        return utc(datetime.fromisoformat(v))
    except ValueError:
        raise MalformedResponse(f"{where} is not an RFC 3339 timestamp with a zone") from None


Page = admin_shapes.Page[dict[str, Any]]  # a report page; bucket spans are checked when read


def page(body: Any, where: str) -> Page:
    """The ``{data, has_more, next_page}`` envelope shared by both reports."""
    return envelope(obj(body, where), where).checked(obj, where)


def bucket_span(bucket: dict[str, Any], where: str) -> tuple[datetime, datetime, list[Any]]:
    return span(bucket, where, ("starting_at", "ending_at"), timestamp)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One result of a usage bucket. Token counts are what Anthropic bills separately."""

    start: datetime
    end: datetime
    key: str
    workspace: str
    model: str | None
    service_tier: str | None
    context_window: str | None
    uncached_input: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    output: int
    web_searches: int


def usage_row(r: Any, start: datetime, end: datetime, where: str) -> UsageRow:
    r = obj(r, where)
    cc = obj(r.get("cache_creation"), f"{where}.cache_creation")
    stu = obj(r.get("server_tool_use"), f"{where}.server_tool_use")
    key = opt_str(r.get("api_key_id"), f"{where}.api_key_id")
    ws = opt_str(r.get("workspace_id"), f"{where}.workspace_id")
    return UsageRow(
        start=start,
        end=end,
        key=key or WORKBENCH,
        workspace=ws or DEFAULT_WORKSPACE,
        model=opt_str(r.get("model"), f"{where}.model"),
        service_tier=opt_str(r.get("service_tier"), f"{where}.service_tier"),
        context_window=opt_str(r.get("context_window"), f"{where}.context_window"),
        uncached_input=count(r.get("uncached_input_tokens"), f"{where}.uncached_input_tokens"),
        cache_read=count(r.get("cache_read_input_tokens"), f"{where}.cache_read_input_tokens"),
        cache_write_5m=count(
            cc.get("ephemeral_5m_input_tokens"), f"{where}.cache_creation.ephemeral_5m_input_tokens"
        ),
        cache_write_1h=count(
            cc.get("ephemeral_1h_input_tokens"), f"{where}.cache_creation.ephemeral_1h_input_tokens"
        ),
        output=count(r.get("output_tokens"), f"{where}.output_tokens"),
        web_searches=count(
            stu.get("web_search_requests"), f"{where}.server_tool_use.web_search_requests"
        ),
    )


def results(pages: list[Page], where: str) -> Iterator[tuple[datetime, datetime, Any, str]]:
    """Every result of every bucket: its bucket's span, the result, and where it stands."""
    for p in pages:
        for i, b in enumerate(p.data):
            start, end, rs = bucket_span(b, f"{where}.data[{i}]")
            for j, r in enumerate(rs):
                yield start, end, r, f"{where}.data[{i}].results[{j}]"


def usage_rows(pages: list[Page], where: str) -> list[UsageRow]:
    return [usage_row(r, start, end, w) for start, end, r, w in results(pages, where)]


def bucket_spans(pages: list[Page], where: str) -> list[tuple[datetime, datetime]]:
    return [bucket_span(b, f"{where}.data[{i}]")[:2] for p in pages for i, b in enumerate(p.data)]


def cents(v: Any, where: str) -> Decimal:
    """A cost ``amount``: a decimal STRING in cents ("123.45" is $1.2345). Returns USD."""
    if not isinstance(v, str):
        raise MalformedResponse(f"{where} is not a decimal string of cents")
    negative = "{where} is negative; refusing to let it reduce spend"
    return decimal(v, where, negative=negative) / 100


@dataclass(frozen=True, slots=True)
class CostRow:
    start: datetime
    end: datetime
    workspace: str
    description: str | None
    cost_type: str | None
    model: str | None
    token_type: str | None
    amount: Decimal  # in `currency` units (USD), already converted from cents
    currency: str


def cost_row(r: Any, start: datetime, end: datetime, where: str) -> CostRow:
    r = obj(r, where)
    currency = r.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise MalformedResponse(f"{where}.currency is not a currency code")
    return CostRow(
        start=start,
        end=end,
        workspace=opt_str(r.get("workspace_id"), f"{where}.workspace_id") or DEFAULT_WORKSPACE,
        description=opt_str(r.get("description"), f"{where}.description"),
        cost_type=opt_str(r.get("cost_type"), f"{where}.cost_type"),
        model=opt_str(r.get("model"), f"{where}.model"),
        token_type=opt_str(r.get("token_type"), f"{where}.token_type"),
        amount=cents(r.get("amount"), f"{where}.amount"),
        currency=currency.upper(),
    )


def cost_rows(pages: list[Page], where: str) -> list[CostRow]:
    return [cost_row(r, start, end, w) for start, end, r, w in results(pages, where)]


API_KEY_STATUSES = frozenset({"active", "inactive", "archived", "expired"})


def api_key_status(body: Any, where: str) -> str:
    """``status`` of an API key object (BetaAPIKey: active|inactive|archived|expired)."""
    b = obj(body, where)
    status = b.get("status")
    if status not in API_KEY_STATUSES:
        raise MalformedResponse(f"{where}.status is not one of {sorted(API_KEY_STATUSES)}")
    return str(status)


def workspace_archived(body: Any, where: str) -> bool:
    """Whether a Workspace object is archived (``archived_at`` set)."""
    b = obj(body, where)
    if "archived_at" not in b:
        raise MalformedResponse(f"{where}: no 'archived_at'")
    return opt_str(b["archived_at"], f"{where}.archived_at") is not None
