"""Config of an ``anthropic`` provider entry.

The one rule that is not a plain default: Anthropic documents one Admin API poll per minute,
sustained. A ``poll_interval`` (or ``reconcile_interval``) below 60 s against Anthropic is a
config error, not something to discover as 429s in production. A loopback ``base_url`` (a test
stand-in or a recording proxy on this host) is not Anthropic, so it may poll faster.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from killswitch.durations import format_duration
from killswitch.plugins import ProviderConfig
from killswitch.providers._admin_api.config import Lookback, ReconcileInterval
from killswitch.providers._kit.validators import is_loopback as is_loopback_host

ANTHROPIC_MIN_INTERVAL = timedelta(seconds=60)
WIDTHS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# Documented maximum buckets per page for each width (Get Messages Usage Report, `limit`).
PAGE_LIMITS = {"1m": 1440, "1h": 168, "1d": 31}


def is_loopback(url: str) -> bool:
    """A base_url on this host (a test stand-in or recording proxy): not Anthropic."""
    return is_loopback_host(urlsplit(url).hostname)


class AnthropicConfig(ProviderConfig):
    admin_key: SecretStr = Field(
        description="an Admin API key (sk-ant-admin...): ${env:ANTHROPIC_ADMIN_KEY}"
    )
    base_url: str = "https://api.anthropic.com"
    bucket_width: Literal["1m", "1h", "1d"] = Field(
        default="1m",
        description="usage bucket width: 1m detects fastest; use 1h for weekly/monthly windows",
    )
    lookback: Lookback = timedelta(hours=1)
    reconcile_interval: ReconcileInterval = timedelta(minutes=10)
    reconcile_days: int = Field(
        default=2, ge=1, le=31, description="UTC days reconciled: today and the days before"
    )
    web_search_usd_per_1000: Decimal = Field(
        default=Decimal(10),
        ge=0,
        description="used only when the price book cannot price web searches (config overrides)",
    )

    @model_validator(mode="after")
    def _rate(self) -> AnthropicConfig:
        if is_loopback(self.base_url):
            return self
        for name in ("poll_interval", "reconcile_interval"):
            value: timedelta = getattr(self, name)
            if value < ANTHROPIC_MIN_INTERVAL:
                raise ValueError(
                    f"{name} is {format_duration(value)}, but Anthropic supports one Admin API "
                    "poll per minute sustained: use 60s or more"
                )
        return self

    @property
    def width(self) -> timedelta:
        return WIDTHS[self.bucket_width]

    @property
    def gate_interval(self) -> float:
        """Seconds per admin poll token: 60 against Anthropic, faster only on loopback."""
        if is_loopback(self.base_url):
            return min(self.poll_interval, ANTHROPIC_MIN_INTERVAL).total_seconds()
        return ANTHROPIC_MIN_INTERVAL.total_seconds()
