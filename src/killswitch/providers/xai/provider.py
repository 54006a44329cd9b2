"""The ``xai`` provider: team spend from the Management API billing endpoints; key actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from killswitch.errors import SourceError
from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.xai.client import ManagementAPI
from killswitch.providers.xai.config import XaiConfig
from killswitch.providers.xai.source_billing import BillingSource


@registry.provider
class XaiProvider(BuiltProvider[XaiConfig]):
    type = "xai"
    config_model = XaiConfig
    source_names = ("xai.billing",)
    capabilities = Capabilities(
        reads=[
            "team USD spend in the current billing month (postpaid invoice preview)",
            "API keys with disabled/qps/qpm/tpm (exported as gauges)",
        ],
        granularity="per team, billing month to date (UTC); no per-key spend",
        latency="not documented by xAI",
        scopes=["all", "team"],
        notes=[
            "use window: monthly (UTC) on xai.billing; other windows have no data",
            "a team breach acts on every key of the team unless the action lists keys; "
            "list keys that must never stop under the action's exclude",
            "the key update body and the billing cycle fields are unverified (see "
            "providers/xai/shapes.py); updates are read back and fail loudly if they did not take",
        ],
    )

    def setup(self) -> None:
        self.api = ManagementAPI(self.cfg, self.context.http_transport)

    def build_sources(self) -> Mapping[str, Source]:
        return {"xai.billing": BillingSource(self.api)}

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        """Three cheap reads: the key itself, the team's keys, the invoice preview."""
        try:
            await self.api.validate()
        except SourceError as exc:
            return [DoctorFinding("management key", False, str(exc))]
        findings = [DoctorFinding("management key", True, "valid")]
        checks = (
            ("list API keys of the team (needed by the key actions)", self.api.keys),
            ("read the postpaid invoice preview (spend)", self.api.invoice_preview),
        )
        for check, call in checks:
            try:
                await call()
                findings.append(DoctorFinding(check, True, "ok"))
            except SourceError as exc:
                findings.append(DoctorFinding(check, False, str(exc)))
        return findings

    async def aclose(self) -> None:
        await self.api.aclose()
