"""The ``http-json`` provider: spend from any JSON API, read by declared JSONPaths."""

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
from killswitch.providers.http_json.config import HttpJsonConfig
from killswitch.providers.http_json.source import JsonSource, split_url


@registry.provider
class HttpJsonProvider(Provider[HttpJsonConfig]):
    type = "http-json"
    config_model = HttpJsonConfig
    sources_from_config = "one per requests[] entry, named after it"
    capabilities = Capabilities(
        reads=[
            "one source per configured GET: rows picked by JSONPath (amount, currency, dims, "
            "optional as-of time, bucket start/end), as to_date in a declared period, "
            "counter or bucket spend"
        ],
        granularity="per row of the response",
        latency="whatever the API reports; as_of sets the data age",
        scopes=["all", "any dimension read from a row (dims:)"],
        notes=[
            "reads only: no actions of its own; pair its budgets with the generic webhook action",
            "a response that does not match the declared paths is an error (source stale), "
            "never $0; an empty rows array is no data",
        ],
    )

    def __init__(self, name: str, config: HttpJsonConfig, context: ProviderContext) -> None:
        super().__init__(name, config, context)
        shared = {k: v.get_secret_value() for k, v in config.headers.items()}
        self._clients: dict[str, ProviderHTTP] = {}
        sources: dict[str, Source] = {}
        for req in config.requests:
            origin, _, _ = split_url(str(req.url))
            if origin not in self._clients:
                self._clients[origin] = ProviderHTTP(
                    origin,
                    headers=shared,
                    timeout=config.timeout.total_seconds(),
                    transport=context.http_transport,
                )
            sources[req.name] = JsonSource(self._clients[origin], req)
        self._sources: Mapping[str, Source] = sources

    @staticmethod
    def configured_sources(config: HttpJsonConfig) -> list[str]:
        """Source names budgets may use (checked at config load)."""
        return [r.name for r in config.requests]

    @staticmethod
    def source_currency(config: HttpJsonConfig, source: str) -> str | None:
        """The currency a source reports in, when config fixes it (None: read per row)."""
        req = next((r for r in config.requests if r.name == source), None)
        return req.currency if req is not None and req.currency_path is None else None

    def sources(self) -> Mapping[str, Source]:
        return self._sources

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
