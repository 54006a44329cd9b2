"""anthropic.costs (cents strings -> USD buckets) and estimate-vs-billed drift reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch.errors import MalformedResponse
from killswitch.model import ObservationKind
from killswitch.providers.anthropic import AnthropicProvider
from killswitch.providers.anthropic.shapes import cents

from .conftest import NOW, Mono, build
from .fake import DOC_WORKSPACE, FakeAnthropic, cost_result, usage_result

TODAY = datetime(2026, 11, 23, tzinfo=UTC)
YESTERDAY = TODAY - timedelta(days=1)
COSTS = "/v1/organizations/cost_report"


async def costs(p: AnthropicProvider, since: datetime = YESTERDAY) -> Any:
    return await p.sources()["anthropic.costs"].poll(NOW, since)


async def usage(p: AnthropicProvider, since: datetime = TODAY) -> Any:
    return await p.sources()["anthropic.usage"].poll(NOW, since)


@pytest.mark.parametrize(
    ("raw", "usd"),
    [
        ("123.45", "1.2345"),
        ("0", "0"),
        ("100", "1"),
        ("0.001", "0.00001"),
        ("98765432.1", "987654.321"),
    ],
)
def test_cents_strings_become_exact_dollars(raw: str, usd: str) -> None:
    assert cents(raw, "amount") == Decimal(usd)


@pytest.mark.parametrize("raw", [123.45, 100, None, "12,5", "NaN", "-1.00", "Infinity", ""])
def test_anything_but_a_nonnegative_decimal_string_is_malformed(raw: Any) -> None:
    with pytest.raises(MalformedResponse):
        cents(raw, "amount")


async def test_cost_report_rows_become_daily_buckets_per_workspace_and_line(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    # Fields as in the Cost Report reference (amount: cents as a decimal string, "123.45" in USD
    # is $1.2345; workspace_id null for the default workspace).
    fake.add_cost(YESTERDAY, cost_result("123.45"))
    fake.add_cost(
        YESTERDAY,
        cost_result(
            "10", description="Claude Sonnet 4 Usage - Output Tokens", token_type="output_tokens"
        ),
    )
    fake.add_cost(TODAY, cost_result("50", workspace=None))
    fake.add_cost(
        TODAY,
        cost_result(
            "7.5",
            description="Web Search Usage",
            cost_type="web_search",
            token_type=None,
            model=None,
        ),
    )
    res = await costs(provider)
    assert res.ok, res.error
    got = {(o.start, o.target): o for o in res.observations}
    o = got[(YESTERDAY, f"{DOC_WORKSPACE}|Claude Sonnet 4 Usage - Input Tokens")]
    assert o.kind is ObservationKind.BUCKET and o.end == TODAY
    assert o.amount.amount == Decimal("1.2345") and o.amount.currency == "USD"
    assert o.dims == {
        "workspace": DOC_WORKSPACE,
        "description": "Claude Sonnet 4 Usage - Input Tokens",
        "model": "claude-sonnet-4-20250514",
        "cost_type": "tokens",
        "token_type": "uncached_input_tokens",
    }
    assert got[(TODAY, "default|Claude Sonnet 4 Usage - Input Tokens")].amount.amount == Decimal(
        "0.5"
    )
    assert got[(TODAY, f"{DOC_WORKSPACE}|Web Search Usage")].dims["cost_type"] == "web_search"
    assert [(c.start, c.end) for c in res.coverage] == [(YESTERDAY, NOW)]
    (q,) = fake.queries(COSTS)
    assert q["group_by[]"] == ["workspace_id", "description"] and q["bucket_width"] == ["1d"]


async def test_a_report_without_todays_bucket_covers_only_the_days_it_has(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.override[COSTS] = lambda: (
        200,
        {
            "data": [
                {
                    "starting_at": "2026-11-22T00:00:00Z",
                    "ending_at": "2026-11-23T00:00:00Z",
                    "results": [],
                }
            ],
            "has_more": False,
            "next_page": None,
        },
    )
    res = await costs(provider)
    assert [(c.start, c.end) for c in res.coverage] == [(YESTERDAY, TODAY)]  # today: no data


@pytest.mark.parametrize(
    "change", [{"amount": 1.5}, {"amount": "-3"}, {"currency": None}, {"workspace_id": 5}]
)
async def test_malformed_cost_rows_are_errors(
    provider: AnthropicProvider, fake: FakeAnthropic, change: dict[str, Any]
) -> None:
    row = {**cost_result("100"), **change}
    fake.override[COSTS] = lambda: (
        200,
        {
            "data": [
                {
                    "starting_at": "2026-11-23T00:00:00Z",
                    "ending_at": "2026-11-24T00:00:00Z",
                    "results": [row],
                }
            ],
            "has_more": False,
            "next_page": None,
        },
    )
    res = await costs(provider)
    assert not res.ok and res.observations == ()


def _world(fake: FakeAnthropic) -> None:
    at = TODAY + timedelta(hours=10)
    fake.add_usage(at, usage_result(uncached=1_000_000))  # $3 in the doc workspace
    fake.add_usage(
        at, usage_result(uncached=1_000_000, service_tier="priority")
    )  # not billed in the cost report
    fake.add_usage(at, usage_result(key=None, workspace=None, uncached=500_000))  # $1.50 default
    fake.add_cost(TODAY, cost_result("450.00"))  # billed $4.50 vs $3 estimated
    fake.add_cost(
        TODAY,
        cost_result(
            "1000",
            description="Code Execution Usage",
            cost_type="code_execution",
            token_type=None,
            model=None,
        ),
    )
    fake.add_cost(TODAY, cost_result("150", workspace=None))  # $1.50: matches
    fake.add_cost(YESTERDAY, cost_result("99999"))  # a day this process never read usage for


async def test_drift_gauge_per_workspace_and_day_and_one_alert_over_both_bounds(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    _world(fake)
    res = await usage(provider)
    assert res.ok, res.error
    drift = res.gauges["estimate_drift_usd"]
    assert drift == {
        (("workspace", DOC_WORKSPACE), ("day", "2026-11-23")): Decimal("-1.5"),
        (("workspace", "default"), ("day", "2026-11-23")): Decimal(0),
    }
    assert res.gauges["reconciled_billed_usd"][
        (("workspace", DOC_WORKSPACE), ("day", "2026-11-23"))
    ] == Decimal("4.5")
    (ev,) = res.events
    assert ev.kind == "estimate_drift" and ev.dedup_key == f"drift:{DOC_WORKSPACE}:2026-11-23"
    assert ev.details["drift_usd"] == "-1.5" and "under-estimate" in ev.summary
    # the usage observation still counts priority usage: budgets see everything we know
    assert sum(o.amount.amount for o in res.observations) == Decimal("7.5")


async def test_drift_within_the_ratio_or_the_dollar_bound_is_quiet(fake: FakeAnthropic) -> None:
    at = TODAY + timedelta(hours=10)
    fake.add_usage(at, usage_result(uncached=10_000_000, output=4_000_000))  # $90
    fake.add_cost(TODAY, cost_result("9200"))  # $92: -$2 but only 2.2%
    fake.add_usage(at, usage_result(workspace=None, uncached=100_000))  # $0.30
    fake.add_cost(TODAY, cost_result("90", workspace=None))  # $0.90: 67% but only $0.60
    p = build(fake, Mono())
    res = await usage(p)
    assert res.events == ()
    assert res.gauges["estimate_drift_usd"][
        (("workspace", DOC_WORKSPACE), ("day", "2026-11-23"))
    ] == Decimal(-2)
    await p.aclose()
    p2 = build(fake, Mono(), drift_usd="0.5", drift_ratio="0.5")
    assert [e.details["workspace"] for e in (await usage(p2)).events] == ["default"]
    await p2.aclose()


async def test_no_drift_for_unpriced_usage_or_unbilled_days(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.add_usage(TODAY + timedelta(hours=1), usage_result(model="claude-zeta-9", uncached=5))
    fake.override[COSTS] = lambda: (
        200,
        {
            "data": [
                {
                    "starting_at": "2026-11-22T00:00:00Z",
                    "ending_at": "2026-11-23T00:00:00Z",
                    "results": [cost_result("100")],
                }
            ],
            "has_more": False,
            "next_page": None,
        },
    )
    res = await usage(provider)
    assert res.ok and res.gauges == {} and res.events == ()


async def test_usage_and_costs_share_one_cost_report_read(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    _world(fake)
    await usage(provider)
    assert (await costs(provider)).ok
    assert len(fake.queries(COSTS)) == 1


async def test_an_unreadable_bill_does_not_stale_usage(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    _world(fake)
    fake.override[COSTS] = lambda: (200, {"data": "nope"})
    res = await usage(provider)
    assert res.ok and res.gauges == {} and len(res.observations) == 2
