"""``azure.budgets`` through the real ConsumptionManagementClient over the fake ARM transport."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from killswitch.model import Money, ObservationKind, PollResult
from tests.providers.azure.arm import API, SUB, FakeArm, budget, error
from tests.providers.azure.conftest import NOW, hours, make_provider

SUB_SCOPE = f"/subscriptions/{SUB}"
RG_SCOPE = f"{SUB_SCOPE}/resourceGroups/ai"
NOV = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


async def poll(arm: FakeArm, now: datetime = NOW, **entry: Any) -> PollResult:
    p = make_provider(arm, **entry)
    try:
        return await p.sources()["azure.budgets"].poll(now, now)
    finally:
        await p.aclose()


async def test_current_spend_is_a_to_date_observation_for_the_calendar_month(
    arm: FakeArm,
) -> None:
    arm.add_budgets(SUB_SCOPE, budget("ai-monthly", 812.37, forecast=1190.5))
    r = await poll(arm)
    assert r.ok
    (o,) = r.observations
    assert o.kind is ObservationKind.TO_DATE
    assert (o.start, o.end) == NOV
    assert o.amount == Money(Decimal("812.37"), "USD")
    assert isinstance(o.amount.amount, Decimal)
    assert o.target == f"{SUB_SCOPE}/providers/Microsoft.Consumption/budgets/ai-monthly"
    assert o.dims == {"budget": "ai-monthly", "budget_scope": SUB_SCOPE}
    assert o.observed_at == NOW and o.complete
    assert r.data_as_of == NOW - hours(8)
    labels = (("budget", "ai-monthly"), ("budget_scope", SUB_SCOPE))
    assert r.gauges["azure_budget_forecast_spend"] == {
        (*labels, ("currency", "USD")): Decimal("1190.5")
    }
    assert r.gauges["azure_budget_amount"] == {labels: Decimal("800")}
    (call,) = arm.calls
    assert (call.method, call.path, call.api_version) == (
        "GET",
        f"{SUB_SCOPE}/providers/Microsoft.Consumption/budgets",
        API["budgets"],
    )
    assert call.headers["authorization"] == "Bearer fake-arm-token-not-a-secret"


async def test_resource_group_scope_and_other_currency(arm: FakeArm) -> None:
    rg_budget = budget("ai-rg", 640, unit="EUR", scope=f"subscriptions/{SUB}/resourceGroups/ai")
    arm.add_budgets(RG_SCOPE, rg_budget)
    arm.add_budgets(SUB_SCOPE, rg_budget, budget("sub-wide", 10))  # lists its groups' too
    r = await poll(arm, scope=[RG_SCOPE, SUB_SCOPE])
    assert [c.path for c in arm.calls] == [
        f"{RG_SCOPE}/providers/Microsoft.Consumption/budgets",
        f"{SUB_SCOPE}/providers/Microsoft.Consumption/budgets",
    ]
    by = {o.dims["budget"]: o for o in r.observations}
    assert set(by) == {"ai-rg", "sub-wide"}  # the group's budget once, not twice
    assert by["ai-rg"].amount == Money(Decimal(640), "EUR")
    assert by["ai-rg"].dims["budget_scope"] == RG_SCOPE


async def test_quarterly_and_annual_budgets_get_their_calendar_period(arm: FakeArm) -> None:
    arm.add_budgets(
        SUB_SCOPE,
        budget("q", 5, grain="Quarterly"),
        budget("y", 7, grain="Annually"),
    )
    by = {o.dims["budget"]: o for o in (await poll(arm)).observations}
    assert (by["q"].start, by["q"].end) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert (by["y"].start, by["y"].end) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


async def test_budgets_that_give_no_spend_say_why_and_give_no_observation(arm: FakeArm) -> None:
    arm.add_budgets(
        SUB_SCOPE,
        budget("billing", 50, grain="BillingMonth"),
        budget("new", None),  # not evaluated yet: no currentSpend
        budget("expired", 50, end="2026-10-31T00:00:00Z"),
        budget("future", 50, start="2027-01-01T00:00:00Z"),
        budget("usage", 50, category="Usage"),
    )
    r = await poll(arm)
    assert r.ok and r.observations == ()
    summaries = " | ".join(e.summary for e in r.events)
    assert "billing cycle" in summaries and "not evaluated" in summaries
    assert "ended 2026-10-31" in summaries and "starts 2027-01-01" in summaries
    assert "usage" not in {e.details["budget"] for e in r.events}  # quantities: just ignored
    assert len({e.dedup_key for e in r.events}) == len(r.events) == 4


async def test_each_skip_is_announced_once_per_process(arm: FakeArm) -> None:
    arm.add_budgets(SUB_SCOPE, budget("billing", 50, grain="BillingMonth"))
    p = make_provider(arm, budgets={"min_interval": "1s"})
    src = p.sources()["azure.budgets"]
    assert len((await src.poll(NOW, NOW)).events) == 1
    assert (await src.poll(NOW + hours(1), NOW)).events == ()
    await p.aclose()


async def test_end_date_day_still_counts(arm: FakeArm) -> None:
    arm.add_budgets(SUB_SCOPE, budget("ends-today", 3, end="2026-11-23T00:00:00Z"))
    assert len((await poll(arm)).observations) == 1


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (
            lambda b: b["properties"]["currentSpend"].update(amount="812.37"),
            "amount is not a number",
        ),
        (lambda b: b["properties"]["currentSpend"].update(amount=True), "amount is not a number"),
        (lambda b: b["properties"]["currentSpend"].pop("unit"), "unit is not a currency"),
        (
            lambda b: b["properties"]["currentSpend"].update(unit="dollars"),
            "unit is not a currency",
        ),
        (lambda b: b["properties"]["currentSpend"].update(amount=-1), "negative"),
        (lambda b: b["properties"].update(currentSpend=812), "currentSpend is not an object"),
        (lambda b: b["properties"].pop("timePeriod"), "timePeriod is missing"),
        (lambda b: b["properties"]["timePeriod"].update(startDate="soon"), "not an ISO 8601"),
        (lambda b: b["properties"].pop("timeGrain"), "timeGrain is missing"),
        (lambda b: b.pop("properties"), "properties is missing"),
        (lambda b: b.update(id="/subscriptions/x/whatever"), "not a Microsoft.Consumption"),
    ],
)
async def test_malformed_budget_is_an_error_never_zero(
    arm: FakeArm, mutate: Any, complaint: str
) -> None:
    b = budget("ai-monthly", 812.37)
    mutate(b)
    arm.add_budgets(SUB_SCOPE, budget("fine", 1), b)
    r = await poll(arm)
    assert r.error is not None and complaint in r.error
    assert r.observations == ()


@pytest.mark.parametrize(
    "reply",
    [
        (200, {"values": []}, {}),  # no 'value' list: the SDK alone would yield nothing
        (200, b"<html>gateway</html>", {"content-type": "text/html"}),
        error(403, "AuthorizationFailed", "The client 'x' does not have authorization"),
        error(500, "InternalServerError", "try later"),
    ],
)
async def test_unreadable_answers_are_errors(arm: FakeArm, reply: Any) -> None:
    arm.overrides[("GET", "budgets$")] = lambda c: reply
    r = await poll(arm)
    assert r.error is not None and r.observations == ()
    if reply[0] == 403:
        assert "HTTP 403 AuthorizationFailed" in r.error
    if reply[0] == 200:
        assert "budgets page" in r.error
    if reply[0] == 500:  # retried (3 retries) before giving up
        assert len(arm.calls) == 4


async def test_paged_list_follows_next_link(arm: FakeArm) -> None:
    link = f"https://management.azure.com{SUB_SCOPE}/providers/Microsoft.Consumption/budgets?api-version=2024-08-01&$skiptoken=p2"

    def page(c: Any) -> Any:
        if c.query.get("$skiptoken") == "p2":
            return 200, {"value": [budget("second", 2)]}, {}
        return 200, {"value": [budget("first", 1)], "nextLink": link}, {}

    arm.overrides[("GET", "budgets$")] = page
    r = await poll(arm)
    assert sorted(o.dims["budget"] for o in r.observations) == ["first", "second"]
    assert [c.query.get("$skiptoken") for c in arm.calls] == [None, "p2"]
    assert {c.api_version for c in arm.calls} == {API["budgets"]}


async def test_answers_are_reused_within_min_interval_and_refetched_on_a_new_day(
    arm: FakeArm,
) -> None:
    arm.add_budgets(SUB_SCOPE, budget("ai-monthly", 100))
    p = make_provider(arm, budgets={"min_interval": "10m"})
    src = p.sources()["azure.budgets"]
    await src.poll(NOW, NOW)
    await src.poll(NOW + hours(0.1), NOW)
    assert len(arm.calls) == 1
    await src.poll(NOW + hours(0.2), NOW)
    assert len(arm.calls) == 2
    late = datetime(2026, 11, 23, 23, 59, tzinfo=UTC)
    await src.poll(late, NOW)
    await src.poll(late + hours(0.05), NOW)  # 00:02 next day: refetch although < 10 min
    assert len(arm.calls) == 4
    await p.aclose()


async def test_new_period_figure_withheld_until_it_drops(arm: FakeArm) -> None:
    """Right after a period starts Azure may still show the old period's total."""
    b = budget("ai-monthly", 795.0)
    arm.add_budgets(SUB_SCOPE, b)
    p = make_provider(arm, budgets={"min_interval": "1s"})
    src = p.sources()["azure.budgets"]
    assert len((await src.poll(datetime(2026, 11, 30, 22, tzinfo=UTC), NOW)).observations) == 1

    b["properties"]["currentSpend"]["amount"] = 812.0  # November's late data, on 1 December
    r = await src.poll(datetime(2026, 12, 1, 2, tzinfo=UTC), NOW)
    assert r.observations == ()
    (ev,) = r.events
    assert ev.kind == "azure_budget_withheld" and "812" in ev.summary

    b["properties"]["currentSpend"]["amount"] = 4.5  # the reset: below the last November figure
    r = await src.poll(datetime(2026, 12, 1, 9, tzinfo=UTC), NOW)
    (o,) = r.observations
    assert o.amount == Money(Decimal("4.5"), "USD") and o.start == datetime(2026, 12, 1, tzinfo=UTC)

    b["properties"]["currentSpend"]["amount"] = 9.0  # rises again in December: accepted
    (o,) = (await src.poll(datetime(2026, 12, 1, 12, tzinfo=UTC), NOW)).observations
    assert o.amount.amount == 9
    await p.aclose()


async def test_fresh_daemon_in_the_grace_window_waits_unless_zero_or_past_grace(
    arm: FakeArm,
) -> None:
    b = budget("ai-monthly", 300.0)
    arm.add_budgets(SUB_SCOPE, b)
    p = make_provider(arm, budgets={"min_interval": "1s", "reset_grace": "12h"})
    src = p.sources()["azure.budgets"]
    assert (await src.poll(datetime(2026, 12, 1, 3, tzinfo=UTC), NOW)).observations == ()
    b["properties"]["currentSpend"]["amount"] = 0
    assert len((await src.poll(datetime(2026, 12, 1, 4, tzinfo=UTC), NOW)).observations) == 1
    b["properties"]["currentSpend"]["amount"] = 300.0
    p2 = make_provider(arm, budgets={"min_interval": "1s", "reset_grace": "12h"})
    r = await p2.sources()["azure.budgets"].poll(datetime(2026, 12, 1, 13, tzinfo=UTC), NOW)
    assert len(r.observations) == 1  # 13 h into the month: past the grace
    await p.aclose()
    await p2.aclose()


async def test_budget_starting_inside_the_period_is_incomplete(arm: FakeArm) -> None:
    arm.add_budgets(SUB_SCOPE, budget("q", 5, grain="Quarterly", start="2026-11-01T00:00:00Z"))
    (o,) = (await poll(arm)).observations
    assert not o.complete and "starts 2026-11-01" in o.note
