"""openai.costs (billed USD per project and line item) and the usage-vs-billed drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch.model import ObservationKind
from killswitch.pricing import PriceBook
from killswitch.providers.openai import OpenAIProvider
from killswitch.testing import FakeClock

from .conftest import K1, K3, NOW, P1, P2, build
from .fake import FakeOpenAI, Fault

TODAY = datetime(2026, 11, 23, tzinfo=UTC)
D1, D2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)  # 11-21, 11-22
MONTH = datetime(2026, 11, 1, tzinfo=UTC)
P3 = "proj_charlie"


async def test_costs_observations_requests_and_coverage(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.add_cost(D2, P1, "gpt-4o-mini-2024-07-18, input", 0.06)
    fake.add_cost(D2, P1, "gpt-4o-mini-2024-07-18, output", 0.1)
    fake.add_cost(D2, P2, "web search tool calls", 1.5)
    fake.add_cost(TODAY, P1, "gpt-4o-mini-2024-07-18, input", 0.2)
    res = await provider.sources()["openai.costs"].poll(NOW, MONTH)
    assert res.ok, res.error
    got = {(o.dims["project"], o.dims["line_item"], o.start): o.amount for o in res.observations}
    assert got[(P1, "gpt-4o-mini-2024-07-18, input", D2)].amount == Decimal("0.06")
    assert got[(P1, "gpt-4o-mini-2024-07-18, output", D2)].amount == Decimal("0.1")
    assert got[(P2, "web search tool calls", D2)].amount == Decimal("1.5")
    assert got[(P1, "gpt-4o-mini-2024-07-18, input", TODAY)].amount == Decimal("0.2")
    assert {m.currency for m in got.values()} == {"USD"}
    o = res.observations[0]
    assert o.kind is ObservationKind.BUCKET and o.end is not None and o.start is not None
    assert o.end - o.start == timedelta(days=1)
    (cov,) = res.coverage
    assert (cov.start, cov.end) == (MONTH, NOW)
    (req,) = fake.requests("GET", "/organization/costs")
    assert f"start_time={int(MONTH.timestamp())}" in req.url
    assert "group_by=project_id&group_by=line_item" in req.url and "limit=180" in req.url
    assert "bucket_width=1d" in req.url


def page(results: list[Any], width: int = 86400) -> dict[str, Any]:
    start = int(D2.timestamp())
    return {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": start, "end_time": start + width, "results": results}
        ],
        "has_more": False,
        "next_page": None,
    }


def cost(**over: Any) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": 1.25, "currency": "usd"},
        "line_item": "x",
        "project_id": P1,
    } | over


BAD = {
    "value as string": page([cost(amount={"value": "1.25", "currency": "usd"})]),
    "no amount": page([{k: v for k, v in cost().items() if k != "amount"}]),
    "no currency": page([cost(amount={"value": 1.25})]),
    "value null": page([cost(amount={"value": None, "currency": "usd"})]),
    "bucket not a day": page([cost()], width=3600),
    "usage result in costs": page(
        [
            {
                "object": "organization.usage.completions.result",
                "input_tokens": 1,
                "output_tokens": 1,
                "num_model_requests": 1,
            }
        ]
    ),
    "error with 200": {
        "error": {"message": "boom", "type": "server_error", "param": None, "code": None}
    },
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_malformed_costs_are_errors(
    fake: FakeOpenAI, provider: OpenAIProvider, case: str
) -> None:
    fake.faults.append(Fault("GET", "/organization/costs", 200, BAD[case]))
    res = await provider.sources()["openai.costs"].poll(NOW, MONTH)
    assert not res.ok and res.observations == ()


async def test_negative_lines_are_left_out(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.add_cost(D2, P1, "credit", -5.0)
    fake.add_cost(D2, P1, "gpt-4o, input", 2.0)
    res = await provider.sources()["openai.costs"].poll(NOW, MONTH)
    assert [(o.dims["line_item"], o.amount.amount) for o in res.observations] == [
        ("gpt-4o, input", Decimal("2.0"))
    ]


async def test_costs_are_read_at_most_once_per_reconcile_interval(
    fake: FakeOpenAI, provider: OpenAIProvider, clock: FakeClock
) -> None:
    src = provider.sources()["openai.costs"]
    await src.poll(NOW, MONTH)
    await src.poll(NOW + timedelta(minutes=9), MONTH)
    assert len(fake.requests("GET", "/organization/costs")) == 1
    res = await src.poll(NOW + timedelta(minutes=11), MONTH)
    assert res.ok and len(fake.requests("GET", "/organization/costs")) == 2
    assert res.coverage[0].end == NOW + timedelta(minutes=11)


def usd_of_mini(usd: int) -> int:
    return usd * 1_000_000 * 100 // 15  # gpt-4o-mini input: $0.15 per million (config price)


def world(fake: FakeOpenAI) -> None:
    fake.add_project(P3)
    fake.add_completion(D2.replace(hour=10), P1, K1, "gpt-4o-mini", input=usd_of_mini(15))
    fake.add_cost(D2, P1, "gpt-4o-mini, input", 12.0)  # +3: over both bounds -> event
    fake.add_completion(D2.replace(hour=11), P2, K3, "gpt-4o-mini", input=usd_of_mini(15))
    fake.add_cost(D2, P2, "gpt-4o-mini, input", 14.5)  # +0.5: under $1 -> quiet
    fake.add_completion(D1.replace(hour=3), P2, K3, "gpt-4o-mini", input=usd_of_mini(60))
    fake.add_cost(D1, P2, "gpt-4o-mini, input", 58.5)  # +1.5: over $1, under 5% -> quiet
    fake.add_cost(D2, P3, "web search tool calls", 2.0)  # -2: billed, never in usage -> event
    fake.add_completion(TODAY.replace(hour=1), P1, K1, "gpt-4o-mini", input=usd_of_mini(15))
    fake.add_cost(TODAY, P1, "gpt-4o-mini, input", 1.0)  # today: never compared


async def test_drift_per_project_and_completed_day(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    world(fake)
    res = await provider.sources()["openai.usage"].poll(NOW, TODAY)
    assert res.ok, res.error
    drift = res.gauges["estimate_drift_usd"]
    assert drift == {
        (("project", P1), ("day", "2026-11-22")): Decimal(3),
        (("project", P2), ("day", "2026-11-22")): Decimal("0.5"),
        (("project", P2), ("day", "2026-11-21")): Decimal("1.5"),
        (("project", P3), ("day", "2026-11-22")): Decimal(-2),
    }
    assert res.gauges["reconciled_billed_usd"][(("project", P1), ("day", "2026-11-22"))] == 12
    assert res.gauges["reconciled_estimate_usd"][(("project", P1), ("day", "2026-11-22"))] == 15
    events = {e.dedup_key: e for e in res.events}
    assert set(events) == {f"drift:{P1}:2026-11-22", f"drift:{P3}:2026-11-22"}
    e = events[f"drift:{P3}:2026-11-22"]
    assert e.kind == "estimate_drift" and "under-estimate" in e.summary
    assert e.details == {
        "project": P3,
        "day": "2026-11-22",
        "estimated_usd": "0",
        "billed_usd": "2",
        "drift_usd": "-2",
    }
    assert "over-estimate" in events[f"drift:{P1}:2026-11-22"].summary


async def test_both_bounds_must_be_exceeded(fake: FakeOpenAI) -> None:
    world(fake)
    strict = build(fake, drift_usd="0.4", drift_ratio="0.01")
    res = await strict.sources()["openai.usage"].poll(NOW, TODAY)
    assert {e.dedup_key for e in res.events} == {
        f"drift:{P1}:2026-11-22",
        f"drift:{P2}:2026-11-22",
        f"drift:{P2}:2026-11-21",
        f"drift:{P3}:2026-11-22",
    }
    await strict.aclose()


async def test_days_settle_before_they_are_compared(fake: FakeOpenAI) -> None:
    world(fake)
    p = build(fake, reconcile_settle="13h")  # 11-22 ends at 00:00; 13:00 is after NOW (12:30)
    res = await p.sources()["openai.usage"].poll(NOW, TODAY)
    assert {dict(k)["day"] for k in res.gauges["estimate_drift_usd"]} == {"2026-11-21"}
    await p.aclose()


async def test_an_incomplete_estimate_is_not_compared(fake: FakeOpenAI) -> None:
    world(fake)
    fake.add_completion(D2.replace(hour=12), P1, K1, "mystery-1", input=10)
    p = build(fake, prices=PriceBook())  # no "*" fallback: mystery-1 cannot be priced
    res = await p.sources()["openai.usage"].poll(NOW, TODAY)
    assert (("project", P1), ("day", "2026-11-22")) not in res.gauges["estimate_drift_usd"]
    await p.aclose()


async def test_reconciliation_runs_every_interval_and_shares_the_costs_read(
    fake: FakeOpenAI, provider: OpenAIProvider, clock: FakeClock
) -> None:
    world(fake)
    await provider.sources()["openai.costs"].poll(NOW, MONTH)
    res = await provider.sources()["openai.usage"].poll(NOW, TODAY)
    assert res.gauges and len(fake.requests("GET", "/organization/costs")) == 1
    later = NOW + timedelta(minutes=1)
    clock.now = later
    res = await provider.sources()["openai.usage"].poll(later, TODAY)
    assert res.gauges == {} and res.events == ()
    later = NOW + timedelta(minutes=11)
    clock.now = later
    res = await provider.sources()["openai.usage"].poll(later, TODAY)
    assert res.gauges and len(fake.requests("GET", "/organization/costs")) == 2


async def test_unreadable_costs_leave_usage_intact(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    world(fake)
    fake.faults.append(Fault("GET", "/organization/costs", 200, {"object": "page"}))
    res = await provider.sources()["openai.usage"].poll(NOW, TODAY)
    assert res.ok and res.observations and res.gauges == {}


async def test_reconcile_off_reads_only_the_windows(fake: FakeOpenAI) -> None:
    p = build(fake, reconcile=False)
    res = await p.sources()["openai.usage"].poll(NOW, TODAY)
    assert res.coverage[0].start == TODAY and res.gauges == {}
    assert fake.requests("GET", "/organization/costs") == []
    await p.aclose()
