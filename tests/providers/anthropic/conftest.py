"""Fixtures: a FakeAnthropic on a fixed clock and a provider wired to it through MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from killswitch.plugins import ProviderContext
from killswitch.pricing import PriceBook
from killswitch.providers.anthropic import AnthropicProvider
from killswitch.providers.anthropic.config import AnthropicConfig
from killswitch.testing import FakeClock

from .fake import FakeAnthropic

NOW = datetime(2026, 11, 23, 12, 30, 20, tzinfo=UTC)


class Mono:
    """A monotonic clock the tests move by hand (drives the rate gate)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock: FakeClock) -> FakeAnthropic:
    return FakeAnthropic(clock=clock)


@pytest.fixture
def mono() -> Mono:
    return Mono()


def build(
    fake: FakeAnthropic,
    mono: Mono | None = None,
    *,
    prices: PriceBook | None = None,
    drift_usd: str = "1",
    drift_ratio: str = "0.05",
    **cfg: Any,
) -> AnthropicProvider:
    conf = AnthropicConfig.model_validate({"type": "anthropic", "admin_key": fake.admin_key, **cfg})
    ctx = ProviderContext(
        prices=prices or PriceBook(),
        drift_alert_usd=Decimal(drift_usd),
        drift_alert_ratio=Decimal(drift_ratio),
        http_transport=fake.transport(),
    )
    p = AnthropicProvider("anthropic", conf, ctx)
    p.api.http.pacer.interval = 0  # no pauses between pages in unit tests
    if mono is not None:
        p.api.gate.clock = mono
    return p


@pytest.fixture
async def provider(fake: FakeAnthropic, mono: Mono) -> AsyncIterator[AnthropicProvider]:
    p = build(fake, mono)
    yield p
    await p.aclose()
