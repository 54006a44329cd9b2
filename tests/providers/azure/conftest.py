"""Fixtures for the azure provider: the real SDK clients over an in-memory ARM transport."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from killswitch.config import parse
from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ProviderContext
from killswitch.providers.azure.clients import AzureHooks
from killswitch.providers.azure.provider import AzureProvider
from tests.providers.azure.arm import ACCOUNT, DEPLOYMENT, SUB, ArmTransport, FakeArm, StaticToken

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_real_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real credential source or a real endpoint."""
    for k in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
    ):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def arm() -> FakeArm:
    a = FakeArm()
    a.add_account(ACCOUNT)
    a.add_deployment(DEPLOYMENT, capacity=120)
    return a


def hooks(arm: FakeArm) -> AzureHooks:
    return AzureHooks(credential=StaticToken(), transport=ArmTransport(arm))


def make_provider(arm: FakeArm, **entry: Any) -> AzureProvider:
    """Build the provider as the daemon does: through config validation, real SDK clients."""
    cfg = parse({"providers": {"azure": {"type": "azure", "subscription_id": SUB, **entry}}})
    return AzureProvider("azure", cfg.providers["azure"], ProviderContext(hooks=(hooks(arm),)))


@pytest.fixture
def provider(arm: FakeArm) -> Iterator[AzureProvider]:
    yield make_provider(arm)


def actx(now: datetime = NOW) -> ActionContext:
    w = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "monthly")
    return ActionContext("aoai-monthly", "*", w, Money.usd(820), Money.usd(800), now)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
