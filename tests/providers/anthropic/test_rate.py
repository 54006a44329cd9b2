"""Anthropic allows one Admin API poll per minute sustained: refused in config, held in the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from killswitch import config as cfgmod
from killswitch.errors import ConfigError
from killswitch.plugins import ProviderContext
from killswitch.providers.anthropic import AnthropicProvider
from killswitch.providers.anthropic.client import PAGE_INTERVAL
from killswitch.providers.anthropic.gate import RateGate

from .conftest import NOW, Mono, build
from .fake import FakeAnthropic, usage_result

SINCE = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def conf(**anthropic: Any) -> dict[str, Any]:
    return {
        "providers": {
            "anthropic": {
                "type": "anthropic",
                "admin_key": "sk-ant-admin01-config-test",
                "base_url": "https://api.anthropic.com",
                "poll_interval": "60s",
                **anthropic,
            }
        },
        "budgets": [
            {
                "name": "anthropic-key-daily",
                "provider": "anthropic",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 40,
                "fail_closed": True,
                "actions": ["anthropic.deactivate-key"],
                "restore": "on_reset",
            }
        ],
    }


def test_the_documented_config_loads() -> None:
    c = cfgmod.parse(conf())
    assert c.providers["anthropic"].poll_interval == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("field", "value"), [("poll_interval", "30s"), ("reconcile_interval", "10s")]
)
def test_polling_faster_than_once_a_minute_is_refused(field: str, value: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfgmod.parse(conf(**{field: value}))
    # (the core also reports the budget's action against a provider it could not build)
    path, msg = e.value.problems[0]
    assert path == "providers.anthropic"
    assert f"{field} is {value}" in msg and "one Admin API poll per minute" in msg and "60s" in msg


def test_a_loopback_stand_in_may_poll_faster() -> None:
    c = cfgmod.parse(
        conf(base_url="http://127.0.0.1:8080", poll_interval="1s", reconcile_interval="1s")
    )
    assert c.providers["anthropic"].gate_interval == 1.0  # type: ignore[attr-defined]


def test_gate_keeps_one_per_interval_sustained_with_a_small_burst() -> None:
    mono = Mono()
    gate = RateGate(60, burst=2, clock=mono)
    allowed = 0
    for _ in range(600):  # an attempt every second for ten minutes
        allowed += gate.acquire("usage")
        mono.t += 1
    assert allowed == 2 + 9  # the burst, then one per minute
    assert gate.acquire("usage")  # minute ten's token
    assert not gate.acquire("usage") and 59 < gate.wait_seconds("usage") <= 60
    assert gate.acquire("costs")  # per endpoint


def test_scheduler_jitter_is_absorbed() -> None:
    mono = Mono()
    gate = RateGate(60, burst=2, clock=mono)
    results = []
    for i in range(20):  # a cycle every 60s that fires up to 50 ms early or late
        mono.t = 1000 + 60 * i + (0.05 if i % 2 else -0.05)
        results.append(gate.acquire("usage"))
    assert all(results)


async def test_the_source_never_polls_faster_than_the_gate(fake: FakeAnthropic, mono: Mono) -> None:
    p = build(fake, mono)
    src = p.sources()["anthropic.usage"]
    fake.add_usage(datetime(2026, 11, 23, 12, 5, tzinfo=UTC), usage_result(uncached=1000))
    results = []
    for _ in range(5):  # five polls in the same second
        results.append(await src.poll(NOW, SINCE))
    assert len(fake.queries()) == 2  # the burst
    assert all(r.ok for r in results)
    assert results[-1].observations == results[1].observations  # the last answer stands
    mono.t += 60
    await src.poll(NOW, SINCE)
    assert len(fake.queries()) == 3
    await p.aclose()


async def test_the_first_poll_refused_is_an_error(fake: FakeAnthropic, mono: Mono) -> None:
    p = build(fake, mono)
    p.api.gate.burst = 0
    res = await p.sources()["anthropic.usage"].poll(NOW, SINCE)
    assert not res.ok and "one poll per minute" in (res.error or "")
    assert fake.requests == []
    await p.aclose()


async def test_pages_of_one_poll_are_one_token(fake: FakeAnthropic, mono: Mono) -> None:
    fake.page_size = 5
    p = build(fake, mono)
    p.api.gate.burst = 1
    res = await p.sources()["anthropic.usage"].poll(NOW, SINCE)
    assert res.ok and len(fake.queries()) == 7  # 31 buckets, 5 per page


async def test_production_paces_the_pages_of_a_poll(fake: FakeAnthropic) -> None:
    conf_ = AnthropicProvider.config_model.model_validate(
        {"type": "anthropic", "admin_key": fake.admin_key}
    )
    p = AnthropicProvider("anthropic", conf_, ProviderContext(http_transport=fake.transport()))
    assert p.api.http.pacer.interval == PAGE_INTERVAL > 0
    assert p.api.gate.interval == 60
    await p.aclose()
