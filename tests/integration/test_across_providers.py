"""An org-wide budget across three providers, through the real engine (FakeClock) against the
OpenAI and Anthropic Admin API stand-ins and a spec-checked OpenRouter: each provider spends
under the limit, the sum crosses it; each provider's action is called on its own targets only,
the journal says which provider each target belongs to, status and /metrics show each source's
share, and the next day restores all three once every source has been read again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from tests.conftest import shared_dir
from tests.contract.openapi import Spec
from tests.providers.anthropic.fake import FakeAnthropic, api_key, usage_result
from tests.providers.openai.fake import FakeOpenAI
from tests.providers.openrouter.fixtures import SpecServer, make_key, spec_key

from killswitch import config as cfgmod
from killswitch import daemon, views
from killswitch.testing import FakeClock

PROJECT, OPENAI_KEY = "proj_org", "key_org"
ANTHROPIC_KEY, WS = "apikey_01OrgWide", "wrkspc_01OrgWide"
OR_KEY = f"{1:064x}"
BUDGET = "all-llm-daily"


class Ticking:
    """Anthropic's rate gate sees a minute pass between requests: it never holds a poll back."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 61
        return self.t


def routed(**by_host: httpx.MockTransport) -> httpx.MockTransport:
    """One transport for the daemon: each provider's stand-in serves its own host."""
    return httpx.MockTransport(lambda r: by_host[r.url.host].handler(r))  # type: ignore[no-any-return]


def config(openai: FakeOpenAI, anthropic: FakeAnthropic, tmp_path: Path) -> cfgmod.Config:
    return cfgmod.parse(
        {
            "state": f"sqlite:///{tmp_path / 's.db'}",
            "providers": {
                "openai": {
                    "type": "openai",
                    "admin_key": openai.admin_key,
                    "base_url": "https://api.openai.com/v1",
                    "page_interval": 0,
                },
                "anthropic": {
                    "type": "anthropic",
                    "admin_key": anthropic.admin_key,
                    "base_url": "http://127.0.0.1:9",
                },
                "openrouter": {"type": "openrouter", "api_key": "sk-or-v1-test-management-key"},
            },
            "budgets": [
                {
                    "name": BUDGET,
                    "sources": [
                        "openai/openai.usage",
                        "anthropic/anthropic.usage",
                        "openrouter/openrouter",
                    ],
                    "scope": {"all": True},
                    "window": "daily",
                    "limit_usd": 500,
                    "actions": [
                        "openai.spend-limit",
                        "anthropic.deactivate-key",
                        "openrouter.disable-key",
                    ],
                }
            ],
            "prices": {"openai": {"*": {"input": 15, "output": 60}}},
        }
    )


@pytest.fixture
def spec() -> Spec:
    return Spec(shared_dir() / "specs" / "openrouter" / "in.openapi.yaml", base_path="/api/v1")


def shares(rt: daemon.Runtime) -> dict[str, Decimal | None]:
    (st,) = rt.metrics.snapshot.statuses[BUDGET]
    return {f"{p.provider}/{p.source}": p.spend.amount if p.spend else None for p in st.sources}


async def cycle_all(rt: daemon.Runtime) -> None:
    for name in ("openai", "anthropic", "openrouter"):
        await rt.engine.cycle(name)


def world(
    tmp_path: Path, spec: Spec
) -> tuple[daemon.Runtime, FakeClock, FakeOpenAI, FakeAnthropic, SpecServer]:
    """$200 on OpenAI, $150 on Anthropic, $180 on OpenRouter today: $530 of the org's $500."""
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    openai = FakeOpenAI(clock)
    openai.add_project(PROJECT)
    openai.add_key(PROJECT, OPENAI_KEY)
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    openai.add_completion(at, PROJECT, OPENAI_KEY, "in-house-model", input=200 * 1_000_000 // 15)
    openai.add_cost(datetime(2026, 11, 23, tzinfo=UTC), PROJECT, "in-house-model, input", 190.0)
    anthropic = FakeAnthropic(clock=clock)
    anthropic.keys[ANTHROPIC_KEY] = api_key(ANTHROPIC_KEY, workspace=WS)
    anthropic.add_usage(at, usage_result(ANTHROPIC_KEY, WS, uncached=150 * 1_000_000 // 3))
    server = SpecServer(spec, [make_key(spec_key(spec), 1, usage_daily=180.0)])
    transport = routed(
        **{
            "api.openai.com": openai.transport(),
            "127.0.0.1": anthropic.transport(),
            "openrouter.ai": httpx.MockTransport(server),
        }
    )
    rt = daemon.build(config(openai, anthropic, tmp_path), clock=clock, transport=transport)
    rt.providers["anthropic"].api.gate.clock = Ticking()  # type: ignore[attr-defined]
    rt.providers["anthropic"].api.http.pacer.interval = 0  # type: ignore[attr-defined]
    return rt, clock, openai, anthropic, server


async def test_spend_split_across_three_providers_kills_each_on_its_own_targets(
    tmp_path: Path, spec: Spec
) -> None:
    rt, clock, openai, anthropic, server = world(tmp_path, spec)

    # OpenAI's cycle first: the others are not read yet, so they count as unknown, not $0
    await rt.engine.cycle("openai")
    (st,) = rt.metrics.snapshot.statuses[BUDGET]
    assert st.stale and st.state.value == "ok" and st.spend is not None
    assert round(st.spend.amount) == 200
    assert shares(rt)["anthropic/anthropic.usage"] is None
    await rt.engine.cycle("anthropic")
    assert rt.store.journal_rows() == []  # $350: every provider is under, and so is the sum

    await rt.engine.cycle("openrouter")  # $200 + $150 + $180 = $530 of $500
    (st,) = rt.metrics.snapshot.statuses[BUDGET]
    assert st.state.value == "killed" and not st.stale
    assert {k: round(v) for k, v in shares(rt).items() if v is not None} == {
        "openai/openai.usage": 200,
        "anthropic/anthropic.usage": 150,
        "openrouter/openrouter": 180,
    }
    kills = {(r.provider, r.action, r.target, r.status) for r in rt.store.journal_rows()}
    assert kills == {
        ("openai", "openai.spend-limit", PROJECT, "done"),
        ("anthropic", "anthropic.deactivate-key", ANTHROPIC_KEY, "done"),
        ("openrouter", "openrouter.disable-key", OR_KEY, "done"),
    }
    # each provider was called on its own target, and on nothing else
    posts = openai.requests("POST", r"/organization/projects/.*")
    assert [p.url.rsplit("/v1", 1)[1] for p in posts] == [
        f"/organization/projects/{PROJECT}/spend_limit"
    ]
    assert anthropic.posts == [(ANTHROPIC_KEY, {"status": "inactive"})]
    patches = [r for r in server.requests if r.method == "PATCH"]
    assert [r.url.path for r in patches] == [f"/api/v1/keys/{OR_KEY}"]
    assert server.keys[OR_KEY]["disabled"] is True

    # status (as the CLI shows it, from the state) and /metrics carry each source's share
    rows = views.status_rows(rt.config, rt.store.statuses(), [], clock.now)
    (row,) = [r for r in rows if r["budget"] == BUDGET]
    assert [(s["provider"], s["source"]) for s in row["sources"]] == [
        ("openai", "openai.usage"),
        ("anthropic", "anthropic.usage"),
        ("openrouter", "openrouter"),
    ]
    text = "\n".join(views.render_status(rows, []))
    assert "from: openai/openai.usage 200.00, anthropic/anthropic.usage 150.00, " in text
    scrape = generate_latest(rt.metrics.registry).decode()
    assert (
        'killswitch_budget_source_spend_usd{budget="all-llm-daily",currency="USD",'
        'provider="openrouter",source="openrouter"} 180.0'
    ) in scrape

    # next day: restored through each provider, once every source has been read again
    clock.now = datetime(2026, 11, 24, 0, 5, tzinfo=UTC)
    server.keys[OR_KEY]["usage_daily"] = 0.0
    await rt.engine.cycle("openai")
    await rt.engine.cycle("anthropic")
    assert [r.op for r in rt.store.journal_rows()] == ["kill"] * 3  # openrouter still stale
    await rt.engine.cycle("openrouter")
    restores = {
        (r.provider, r.target, r.status) for r in rt.store.journal_rows() if r.op == "restore"
    }
    assert restores == {
        ("openai", PROJECT, "done"),
        ("anthropic", ANTHROPIC_KEY, "done"),
        ("openrouter", OR_KEY, "done"),
    }
    assert PROJECT not in openai.spend_limits
    assert anthropic.keys[ANTHROPIC_KEY]["status"] == "active"
    assert server.keys[OR_KEY]["disabled"] is False
    await rt.aclose()


async def test_plan_shows_the_budget_once_with_every_providers_action(
    tmp_path: Path, spec: Spec
) -> None:
    rt, *_ = world(tmp_path, spec)
    reports, reads = await views.preview_all(rt.engine, 30)
    assert all(r.error is None for r in reads)
    (row,) = [r for r in views.plan_rows(rt.engine, reports) if r["budget"] == BUDGET]
    assert row["state"] == "breached" and round(Decimal(row["spend"])) == 530
    assert row["source"] == "openai/openai.usage, anthropic/anthropic.usage, openrouter/openrouter"
    (kill,) = row["decisions"]
    assert kill["decision"] == "kill" and len(kill["would_touch"]) == 3
    assert rt.store.journal_rows() == []  # a plan changes nothing
    await rt.aclose()


def test_a_journal_row_without_a_provider_reads_back_as_its_budgets(tmp_path: Path) -> None:
    """Rows journaled before the column existed hold "": their budget's one provider."""
    from killswitch.state import Store

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    now = datetime(2026, 11, 23, tzinfo=UTC)
    row: dict[str, Any] = {
        "budget": "b",
        "grp": "*",
        "target": "t",
        "action": "openrouter.disable-key",
        "op": "kill",
        "status": "done",
        "params": {},
        "window_start": now - timedelta(hours=1),
        "manual": False,
        "actor": "t",
        "reason": "r",
    }
    with store.tx() as conn:
        store.journal_add(conn, [row], now)
    (got,) = store.journal_rows()
    assert got.provider == ""
