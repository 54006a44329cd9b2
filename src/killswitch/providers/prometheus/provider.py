"""The ``prometheus`` provider: spend that a gateway or exporter already publishes as metrics."""

from __future__ import annotations

from collections.abc import Mapping

from killswitch.http import ProviderHTTP
from killswitch.plugins import (
    Capabilities,
    Provider,
    ProviderContext,
    Source,
    registry,
)
from killswitch.providers.prometheus.client import PrometheusAPI
from killswitch.providers.prometheus.config import PrometheusConfig
from killswitch.providers.prometheus.source import PromQLSource


@registry.provider
class PrometheusProvider(Provider[PrometheusConfig]):
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

    def __init__(self, name: str, config: PrometheusConfig, context: ProviderContext) -> None:
        super().__init__(name, config, context)
        self.http = ProviderHTTP(
            str(config.url),
            headers={k: v.get_secret_value() for k, v in config.headers.items()},
            timeout=config.timeout.total_seconds(),
            transport=context.http_transport,
        )
        api = PrometheusAPI(self.http, config.timeout.total_seconds())
        self._sources: Mapping[str, Source] = {q.name: PromQLSource(api, q) for q in config.queries}

    @staticmethod
    def configured_sources(config: PrometheusConfig) -> list[str]:
        """Source names budgets may use (checked at config load)."""
        return [q.name for q in config.queries]

    @staticmethod
    def source_currency(config: PrometheusConfig, source: str) -> str | None:
        """Every query's amounts are in its configured currency."""
        return next((q.currency for q in config.queries if q.name == source), None)

    def sources(self) -> Mapping[str, Source]:
        return self._sources

    async def aclose(self) -> None:
        await self.http.aclose()
