"""A live ingest listener on loopback over a real state store (SQLite, and PostgreSQL if set)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from killswitch.config import parse
from killswitch.plugins import ProviderContext
from killswitch.providers.ingest import IngestProvider
from killswitch.providers.ingest import events as ev
from killswitch.providers.ingest.listener import Listener
from killswitch.state import Store

TOKEN = "ingest-token-0123456789abcdef"
OTHER = "second-token-fedcba9876543210"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class Endpoint:
    """The listener under test, and a raw HTTP client that can send what curl would not."""

    def __init__(self, provider: IngestProvider, listener: Listener, store: Store) -> None:
        self.provider = provider
        self.listener = listener
        self.store = store

    def stored(self) -> int:
        return ev.count(self.store, self.provider.name)

    def post(
        self,
        body: bytes | dict[str, Any] | None,
        *,
        token: str | None = TOKEN,
        headers: dict[str, str] | None = None,
        path: str = "/v1/spend",
        method: str = "POST",
    ) -> Answer:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.listener.port, timeout=10)
        try:
            if raw is not None and "Content-Length" not in sent:
                sent["Content-Length"] = str(len(raw))
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in sent.items():
                conn.putheader(k, v)
            conn.endheaders()
            if raw:
                conn.send(raw)
            resp = conn.getresponse()
            data = resp.read()
            return Answer(resp.status, json.loads(data) if data else {}, dict(resp.getheaders()))
        finally:
            conn.close()


def make_endpoint(url: str, **entry: Any) -> tuple[IngestProvider, Listener, Store]:
    data = {
        "state": url,
        "providers": {
            "push": {
                "type": "ingest",
                "listen": "127.0.0.1:0",
                "tokens": [TOKEN, OTHER],
                **entry,
            }
        },
    }
    config = parse(data)
    store = Store(url)
    pconf = config.providers["push"]
    provider = IngestProvider("push", pconf, ProviderContext(state=store))  # type: ignore[arg-type]
    listener = provider.serve()
    assert isinstance(listener, Listener)
    return provider, listener, store


@pytest.fixture
def endpoint_factory(store_url: str) -> Iterator[Any]:
    made: list[tuple[Listener, Store]] = []

    def make(**entry: Any) -> Endpoint:
        provider, listener, store = make_endpoint(store_url, **entry)
        made.append((listener, store))
        return Endpoint(provider, listener, store)

    yield make
    for listener, store in made:
        listener.stop()
        store.close()


@pytest.fixture
def endpoint(endpoint_factory: Any) -> Endpoint:
    e: Endpoint = endpoint_factory()
    return e
