"""Fixtures for the gcp provider: loopback REST stand-ins, anonymous credentials, fake clocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.providers.gcp.fakes import FakeSubscription
from tests.providers.gcp.helpers import Clock
from tests.providers.gcp.standin import FakeGcp


@pytest.fixture
def no_adc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make sure nothing can reach real credentials or a real metadata server."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.fixture
def fake(shared: Path, no_adc: None) -> Iterator[FakeGcp]:
    f = FakeGcp(shared)
    f.billing.update(
        {
            "my-sandbox": "billingAccounts/01D4EE-079462-DFD6EC",
            "ops": "billingAccounts/01D4EE-079462-DFD6EC",
            "no-billing": "",
        }
    )
    f.services.update(
        {
            ("my-sandbox", "aiplatform.googleapis.com"): "ENABLED",
            ("my-sandbox", "generativelanguage.googleapis.com"): "DISABLED",
        }
    )
    f.start()
    yield f
    f.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sub(clock: Clock) -> FakeSubscription:
    return FakeSubscription(clock=clock)
