"""LiteLLM proxy: spend per key, team, user, model and end user from its management API.

LiteLLM is the gateway teams put in front of providers that have no admin API of their own
(Groq, Mistral, DeepSeek, ...); it keeps a spend database, and its master key can block keys and
teams. So one plugin caps spend on every provider routed through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, SecretStr, field_validator

from killswitch.errors import SourceError
from killswitch.http import ProviderHTTP
from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    ProviderConfig,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.litellm.sources import COUNTERS, CounterSource, DailyActivitySource

MASTER_KEY = (
    "the proxy's master key, or a key with the proxy_admin role: reads spend of every key, "
    "team, user and end user; blocks and updates keys and teams"
)


class LiteLLMConfig(ProviderConfig):
    base_url: str = Field(description="the proxy's URL, e.g. http://litellm.internal:4000")
    master_key: SecretStr = Field(description="${env:LITELLM_MASTER_KEY} (or a proxy_admin key)")
    page_size: int = Field(
        default=1000, ge=1, le=1000, description="rows per /user/daily/activity page"
    )
    max_pages: int = Field(
        default=1000, ge=1, description="refuse to poll (stale) rather than read more pages"
    )

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v.rstrip("/")


@registry.provider
class LiteLLMProvider(BuiltProvider[LiteLLMConfig]):
    type = "litellm"
    config_model = LiteLLMConfig
    source_names = ("litellm.daily", *(f"litellm.{n}" for n in COUNTERS))
    capabilities = Capabilities(
        reads=[
            "litellm.daily: USD spend per UTC day x key x model (/user/daily/activity), with "
            "the key's team, user and alias (key_label) as dims",
            "litellm.keys, litellm.teams, litellm.users, litellm.end_users: each one's spend "
            "counter (lifetime; entities with a budget_duration are skipped: the proxy resets "
            "their spend)",
        ],
        granularity="daily buckets (UTC) per key x model; counters per entity",
        latency="spend is written by the proxy in batches (seconds to a minute)",
        scopes=["all", "key", "team", "user", "model", "key_label", "team_label", "end_user"],
        notes=[
            "routes Groq, Mistral, Cohere, DeepSeek, Together, ... (no admin API) through one "
            "gateway: see docs/providers/gateways.md",
        ],
    )

    def setup(self) -> None:
        secret = self.cfg.master_key.get_secret_value()
        self.http = ProviderHTTP(
            self.cfg.base_url,
            # The spec declares x-litellm-api-key; proxies older than that header read the
            # OpenAI-style Authorization header. Both carry the same key.
            headers={"x-litellm-api-key": f"Bearer {secret}", "authorization": f"Bearer {secret}"},
            timeout=self.cfg.timeout.total_seconds(),
            transport=self.context.http_transport,
        )

    def build_sources(self) -> Mapping[str, Source]:
        daily = DailyActivitySource(self.http, self.cfg.page_size, self.cfg.max_pages)
        sources: dict[str, Source] = {daily.name: daily}
        for n, spec in COUNTERS.items():
            sources[f"litellm.{n}"] = CounterSource(self.http, spec, self.cfg.max_pages)
        return sources

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        try:
            body: Any = await self.http.json("GET", "/key/list", params={"page": 1, "size": 1})
        except SourceError as exc:
            return [DoctorFinding("master key", False, str(exc))]
        ok = isinstance(body, dict) and isinstance(body.get("keys"), list)
        return [
            DoctorFinding(
                "master key (lists every key)",
                ok,
                "ok" if ok else "/key/list did not answer a key list: " + MASTER_KEY,
            )
        ]

    async def aclose(self) -> None:
        await self.http.aclose()
