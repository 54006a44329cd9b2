"""Config of an ``openai`` provider entry.

Two choices here shape everything downstream:

* ``resolution`` is the width of the spend buckets the usage source emits. ``1h`` (default) keeps
  the ledger small (a monthly budget is ~720 buckets per key and model, not ~44,000) while the
  current hours are still read minute by minute, so detection is as fast as with ``1m``. Pick
  ``1m`` for ``rolling:``/``interval:`` windows shorter than a few hours or budgets in zones
  with a half-hour UTC offset: a bucket that straddles a window start is not counted in it.
* The width never changes within a deployment's history: emitted buckets of one width never
  overlap buckets of another, so a restart cannot count the same spend twice.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from killswitch.durations import Duration
from killswitch.plugins import ProviderConfig
from killswitch.providers._admin_api.config import Lookback, ReconcileInterval

UsageType = Literal["completions", "embeddings", "audio_speeches", "audio_transcriptions", "images"]
ALL_USAGE_TYPES: tuple[UsageType, ...] = (
    "completions",
    "embeddings",
    "audio_speeches",
    "audio_transcriptions",
    "images",
)
RESOLUTIONS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1)}
# Documented maximum buckets per page (`limit`) for each usage bucket width.
USAGE_PAGE_LIMITS = {"1m": 1440, "1h": 168, "1d": 31}
COSTS_PAGE_LIMIT = 180


class UnitPrices(BaseModel):
    """USD prices of usage the API reports in units other than tokens (config overrides these).

    Keys are model ids, optionally ``model:size`` for images, or ``"*"`` as a fallback. Defaults
    are OpenAI's published list prices; image quality is not in the usage data, so image
    defaults are the HD (dearest) price of each size: an over-estimate, never an under-estimate.
    """

    model_config = ConfigDict(extra="forbid")

    audio_speeches: dict[str, Decimal] = Field(
        default_factory=dict, description="USD per 1M characters (TTS)"
    )
    audio_transcriptions: dict[str, Decimal] = Field(
        default_factory=dict, description="USD per minute of audio"
    )
    images: dict[str, Decimal] = Field(default_factory=dict, description="USD per image")


DEFAULT_UNIT_PRICES: dict[str, dict[str, Decimal]] = {
    "audio_speeches": {
        "tts-1": Decimal(15),
        "tts-1-1106": Decimal(15),
        "tts-1-hd": Decimal(30),
        "tts-1-hd-1106": Decimal(30),
    },
    "audio_transcriptions": {
        "whisper-1": Decimal("0.006"),
        "gpt-4o-transcribe": Decimal("0.006"),  # OpenAI's published per-minute estimate
        "gpt-4o-mini-transcribe": Decimal("0.003"),
    },
    "images": {
        "dall-e-2": Decimal("0.02"),
        "dall-e-2:256x256": Decimal("0.016"),
        "dall-e-2:512x512": Decimal("0.018"),
        "dall-e-2:1024x1024": Decimal("0.02"),
        "dall-e-3": Decimal("0.12"),
        "dall-e-3:1024x1024": Decimal("0.08"),
        "dall-e-3:1024x1792": Decimal("0.12"),
        "dall-e-3:1792x1024": Decimal("0.12"),
    },
}


class OpenAIConfig(ProviderConfig):
    admin_key: SecretStr = Field(description="an Admin API key (sk-admin-...): ${env:NAME}")
    base_url: str = "https://api.openai.com/v1"
    resolution: Literal["1h", "1m"] = Field(
        default="1h", description="width of emitted usage buckets (see the provider docs)"
    )
    usage_types: tuple[UsageType, ...] = Field(
        default=ALL_USAGE_TYPES, min_length=1, description="usage endpoints read and priced"
    )
    lookback: Lookback = timedelta(hours=1)
    reconcile: bool = Field(default=True, description="compare usage x price with billed costs")
    reconcile_interval: ReconcileInterval = timedelta(minutes=10)
    reconcile_days: int = Field(
        default=2, ge=1, le=31, description="completed UTC days reconciled (yesterday and before)"
    )
    reconcile_settle: Duration = Field(
        default=timedelta(hours=6),
        description="a day is reconciled only this long after it ends: billed costs land late",
    )
    service_tier_multipliers: dict[str, Decimal] = Field(
        default_factory=lambda: {"flex": Decimal("0.5"), "priority": Decimal(2)},
        description="price factor per service_tier; unlisted tiers pay standard rates",
    )
    unit_prices: UnitPrices = Field(default_factory=UnitPrices)
    page_interval: float = Field(
        default=0.2, ge=0, description="seconds between admin API requests (undocumented limits)"
    )
    keys_project: str | None = Field(
        default=None,
        description="the project `killswitch keys create` makes service accounts in (proj_...)",
    )

    @field_validator("service_tier_multipliers")
    @classmethod
    def _tiers(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        for tier, factor in v.items():
            if factor <= 0:
                raise ValueError(f"service_tier_multipliers.{tier} must be above 0")
        return v

    @property
    def width(self) -> timedelta:
        return RESOLUTIONS[self.resolution]

    def unit_price(self, usage_type: str, model: str, size: str | None = None) -> Decimal | None:
        """Config first, then the defaults; ``model:size`` before ``model`` before ``"*"``."""
        configured: dict[str, Decimal] = getattr(self.unit_prices, usage_type, {})
        defaults = DEFAULT_UNIT_PRICES.get(usage_type, {})
        keys = ([f"{model}:{size}"] if size else []) + [model]
        for table in (configured, defaults):
            for k in keys:
                if k in table:
                    return table[k]
        return configured.get("*")
