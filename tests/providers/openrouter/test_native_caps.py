"""Native caps on OpenRouter through the real engine, every request and response checked against
the vendor's spec: ``{each: key}`` daily budgets set each key's ``limit`` + ``limit_reset``, a
limit changed outside killswitch is announced once and set back (journaled with the prior
value), ``verify`` only alerts, and the shapes that have no key limit are config errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.errors import ConfigError
from killswitch.testing import FakeClock
from tests.contract.openapi import Spec
from tests.providers.openrouter.fixtures import SpecServer, make_key, spec_key

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
A, B, C = (f"{i:064x}" for i in (1, 2, 3))


@pytest.fixture(scope="module")
def spec() -> Spec:
    from tests.conftest import shared_dir

    return Spec(shared_dir() / "specs" / "openrouter" / "in.openapi.yaml", base_path="/api/v1")


def budget(**over: Any) -> dict[str, Any]:
    return {
        "name": "per-key-daily",
        "provider": "or",
        "scope": {"each": "key"},
        "window": "daily",
        "limit_usd": 10,
        "native_cap": True,
        "actions": ["openrouter.disable-key"],
        **over,
    }


def config(tmp_path: Path, *budgets: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {"or": {"type": "openrouter", "api_key": "sk-or-v1-test-management-key"}},
        "budgets": list(budgets),
        "notifiers": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    }


def world(spec: Spec) -> SpecServer:
    tpl = spec_key(spec)
    return SpecServer(
        spec,
        [
            make_key(tpl, 1, limit=None, limit_reset=None),
            make_key(tpl, 2, limit=10, limit_reset="daily"),
            make_key(tpl, 3, limit=10.0, limit_reset="daily"),  # 10.0 is 10: in sync
        ],
    )


def runtime(data: dict[str, Any], clock: FakeClock, server: SpecServer) -> daemon.Runtime:
    transport = httpx.MockTransport(server)
    return daemon.build(cfgmod.parse(data), clock=clock, transport=transport, identity="t")


def patches(server: SpecServer) -> list[tuple[str, Any]]:
    return [
        (r.url.path.rsplit("/", 1)[1], json.loads(r.content))
        for r in server.requests
        if r.method == "PATCH"
    ]


def native_events(rt: daemon.Runtime, clock: FakeClock) -> list[dict[str, Any]]:
    return [
        i.event for i in rt.store.outbox_due(clock.now) if i.event["event"].startswith("native")
    ]


async def test_first_set_then_drift_set_back_once(spec: Spec, tmp_path: Path) -> None:
    clock, server = FakeClock(NOW), world(spec)
    rt = runtime(config(tmp_path, budget()), clock, server)
    await rt.engine.cycle("or")
    assert patches(server) == [(A, {"limit": 10, "limit_reset": "daily"})]
    assert native_events(rt, clock) == []  # a first set is not a drift

    server.keys[B].update(limit=50, limit_reset="monthly")  # raised in the dashboard
    for _ in range(3):
        clock.advance(minutes=1)
        await rt.engine.cycle("or")
    assert patches(server)[1:] == [(B, {"limit": 10, "limit_reset": "daily"})]
    assert (server.keys[B]["limit"], server.keys[B]["limit_reset"]) == (10, "daily")
    (drift,) = native_events(rt, clock)
    assert (drift["event"], drift["group"]) == ("native_cap_drift", B)
    assert drift["details"]["actual"] == "50 USD monthly"
    caps = [r for r in rt.store.journal_rows() if r.op == "cap"]
    assert [(r.target, r.status) for r in caps] == [(A, "done"), (B, "done")]
    assert caps[1].prior == {"cap": {"amount": "50", "currency": "USD", "reset": "monthly"}}

    server.keys[B].update(limit=None, limit_reset=None)  # removed later: a new episode
    clock.advance(minutes=1)
    await rt.engine.cycle("or")
    assert len(native_events(rt, clock)) == 2 and server.keys[B]["limit"] == 10
    await rt.aclose()


async def test_a_restart_remembers_what_it_set(spec: Spec, tmp_path: Path) -> None:
    """After a restart a changed cap is still a drift: the journal holds what we set."""
    clock, server = FakeClock(NOW), world(spec)
    rt = runtime(config(tmp_path, budget()), clock, server)
    await rt.engine.cycle("or")
    await rt.aclose()
    server.keys[A].update(limit=99)
    rt2 = runtime(config(tmp_path, budget()), clock, server)
    clock.advance(minutes=1)
    await rt2.engine.cycle("or")
    assert [e["group"] for e in native_events(rt2, clock)] == [A]
    assert server.keys[A]["limit"] == 10
    await rt2.aclose()


async def test_verify_alerts_without_writing(spec: Spec, tmp_path: Path) -> None:
    clock, server = FakeClock(NOW), world(spec)
    rt = runtime(config(tmp_path, budget(native_cap="verify")), clock, server)
    for _ in range(3):
        await rt.engine.cycle("or")
        clock.advance(minutes=1)
    assert patches(server) == []
    (only,) = native_events(rt, clock)
    assert only["group"] == A and "alert only" in only["summary"]
    assert [r for r in rt.store.journal_rows() if r.op == "cap"] == []
    await rt.aclose()


async def test_a_failed_set_back_is_announced_once_and_retried(spec: Spec, tmp_path: Path) -> None:
    clock, server = FakeClock(NOW), world(spec)
    rt = runtime(config(tmp_path, budget()), clock, server)
    await rt.engine.cycle("or")
    server.keys[B].update(limit=70)

    def refuse(r: httpx.Request) -> httpx.Response | None:
        if r.method == "PATCH":
            return httpx.Response(403, json={"error": {"code": 403, "message": "Forbidden"}})
        return None

    server.override = refuse
    for _ in range(2):
        clock.advance(minutes=1)
        await rt.engine.cycle("or")
    kinds = sorted(e["event"] for e in native_events(rt, clock))
    assert kinds == ["native_cap_drift", "native_cap_failed"]
    failed = [r for r in rt.store.journal_rows() if r.op == "cap" and r.status == "failed"]
    assert len(failed) == 2  # one attempt per cycle, each journaled
    server.override = None
    clock.advance(minutes=1)
    await rt.engine.cycle("or")
    assert server.keys[B]["limit"] == 10
    await rt.aclose()


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"scope": {"each": "model"}}, "per key"),
        ({"scope": {"all": True}}, "per key"),
        ({"window": "rolling:24h"}, "no matching limit_reset"),
        ({"window": "interval:6h"}, "no matching limit_reset"),
        ({"timezone": "Europe/Kyiv"}, "00:00 UTC"),
        ({"limit_usd": None, "limit": {"amount": 10, "currency": "EUR"}}, "USD"),
    ],
)
def test_shapes_without_a_key_limit_are_config_errors(
    tmp_path: Path, over: dict[str, Any], why: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        cfgmod.parse(config(tmp_path, budget(**over)))
    rendered = exc.value.render()
    assert "budgets[0].native_cap" in rendered and why in rendered


def test_weekly_monthly_and_a_single_key_fit(tmp_path: Path) -> None:
    for over in ({"window": "weekly"}, {"window": "monthly"}, {"scope": {"keys": [A]}}):
        cfgmod.parse(config(tmp_path, budget(**over)))
    with pytest.raises(ConfigError):
        cfgmod.parse(config(tmp_path, budget(scope={"keys": [A, B]})))


async def test_read_and_write_one_key_match_the_spec(spec: Spec) -> None:
    from decimal import Decimal

    from killswitch.core.caps import NativeCap
    from killswitch.plugins import ProviderContext
    from killswitch.providers.openrouter import OpenRouterProvider
    from killswitch.providers.openrouter.caps import OpenRouterCaps
    from killswitch.providers.openrouter.provider import OpenRouterConfig

    server = world(spec)
    cfg = OpenRouterConfig(type="openrouter", api_key="sk-or-v1-test-management-key")
    p = OpenRouterProvider("or", cfg, ProviderContext(http_transport=httpx.MockTransport(server)))
    caps = OpenRouterCaps()
    assert await caps.read(p, A) == NativeCap(None, "USD", None)
    want = NativeCap(Decimal("7.5"), "USD", "weekly")
    assert await caps.write(p, A, want) == want
    assert patches(server) == [(A, {"limit": 7.5, "limit_reset": "weekly"})]
    assert await caps.read(p, A) == want
    await p.aclose()
