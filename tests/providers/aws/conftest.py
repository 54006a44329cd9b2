"""Fixtures for the AWS provider: moto in-process (``mock_aws``) with fake credentials."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from killswitch.config import parse
from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ProviderContext
from killswitch.pricing import PriceBook
from killswitch.providers.aws.provider import AwsProvider

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh in-process moto world; never real AWS (fake credentials, no endpoint reachable)."""
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    with mock_aws():
        yield


def make_provider(prices: PriceBook | None = None, **entry: Any) -> AwsProvider:
    """Build the provider exactly as the daemon does: through config validation."""
    cfg = parse({"providers": {"aws": {"type": "aws", "region": REGION, **entry}}})
    p = AwsProvider("aws", cfg.providers["aws"], ProviderContext(prices=prices or PriceBook()))
    return p


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def actx(budget: str = "bedrock-daily", now: datetime | None = None) -> ActionContext:
    now = now or datetime.now(UTC)
    w = Window(now - timedelta(hours=1), now + timedelta(hours=1), "interval:2h")
    return ActionContext(budget, "*", w, Money.usd(250), Money.usd(200), now)


def now_utc() -> datetime:
    return datetime.now(UTC)
