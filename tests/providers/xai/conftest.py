from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from killswitch.plugins import ProviderContext
from killswitch.providers.xai import XaiProvider
from killswitch.providers.xai.config import XaiConfig

from .fake import TEAM, FakeXai, key


@pytest.fixture
def fake() -> FakeXai:
    f = FakeXai()
    for i in range(1, 4):
        f.keys[f"key-{i:04d}"] = key(i)
    return f


def build(fake: FakeXai) -> XaiProvider:
    conf = XaiConfig.model_validate({"type": "xai", "management_key": fake.token, "team_id": TEAM})
    return XaiProvider("xai", conf, ProviderContext(http_transport=fake.transport()))


@pytest.fixture
async def provider(fake: FakeXai) -> AsyncIterator[XaiProvider]:
    p = build(fake)
    yield p
    await p.aclose()
