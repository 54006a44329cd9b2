"""Fixtures: a FakeOpenAI on a fixed clock, a provider wired to it through MockTransport, and a
contract check of every exchange against the official spec when each test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from killswitch.http import RetryPolicy
from killswitch.plugins import ProviderContext
from killswitch.pricing import ModelPrice, PriceBook
from killswitch.providers.openai import OpenAIProvider
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.testing import FakeClock

from .contract import Contract, ContractError, load_contract
from .fake import FakeOpenAI

NOW = datetime(2026, 11, 23, 12, 30, 20, tzinfo=UTC)
P1, P2 = "proj_alpha", "proj_bravo"
K1, K2, K3 = "key_a1", "key_a2", "key_b1"

# The brief's config prices: an override for gpt-4o-mini and a "*" fallback.
BRIEF_PRICES = {
    "openai": {
        "gpt-4o-mini": ModelPrice(
            input=Decimal("0.15"), cached_input=Decimal("0.075"), output=Decimal("0.60")
        ),
        "*": ModelPrice(input=Decimal(15), output=Decimal(60)),
    }
}


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract()


def check_exchanges(contract: Contract, fake: FakeOpenAI) -> int:
    """Every request must fit the spec; every response the client could accept too."""
    checked = 0
    for e in fake.exchanges:
        contract.check_request(e.method, e.url, e.headers, e.body)
        if not e.spec_valid:
            continue
        if 200 <= e.status < 300:
            contract.check_response(e.method, e.url, e.headers, e.body, e.status, e.response)
        elif isinstance(e.response, dict):
            contract.check_schema("ErrorResponse", e.response)
        checked += 1
    return checked


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock: FakeClock, contract: Contract) -> Iterator[FakeOpenAI]:
    f = FakeOpenAI(clock)
    f.add_project(P1)
    f.add_project(P2)
    f.add_key(P1, K1)
    f.add_key(P1, K2)
    f.add_key(P2, K3)
    yield f
    try:
        check_exchanges(contract, f)
    except ContractError as exc:
        pytest.fail(f"contract violation: {exc}")


def build(
    fake: FakeOpenAI,
    *,
    prices: PriceBook | None = None,
    drift_usd: str = "1",
    drift_ratio: str = "0.05",
    **cfg: Any,
) -> OpenAIProvider:
    conf = OpenAIConfig.model_validate(
        {"type": "openai", "admin_key": fake.admin_key, "page_interval": 0, **cfg}
    )
    ctx = ProviderContext(
        prices=prices or PriceBook(BRIEF_PRICES),
        drift_alert_usd=Decimal(drift_usd),
        drift_alert_ratio=Decimal(drift_ratio),
        http_transport=fake.transport(),
    )
    p = OpenAIProvider("openai", conf, ctx)
    p.api.http.retry = RetryPolicy(attempts=3, base_delay=0.0, max_delay=30.0)
    return p


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAIProvider]:
    p = build(fake)
    yield p
    await p.aclose()
