"""The ``ingest`` provider: spend that apps and gateways push, kept in the state database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    Service,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.ingest.config import IngestConfig
from killswitch.providers.ingest.listener import Intake, Listener
from killswitch.providers.ingest.source import EventSource


@registry.provider
class IngestProvider(BuiltProvider[IngestConfig]):
    type = "ingest"
    config_model = IngestConfig
    sources_from_config = "one, named by source: (default: events)"
    capabilities = Capabilities(
        reads=[
            "events pushed to POST /v1/spend (bearer token, optional HMAC signature): "
            "amount+currency, or model+tokens priced with genai-prices; per-minute buckets"
        ],
        granularity="per event, summed per minute and set of dims",
        latency="as soon as pushed (the next poll, default 10s)",
        scopes=["all", "any dimension the events carry (dims:)"],
        notes=[
            "reads only: no actions of its own; pair its budgets with the generic webhook action",
            "stored in the state database before the 200; idempotent on event id",
            "plain HTTP on its own port (listen:); put TLS in a reverse proxy",
            "silence is not $0: a budget with no events yet reports no data",
        ],
    )

    def setup(self) -> None:
        self.source = EventSource(self.context.state, self.name, self.cfg.source)

    def build_sources(self) -> Mapping[str, Source]:
        return {self.source.name: self.source}

    @staticmethod
    def configured_sources(config: IngestConfig) -> list[str]:
        """Source names budgets may use (checked at config load)."""
        return [config.source]

    def serve(self) -> Service | None:
        """The listener, started by the daemon only (never by once, plan or the CLI)."""
        if self.context.state is None:
            raise RuntimeError("ingest needs the daemon's state store")
        intake = Intake(self.name, self.cfg, self.context.state, self.context.prices)
        return Listener(intake, lambda: self.source.prune_before)

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        result = await self.source.poll(*_hour())
        return [DoctorFinding("read stored events", result.ok, result.error or "ok")]


def _hour() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now, now - timedelta(hours=1)
