"""OpenAI Admin API response shapes (``/work/shared/specs/openai/openapi.json``), checked at the edge.

Anything that does not match raises :class:`MalformedResponse` naming the field: a response we
cannot read must never become $0. Checks follow the spec's schemas (``UsageResponse``,
``UsageTimeBucket``, the ``Usage*Result`` / ``CostsResult`` members of its ``oneOf``,
``ProjectSpendLimitResource``, ``ProjectRateLimit``, ``Project``) and are a little stricter where
money depends on it: a bucket of a usage endpoint must hold that endpoint's result type only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse
from killswitch.pricing import TokenUsage
from killswitch.providers._admin_api import shapes as admin_shapes
from killswitch.providers._admin_api.shapes import (
    count,
    decimal,
    envelope,
    listing,
    obj,
    opt_count,
    opt_str,
    span,
)

NO_PROJECT = "no-project"  # project_id null although grouped: not a project we can act on
NO_KEY = "no-key"  # api_key_id null (e.g. usage without an API key)
NO_MODEL = "unknown"

RESULT_OBJECTS = {
    "completions": "organization.usage.completions.result",
    "embeddings": "organization.usage.embeddings.result",
    "audio_speeches": "organization.usage.audio_speeches.result",
    "audio_transcriptions": "organization.usage.audio_transcriptions.result",
    "images": "organization.usage.images.result",
    "costs": "organization.costs.result",
}
# The unit each non-token usage type is counted in (its required field in the spec).
UNIT_FIELDS = {
    "audio_speeches": "characters",
    "audio_transcriptions": "seconds",
    "images": "images",
}
RATE_LIMIT_FIELDS = (
    "max_requests_per_1_minute",
    "max_tokens_per_1_minute",
    "max_images_per_1_minute",
    "max_audio_megabytes_per_1_minute",
    "max_requests_per_1_day",
    "batch_1_day_max_input_tokens",
)


def unix(v: Any, where: str) -> datetime:
    if isinstance(v, bool) or not isinstance(v, int):
        raise MalformedResponse(f"{where} is not a Unix timestamp (integer seconds)")
    return datetime.fromtimestamp(v, UTC)


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime
    end: datetime
    results: list[dict[str, Any]]


Page = admin_shapes.Page[Bucket]  # a usage or costs report page


def page(body: Any, where: str) -> Page:
    """A ``UsageResponse``: ``{object: page, data: [bucket], has_more, next_page}``."""
    b = obj(body, where)
    if "error" in b:
        raise MalformedResponse(f"{where}: the API answered with an error object")
    if b.get("object") != "page":
        raise MalformedResponse(f"{where}: object is not 'page'")
    return envelope(b, where, next_required=True).checked(bucket, where)


def bucket(v: Any, where: str) -> Bucket:
    b = obj(v, where)
    if b.get("object") != "bucket":
        raise MalformedResponse(f"{where}: object is not 'bucket'")
    start, end, results = span(b, where, ("start_time", "end_time"), unix)
    return Bucket(start, end, [obj(r, f"{where}.results[{j}]") for j, r in enumerate(results)])


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One usage result, with what its price depends on."""

    usage_type: str
    start: datetime
    end: datetime
    project: str
    key: str
    model: str
    tokens: TokenUsage | None = None  # completions, embeddings
    units: int = 0  # characters, seconds or images for the other types
    size: str | None = None  # images
    service_tier: str | None = None
    image_tokens: int = 0  # priced at text rates: the price book has no image rates


def _dims(r: dict[str, Any], where: str) -> tuple[str, str, str]:
    project = opt_str(r.get("project_id"), f"{where}.project_id") or NO_PROJECT
    key = opt_str(r.get("api_key_id"), f"{where}.api_key_id") or NO_KEY
    model = opt_str(r.get("model"), f"{where}.model") or NO_MODEL
    return project, key, model


def completions_tokens(r: dict[str, Any], where: str) -> tuple[TokenUsage, int]:
    """Split a completions result into what is billed at different rates.

    ``input_tokens`` includes cached and cache-write tokens; ``input_audio_tokens`` and
    ``input_image_tokens`` are the uncached audio/image parts; ``output_tokens`` includes audio
    (and reasoning) output. When the parts disagree with the total, the larger reading of
    uncached input is used: an over-estimate is safe, an under-estimate is not.
    """
    total_in = count(r.get("input_tokens"), f"{where}.input_tokens")
    total_out = count(r.get("output_tokens"), f"{where}.output_tokens")
    cached = opt_count(r, "input_cached_tokens", where)
    write = opt_count(r, "input_cache_write_tokens", where)
    uncached = max(opt_count(r, "input_uncached_tokens", where), total_in - cached - write, 0)
    audio_in = opt_count(r, "input_audio_tokens", where)
    image_in = opt_count(r, "input_image_tokens", where)
    audio_out = opt_count(r, "output_audio_tokens", where)
    if audio_in > uncached:
        raise MalformedResponse(f"{where}: input_audio_tokens exceed the uncached input")
    if audio_out > total_out:
        raise MalformedResponse(f"{where}: output_audio_tokens exceed output_tokens")
    batch = r.get("batch")
    if batch is not None and not isinstance(batch, bool):
        raise MalformedResponse(f"{where}.batch is not a boolean or null")
    usage = TokenUsage(
        input_tokens=uncached - audio_in,
        cache_read_tokens=cached,
        cache_write_tokens=write,
        input_audio_tokens=audio_in,
        output_tokens=total_out - audio_out,
        output_audio_tokens=audio_out,
        batch=bool(batch),
    )
    return usage, image_in + opt_count(r, "output_image_tokens", where)


def usage_row(usage_type: str, b: Bucket, r: dict[str, Any], where: str) -> UsageRow:
    want = RESULT_OBJECTS[usage_type]
    if r.get("object") != want:
        raise MalformedResponse(f"{where}: object is {r.get('object')!r}, expected {want!r}")
    count(r.get("num_model_requests"), f"{where}.num_model_requests")
    project, key, model = _dims(r, where)
    row = UsageRow(usage_type, b.start, b.end, project, key, model)
    if usage_type == "completions":
        tokens, image_tokens = completions_tokens(r, where)
        tier = opt_str(r.get("service_tier"), f"{where}.service_tier")
        return replace(row, tokens=tokens, service_tier=tier, image_tokens=image_tokens)
    if usage_type == "embeddings":
        n = count(r.get("input_tokens"), f"{where}.input_tokens")
        return replace(row, tokens=TokenUsage(input_tokens=n))
    unit = UNIT_FIELDS[usage_type]
    units = count(r.get(unit), f"{where}.{unit}")
    size = opt_str(r.get("size"), f"{where}.size") if usage_type == "images" else None
    return replace(row, units=units, size=size)


def results(pages: list[Page], where: str) -> Iterator[tuple[Bucket, dict[str, Any], str]]:
    """Every result of every bucket, with its bucket and where it stands."""
    for p in pages:
        for i, b in enumerate(p.data):
            for j, r in enumerate(b.results):
                yield b, r, f"{where}.data[{i}].results[{j}]"


def usage_rows(usage_type: str, pages: list[Page], where: str) -> list[UsageRow]:
    return [usage_row(usage_type, b, r, w) for b, r, w in results(pages, where)]


@dataclass(frozen=True, slots=True)
class CostRow:
    start: datetime
    end: datetime
    project: str
    line_item: str
    amount: Decimal  # in `currency` units (USD)
    currency: str


def cost_row(b: Bucket, r: dict[str, Any], where: str) -> CostRow:
    want = RESULT_OBJECTS["costs"]
    if r.get("object") != want:
        raise MalformedResponse(f"{where}: object is {r.get('object')!r}, expected {want!r}")
    amount = obj(r.get("amount"), f"{where}.amount")
    value = amount.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"{where}.amount.value is not a number")
    currency = amount.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise MalformedResponse(f"{where}.amount.currency is not a currency code")
    usd = decimal(value, f"{where}.amount.value")
    return CostRow(
        start=b.start,
        end=b.end,
        project=opt_str(r.get("project_id"), f"{where}.project_id") or NO_PROJECT,
        line_item=opt_str(r.get("line_item"), f"{where}.line_item") or "total",
        amount=usd,
        currency=currency.upper(),
    )


def cost_rows(pages: list[Page], where: str) -> list[CostRow]:
    return [cost_row(b, r, w) for b, r, w in results(pages, where)]


@dataclass(frozen=True, slots=True)
class SpendLimit:
    threshold_cents: int
    currency: str
    interval: str
    enforcing: bool

    def body(self) -> dict[str, Any]:
        return {
            "threshold_amount": self.threshold_cents,
            "currency": self.currency,
            "interval": self.interval,
        }


def spend_limit(body: Any, where: str) -> SpendLimit:
    """A ``ProjectSpendLimitResource``."""
    b = obj(body, where)
    if b.get("object") != "project.spend_limit":
        raise MalformedResponse(f"{where}: object is not 'project.spend_limit'")
    cents = count(b.get("threshold_amount"), f"{where}.threshold_amount")
    currency, interval = b.get("currency"), b.get("interval")
    if not isinstance(currency, str) or not isinstance(interval, str):
        raise MalformedResponse(f"{where}: currency or interval is not a string")
    enforcement = obj(b.get("enforcement"), f"{where}.enforcement")
    return SpendLimit(cents, currency, interval, enforcement.get("status") == "enforcing")


ListPage = admin_shapes.Page[dict[str, Any]]  # an ``{object: list}`` page; cursor: last_id


def list_page(body: Any, where: str) -> ListPage:
    """The ``{object: list, data, first_id, last_id, has_more}`` envelope."""
    b = obj(body, where)
    if b.get("object") != "list":
        raise MalformedResponse(f"{where}: object is not 'list'")
    data, has_more = listing(b, where)
    items = [obj(x, f"{where}.data[{i}]") for i, x in enumerate(data)]
    last = opt_str(b.get("last_id"), f"{where}.last_id")
    if last is None and items:
        last = opt_str(items[-1].get("id"), f"{where}.data[-1].id")
    if has_more and not last:
        raise MalformedResponse(f"{where}: has_more is true but there is no last_id to page from")
    return ListPage(items, has_more, last)


def rate_limit(item: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """A ``ProjectRateLimit`` -> (id, {"model": ..., <max_* field>: int, ...})."""
    if item.get("object") != "project.rate_limit":
        raise MalformedResponse(f"{where}: object is not 'project.rate_limit'")
    rid = item.get("id")
    model = item.get("model")
    if not isinstance(rid, str) or not rid or not isinstance(model, str):
        raise MalformedResponse(f"{where}: id or model is missing")
    out: dict[str, Any] = {"model": model}
    for f in RATE_LIMIT_FIELDS:
        if f in item and item[f] is not None:
            out[f] = count(item[f], f"{where}.{f}")
    for f in RATE_LIMIT_FIELDS[:2]:
        if f not in out:
            raise MalformedResponse(f"{where}.{f} is missing")
    return rid, out


def project_archived(body: Any, where: str) -> bool:
    """Whether a ``Project`` is archived (``status`` or ``archived_at`` says so)."""
    b = obj(body, where)
    if b.get("object") != "organization.project" or not isinstance(b.get("id"), str):
        raise MalformedResponse(f"{where}: not an organization.project")
    status = opt_str(b.get("status"), f"{where}.status")
    archived_at = b.get("archived_at")
    if archived_at is not None and (
        isinstance(archived_at, bool) or not isinstance(archived_at, int)
    ):
        raise MalformedResponse(f"{where}.archived_at is not a timestamp or null")
    return status == "archived" or archived_at is not None
