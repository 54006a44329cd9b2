"""One configured GET as a spend source: fetch, read rows by their paths, make observations."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from killswitch.errors import SourceError
from killswitch.http import ProviderHTTP
from killswitch.model import ObservationKind, PollResult
from killswitch.providers._rows import observations
from killswitch.providers.http_json.config import JsonRequest
from killswitch.providers.http_json.extract import Paths, read_rows


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """Origin, path and query of a URL: errors name the path only, never the query or host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/", dict(parse_qsl(parts.query))


class JsonSource:
    def __init__(self, http: ProviderHTTP, request: JsonRequest) -> None:
        self.http = http
        self.request = request
        self.name = request.name
        self.paths = Paths.of(request)
        _, self.path, query = split_url(str(request.url))
        self.params = {**query, **{k: v.get_secret_value() for k, v in request.params.items()}}
        self.headers = {k: v.get_secret_value() for k, v in request.headers.items()}

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            document = await self.http.json(
                "GET", self.path, params=self.params, headers=self.headers
            )
            rows = read_rows(document, self.request, self.paths, now)
            obs = observations(
                self.name,
                ObservationKind(self.request.kind),
                rows,
                now,
                self.request.period_spec,
            )
        except SourceError as exc:
            return PollResult(self.name, error=f"request {self.name}: {exc}")
        as_of = [r.at for r in rows if r.at is not None]
        return PollResult(self.name, obs, data_as_of=min(as_of) if as_of else now)
