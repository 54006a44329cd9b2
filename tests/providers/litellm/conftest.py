"""Fixtures: a FakeLiteLLM, a provider wired to it through MockTransport, and a contract check
of every exchange against the proxy's own OpenAPI document when each test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from killswitch.http import RetryPolicy
from killswitch.plugins import ProviderContext
from killswitch.providers.litellm import LiteLLMConfig, LiteLLMProvider

from .contract import Contract, load_contract
from .fake import MASTER, FakeLiteLLM

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
K1, K2, K3 = (f"{i:064x}" for i in (1, 2, 3))


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract()


def check_exchanges(contract: Contract, fake: FakeLiteLLM) -> int:
    """Every request must fit the spec; every 2xx answer the client read too."""
    for e in fake.exchanges:
        contract.check_request(e.method, e.url, e.headers, e.body)
        if 200 <= e.status < 300:
            contract.check_response(e.method, e.url, e.headers, e.body, e.status, e.response)
    return len(fake.exchanges)


@pytest.fixture
def fake(contract: Contract) -> Iterator[FakeLiteLLM]:
    f = FakeLiteLLM()
    f.add_team("team-groq", team_alias="groq apps")
    f.add_user("alice")
    f.add_key(K1, key_alias="chatbot", team_id="team-groq", user_id="alice")
    f.add_key(K2, key_alias="batch", team_id="team-groq")
    f.add_key(K3, key_alias="solo", user_id="alice")
    yield f
    check_exchanges(contract, f)


def make_provider(fake: FakeLiteLLM, **kw: object) -> LiteLLMProvider:
    cfg = LiteLLMConfig.model_validate(
        {"type": "litellm", "base_url": "http://litellm.test:4000", "master_key": MASTER, **kw}
    )
    p = LiteLLMProvider("gateway", cfg, ProviderContext(http_transport=fake.transport()))
    p.http.retry = RetryPolicy(attempts=2, base_delay=0.0)
    return p


@pytest.fixture
async def provider(fake: FakeLiteLLM) -> AsyncIterator[LiteLLMProvider]:
    p = make_provider(fake)
    yield p
    await p.aclose()
