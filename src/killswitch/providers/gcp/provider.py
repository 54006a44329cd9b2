"""The ``gcp`` provider: budget notifications in, billing detach / service disable out."""

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
from killswitch.providers.gcp.clients import GcpClients, GcpHooks
from killswitch.providers.gcp.config import GcpConfig
from killswitch.providers.gcp.doctor import run
from killswitch.providers.gcp.source_pubsub import NAME, BudgetNotificationSource


@registry.provider
class GcpProvider(BuiltProvider[GcpConfig]):
    type = "gcp"
    config_model = GcpConfig
    source_names = (NAME,)
    capabilities = Capabilities(
        reads=[
            "gcp.budget-notifications: cost so far in the billing month of each Cloud Billing "
            "budget, from its Pub/Sub notifications, in the budget's currency",
        ],
        granularity="per budget, running month-to-date total",
        latency="Google publishes several times a day; its cost data lags usage by hours",
        scopes=["all", "budgets", "billing_accounts"],
        notes=[
            "billing months start at midnight Pacific time; monthly windows in other zones get "
            "the figure re-labelled (window_timezones)",
            "monthly GCP budgets only (quarterly, yearly and custom periods are rejected)",
            "gcp.detach-billing is irreversible-risk (resources may be deleted): needs "
            "allow_irreversible",
            "actions refuse the daemon's own project unless allow_own_project is set",
        ],
    )

    def setup(self) -> None:
        self.clients = GcpClients(self.cfg, self.context.hook(GcpHooks))

    def build_sources(self) -> Mapping[str, Source]:
        return {NAME: BudgetNotificationSource(self.cfg, self.clients)}

    async def doctor(self, actions: Sequence[Any]) -> list[DoctorFinding]:
        """Credentials, own project, and ``testIamPermissions`` on every resource we touch.

        Never pulls from the subscription: a doctor run must not take messages from the daemon.
        """
        return await run(self, actions)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.clients.close)
