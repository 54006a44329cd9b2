"""``azure.cost-query`` through the real CostManagementClient over the fake ARM transport."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from killswitch.model import Money, ObservationKind, PollResult
from tests.providers.azure.arm import (
    API,
    RESOURCE_COLUMNS,
    SUB,
    TAG_COLUMNS,
    FakeArm,
    error,
    query_result,
)
from tests.providers.azure.conftest import NOW, make_provider

AOAI = f"/subscriptions/{SUB}/resourcegroups/ai/providers/microsoft.cognitiveservices/accounts/aoai"
VM = f"/subscriptions/{SUB}/resourcegroups/web/providers/microsoft.compute/virtualmachines/vm1"


async def poll(arm: FakeArm, now: datetime = NOW, **query: Any) -> PollResult:
    p = make_provider(arm, cost_query=query) if query else make_provider(arm)
    try:
        return await p.sources()["azure.cost-query"].poll(now, now)
    finally:
        await p.aclose()


async def test_month_to_date_per_resource(arm: FakeArm) -> None:
    arm.query_pages = [
        query_result([[612.4031, AOAI, "USD"], [0.0098655868, VM, "USD"]], RESOURCE_COLUMNS)
    ]
    r = await poll(arm)
    assert r.ok
    (call,) = arm.calls
    assert (call.method, call.path, call.api_version) == (
        "POST",
        f"/subscriptions/{SUB}/providers/Microsoft.CostManagement/query",
        API["query"],
    )
    assert call.body == {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-23T12:00:00Z"},
        "dataset": {
            "granularity": "None",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": "ResourceId"}],
        },
    }
    by = {o.target: o for o in r.observations}
    assert by[AOAI].amount == Money(Decimal("612.4031"), "USD")
    assert by[AOAI].kind is ObservationKind.TO_DATE
    assert (by[AOAI].start, by[AOAI].end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert by[AOAI].dims == {"resource": AOAI, "resource_group": "ai"}
    assert by[VM].amount.amount == Decimal("0.0098655868")
    assert r.data_as_of == NOW.replace(hour=4)


async def test_tag_grouping_resource_type_filter_and_scope(arm: FakeArm) -> None:
    arm.query_pages = [
        query_result(
            [[300.5, "team", "ml", "EUR"], [12, "team", "web", "EUR"], [3.25, "", "", "EUR"]],
            TAG_COLUMNS,
        )
    ]
    r = await poll(
        arm,
        group_by="tag:team",
        scope=f"/subscriptions/{SUB}/resourceGroups/ai",
        cost_type="AmortizedCost",
        resource_types=["microsoft.cognitiveservices/accounts"],
    )
    (call,) = arm.calls
    assert (
        call.path
        == f"/subscriptions/{SUB}/resourceGroups/ai/providers/Microsoft.CostManagement/query"
    )
    assert call.body["type"] == "AmortizedCost"
    assert call.body["dataset"]["grouping"] == [{"type": "TagKey", "name": "team"}]
    assert call.body["dataset"]["filter"] == {
        "dimensions": {
            "name": "ResourceType",
            "operator": "In",
            "values": ["microsoft.cognitiveservices/accounts"],
        }
    }
    by = {o.dims["tag"]: o.amount for o in r.observations}
    assert by == {
        "ml": Money(Decimal("300.5"), "EUR"),
        "web": Money(Decimal(12), "EUR"),
        "(untagged)": Money(Decimal("3.25"), "EUR"),
    }


async def test_pages_are_followed_with_the_same_body(arm: FakeArm) -> None:
    arm.query_pages = [
        query_result([[1.5, AOAI, "USD"]], RESOURCE_COLUMNS),
        query_result([[2.5, VM, "USD"]], RESOURCE_COLUMNS),
    ]
    r = await poll(arm)
    first, second = arm.calls
    assert second.method == "POST" and second.query["$skiptoken"] == "1"
    assert second.body == first.body
    assert sorted(o.amount.amount for o in r.observations) == [Decimal("1.5"), Decimal("2.5")]


async def test_no_content_means_no_groups_not_zero(arm: FakeArm) -> None:
    arm.query_pages = [None]  # 204, as in the swagger example
    r = await poll(arm)
    assert r.ok and r.observations == ()


async def test_alias_column_name_is_accepted(arm: FakeArm) -> None:
    cols = [("totalCost", "Number"), ("ResourceId", "String"), ("Currency", "String")]
    arm.query_pages = [query_result([[7, AOAI, "USD"]], cols)]
    (o,) = (await poll(arm)).observations
    assert o.amount == Money(Decimal(7), "USD")


@pytest.mark.parametrize(
    ("page", "complaint"),
    [
        (query_result([["612.4", AOAI, "USD"]], RESOURCE_COLUMNS), "cost is not a number"),
        (query_result([[None, AOAI, "USD"]], RESOURCE_COLUMNS), "cost is not a number"),
        (query_result([[1.0, AOAI]], RESOURCE_COLUMNS), "one value per column"),
        (query_result([[1.0, AOAI, None]], RESOURCE_COLUMNS), "Currency is not a currency"),
        (
            query_result([[1.0, AOAI]], [("Cost", "Number"), ("ResourceId", "String")]),
            "no Currency",
        ),
        (
            query_result(
                [[1.0, "x", "USD"]],
                [("Other", "Number"), ("ResourceId", "String"), ("Currency", "String")],
            ),
            "no totalCost or Cost column",
        ),
        (
            query_result([[1.0, AOAI, "USD"], [2.0, AOAI, "EUR"]], RESOURCE_COLUMNS),
            "two currencies",
        ),
        ({"properties": {"rows": []}}, "columns is not a list"),
        ({"value": []}, "properties is missing"),
    ],
)
async def test_malformed_results_are_errors_never_zero(
    arm: FakeArm, page: Any, complaint: str
) -> None:
    arm.query_pages = [page]
    r = await poll(arm)
    assert r.error is not None and complaint in r.error
    assert r.observations == ()


async def test_throttled_query_is_an_error_after_retries(arm: FakeArm) -> None:
    arm.overrides[("POST", "query$")] = lambda c: (
        429,
        {"error": {"code": "429", "message": "Too many requests. Please retry."}},
        {"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "0", "Retry-After": "0"},
    )
    r = await poll(arm)
    assert r.error is not None and "HTTP 429" in r.error
    assert len(arm.calls) == 4


async def test_forbidden_is_an_error_naming_the_scope(arm: FakeArm) -> None:
    arm.overrides[("POST", "query$")] = lambda c: error(
        403, "RBACAccessDenied", "The client does not have authorization to perform action."
    )
    r = await poll(arm)
    assert r.error == (
        f"Cost Management query at /subscriptions/{SUB}: HTTP 403 RBACAccessDenied: The client "
        "does not have authorization to perform action."
    )
    assert len(arm.calls) == 1  # not retried


async def test_results_reused_within_min_interval(arm: FakeArm) -> None:
    arm.query_pages = [query_result([[1.5, AOAI, "USD"]], RESOURCE_COLUMNS)]
    p = make_provider(arm)
    src = p.sources()["azure.cost-query"]
    await src.poll(NOW, NOW)
    r = await src.poll(NOW.replace(minute=20), NOW)
    assert len(arm.calls) == 1 and r.observations[0].observed_at == NOW
    await src.poll(NOW.replace(minute=31), NOW)
    assert len(arm.calls) == 2
    await p.aclose()


def test_group_by_is_validated() -> None:
    from killswitch.errors import ConfigError

    with pytest.raises(ConfigError, match="resource or tag"):
        make_provider(FakeArm(), cost_query={"group_by": "service"})
