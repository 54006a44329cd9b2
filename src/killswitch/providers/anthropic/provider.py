"""The ``anthropic`` provider: Admin API usage and cost reports; key and workspace actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from killswitch.errors import MalformedResponse, SourceError
from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.anthropic.client import KEYS_PATH, WORKSPACES_PATH, AdminAPI
from killswitch.providers.anthropic.config import AnthropicConfig
from killswitch.providers.anthropic.source_costs import CostReader, CostsSource
from killswitch.providers.anthropic.source_usage import UsageSource


@registry.provider
class AnthropicProvider(BuiltProvider[AnthropicConfig]):
    type = "anthropic"
    config_model = AnthropicConfig
    source_names = ("anthropic.usage", "anthropic.costs")
    capabilities = Capabilities(
        reads=[
            "anthropic.usage: per key/workspace/model token usage x price (estimate), 1m buckets",
            "anthropic.costs: billed USD per workspace and cost line, daily",
        ],
        granularity="usage: 1 minute per key; costs: 1 day per workspace (no per-key cost)",
        latency="usage and cost data typically land within 5 minutes; polled at most 1/min",
        scopes=["all", "key", "keys", "workspace", "workspaces", "model", "models"],
        notes=[
            "poll_interval below 60s is refused: Anthropic allows one Admin API poll per minute",
            "Workbench usage has no API key: it appears as key 'workbench' and cannot be "
            "deactivated; the default workspace appears as 'default'",
            "estimate_drift_usd{workspace,day} = usage x price - cost report, per UTC day",
            "Priority Tier is absent from the cost report and priced at standard rates in usage",
            "weekly/monthly budgets: set bucket_width: 1h (a month of 1m buckets is ~43k per "
            "key, workspace and model)",
        ],
    )

    def setup(self) -> None:
        self.api = AdminAPI(self.cfg, self.context.http_transport)
        self.costs = CostReader(self.api, self.cfg.reconcile_interval)

    def build_sources(self) -> Mapping[str, Source]:
        return {
            "anthropic.usage": UsageSource(self.api, self.cfg, self.context, self.costs),
            "anthropic.costs": CostsSource(self.costs),
        }

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        """One cheap read per capability instead of polling the rate-limited reports."""
        findings = []
        try:
            await self._list(KEYS_PATH)
            findings.append(DoctorFinding("admin key (list API keys)", True, "key accepted"))
        except SourceError as exc:
            hint = " (an Admin API key sk-ant-admin... is needed)" if "401" in str(exc) else ""
            return [DoctorFinding("admin key (list API keys)", False, f"{exc}{hint}")]
        if "anthropic.archive-workspace" in actions:
            try:
                await self._list(WORKSPACES_PATH)
                findings.append(DoctorFinding("list workspaces", True, "ok"))
            except SourceError as exc:
                findings.append(DoctorFinding("list workspaces", False, str(exc)))
        return findings

    async def _list(self, path: str) -> None:
        body = await self.api.http.json("GET", path, params={"limit": 1})
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise MalformedResponse(f"GET {path}: no 'data' list")

    async def aclose(self) -> None:
        await self.api.aclose()
