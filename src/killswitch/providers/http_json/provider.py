"""The ``http-json`` provider: spend from any JSON API, read by declared JSONPaths."""

from __future__ import annotations

from collections.abc import Mapping

from killswitch.http import ProviderHTTP
from killswitch.plugins import (
    Capabilities,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.http_json.config import HttpJsonConfig
from killswitch.providers.http_json.source import JsonSource, split_url


@registry.provider
class HttpJsonProvider(BuiltProvider[HttpJsonConfig]):
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

    def setup(self) -> None:
        # One client per origin: requests to the same API share its connection pool.
        self._clients: dict[str, ProviderHTTP] = {}

    def build_sources(self) -> Mapping[str, Source]:
        shared = {k: v.get_secret_value() for k, v in self.cfg.headers.items()}
        sources: dict[str, Source] = {}
        for req in self.cfg.requests:
            origin, _, _ = split_url(str(req.url))
            if origin not in self._clients:
                self._clients[origin] = ProviderHTTP(
                    origin,
                    headers=shared,
                    timeout=self.cfg.timeout.total_seconds(),
                    transport=self.context.http_transport,
                )
            sources[req.name] = JsonSource(self._clients[origin], req)
        return sources

    @staticmethod
    def configured_sources(config: HttpJsonConfig) -> list[str]:
        """Source names budgets may use (checked at config load)."""
        return [r.name for r in config.requests]

    @staticmethod
    def source_currency(config: HttpJsonConfig, source: str) -> str | None:
        """The currency a source reports in, when config fixes it (None: read per row)."""
        req = next((r for r in config.requests if r.name == source), None)
        return req.currency if req is not None and req.currency_path is None else None

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
