"""Token usage to USD, with genai-prices as the catalogue and config overrides on top.

The rule that shapes this module: a price we do not know is never zero. ``price()`` returns
``known=False`` and no amount when neither an override, the catalogue nor a configured fallback
knows the model; the source then marks its observation incomplete and the budget says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

MILLION = Decimal(1_000_000)


class ModelPrice(BaseModel):
    """USD per million tokens (config ``prices.<provider>.<model>``)."""

    model_config = ConfigDict(extra="forbid")

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(default=None, ge=0, description="cache reads")
    cache_write: Decimal | None = Field(default=None, ge=0, description="5-minute cache writes")
    cache_write_1h: Decimal | None = Field(default=None, ge=0)
    batch_discount: Decimal | None = Field(
        default=None, ge=0, le=1, description="fraction paid for batch requests (default 0.5)"
    )


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one usage bucket. ``input_tokens`` excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0  # includes reasoning tokens: providers bill them as output
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # 5-minute cache writes (Anthropic default TTL)
    cache_write_1h_tokens: int = 0
    input_audio_tokens: int = 0
    output_audio_tokens: int = 0
    web_searches: int = 0
    batch: bool = False

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if self.batch != other.batch:
            raise ValueError("cannot add batch and non-batch usage")
        values = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "batch"
        }
        return TokenUsage(**values, batch=self.batch)

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self) if f.name != "batch")


@dataclass(frozen=True, slots=True)
class PriceResult:
    amount: Decimal | None
    known: bool
    basis: str  # "override", "catalogue", "fallback", "unknown"


DEFAULT_BATCH_DISCOUNT = Decimal("0.5")


class PriceBook:
    """Prices for one deployment: config overrides per provider, then genai-prices, then "*"."""

    def __init__(self, overrides: Mapping[str, Mapping[str, ModelPrice]] | None = None) -> None:
        self._overrides = {p: dict(m) for p, m in (overrides or {}).items()}

    def price(
        self, provider: str, model: str, usage: TokenUsage, at: datetime | None = None
    ) -> PriceResult:
        if usage.empty:
            return PriceResult(Decimal(0), True, "empty")
        table = self._overrides.get(provider, {})
        if model in table:
            return PriceResult(_apply(table[model], usage), True, "override")
        catalogue = _catalogue(provider, model, usage, at)
        if catalogue is not None:
            return PriceResult(catalogue, True, "catalogue")
        if "*" in table:
            return PriceResult(_apply(table["*"], usage), True, "fallback")
        return PriceResult(None, False, "unknown")

    def knows(self, provider: str, model: str) -> bool:
        probe = TokenUsage(input_tokens=1)
        return self.price(provider, model, probe).known


def _apply(p: ModelPrice, u: TokenUsage) -> Decimal:
    cached = p.cached_input if p.cached_input is not None else p.input
    write = p.cache_write if p.cache_write is not None else p.input
    write_1h = p.cache_write_1h if p.cache_write_1h is not None else write
    total = (
        Decimal(u.input_tokens + u.input_audio_tokens) * p.input
        + Decimal(u.cache_read_tokens) * cached
        + Decimal(u.cache_write_tokens) * write
        + Decimal(u.cache_write_1h_tokens) * write_1h
        + Decimal(u.output_tokens + u.output_audio_tokens) * p.output
    ) / MILLION
    if u.batch:
        discount = p.batch_discount if p.batch_discount is not None else DEFAULT_BATCH_DISCOUNT
        total *= discount
    return total


_PROVIDER_IDS = {"aws": "aws", "bedrock": "aws", "xai": "x-ai", "openrouter": "openrouter"}


def _catalogue(provider: str, model: str, u: TokenUsage, at: datetime | None) -> Decimal | None:
    # Imported lazily: genai-prices loads its data snapshot on first use (~100 ms).
    from genai_prices import Usage, calc_price

    # genai-prices counts cache reads/writes inside input_tokens.
    usage_kwargs = {
        "input_tokens": u.input_tokens
        + u.cache_read_tokens
        + u.cache_write_tokens
        + u.cache_write_1h_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens + u.cache_write_1h_tokens,
    }
    if u.cache_write_1h_tokens:
        usage_kwargs["cache_write_1h_tokens"] = u.cache_write_1h_tokens
        usage_kwargs["cache_write_5m_tokens"] = u.cache_write_tokens
    if u.input_audio_tokens:
        usage_kwargs["input_tokens"] += u.input_audio_tokens
        usage_kwargs["input_audio_tokens"] = u.input_audio_tokens
    if u.output_audio_tokens:
        usage_kwargs["output_tokens"] += u.output_audio_tokens
        usage_kwargs["output_audio_tokens"] = u.output_audio_tokens
    if u.web_searches:
        usage_kwargs["web_searches"] = u.web_searches
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = calc_price(
                Usage(**usage_kwargs),
                model_ref=model,
                provider_id=_PROVIDER_IDS.get(provider, provider),
                genai_request_timestamp=at,
            )
    except (LookupError, ValueError):
        return None
    total = Decimal(str(result.total_price))
    if u.batch:
        total *= DEFAULT_BATCH_DISCOUNT
    return total
