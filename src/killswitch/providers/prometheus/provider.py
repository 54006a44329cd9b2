"""The ``prometheus`` provider: spend that a gateway or exporter already publishes as metrics."""

from __future__ import annotations

from collections.abc import Mapping

from killswitch.http import ProviderHTTP
from killswitch.plugins import (
    Capabilities,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.prometheus.client import PrometheusAPI
from killswitch.providers.prometheus.config import PrometheusConfig
from killswitch.providers.prometheus.source import PromQLSource


@registry.provider
class PrometheusProvider(BuiltProvider[PrometheusConfig]):
    type = "prometheus"
    config_model = PrometheusConfig
    sources_from_config = "one per queries[] entry, named after it"
    capabilities = Capabilities(
        reads=[
            "one source per configured PromQL instant query (named after it): result labels "
            "mapped to dims; to_date = increase(...[$__range]) over the declared period, or a "
            "raw monotonic counter"
        ],
        granularity="per series of the query's result",
        latency="the exporter's scrape interval plus poll_interval",
        scopes=["all", "any dimension mapped from a label (dims:)"],
        notes=[
            "reads only: no actions of its own; pair its budgets with the generic webhook action",
            "an empty result is no data (never $0); an error, NaN or non-vector result marks the "
            "source stale",
        ],
    )

    def setup(self) -> None:
        self.http = ProviderHTTP(
            str(self.cfg.url),
            headers={k: v.get_secret_value() for k, v in self.cfg.headers.items()},
            timeout=self.cfg.timeout.total_seconds(),
            transport=self.context.http_transport,
        )

    def build_sources(self) -> Mapping[str, Source]:
        api = PrometheusAPI(self.http, self.cfg.timeout.total_seconds())
        return {q.name: PromQLSource(api, q) for q in self.cfg.queries}

    @staticmethod
    def configured_sources(config: PrometheusConfig) -> list[str]:
        """Source names budgets may use (checked at config load)."""
        return [q.name for q in config.queries]

    @staticmethod
    def source_currency(config: PrometheusConfig, source: str) -> str | None:
        """Every query's amounts are in its configured currency."""
        return next((q.currency for q in config.queries if q.name == source), None)

    async def aclose(self) -> None:
        await self.http.aclose()
