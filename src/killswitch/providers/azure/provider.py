"""The ``azure`` provider: Consumption budgets and Cost Management in, Cognitive Services out."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.azure.arm import CognitiveArm
from killswitch.providers.azure.clients import AzureClients, AzureHooks
from killswitch.providers.azure.config import AzureConfig
from killswitch.providers.azure.doctor import run
from killswitch.providers.azure.source_budgets import NAME as BUDGETS
from killswitch.providers.azure.source_budgets import BudgetsSource
from killswitch.providers.azure.source_cost_query import NAME as COST_QUERY
from killswitch.providers.azure.source_cost_query import CostQuerySource


@registry.provider
class AzureProvider(BuiltProvider[AzureConfig]):
    type = "azure"
    config_model = AzureConfig
    source_names = (BUDGETS, COST_QUERY)
    capabilities = Capabilities(
        reads=[
            "azure.budgets: currentSpend of each Consumption budget (subscription or resource "
            "group scope) for its calendar month/quarter/year, in the budget's currency; "
            "forecastSpend as a gauge",
            "azure.cost-query: Cost Management month-to-date cost per resource or per tag value",
        ],
        granularity="running period-to-date totals",
        latency="Azure cost data lands 8-24 h after use; budgets are re-evaluated about daily",
        scopes=["all", "budgets", "budget_scopes", "resources", "resource_groups", "tags"],
        notes=[
            "only UTC calendar windows match (window: monthly for a Monthly budget)",
            "Billing{Month,Quarter,Annual} budgets follow a billing cycle Azure does not "
            "return: skipped with an event",
            "actions name their accounts/deployments by ARM id; azure.regenerate-keys is "
            "irreversible (needs allow_irreversible)",
        ],
    )

    def setup(self) -> None:
        self.clients = AzureClients(self.cfg, self.context.hook(AzureHooks))
        self.arm = CognitiveArm(self.cfg, self.clients)

    def build_sources(self) -> Mapping[str, Source]:
        return {
            BUDGETS: BudgetsSource(self.cfg, self.clients),
            COST_QUERY: CostQuerySource(self.cfg, self.clients),
        }

    async def doctor(self, actions: Sequence[Any]) -> list[DoctorFinding]:
        """Credentials, a read of each source, and the caller's permissions where ARM says."""
        return await run(self, actions)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.clients.close)
