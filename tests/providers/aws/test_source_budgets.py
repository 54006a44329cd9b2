"""aws.budgets on moto in-process: spend seeded with create_budget(CalculatedSpend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch.model import ObservationKind
from killswitch.providers.aws.source_budgets import BudgetsSource, current_period

from .conftest import ACCOUNT, client, make_provider, now_utc

pytestmark = pytest.mark.usefixtures("aws")


def create(
    name: str,
    actual: str | None,
    *,
    unit: str = "USD",
    time_unit: str = "MONTHLY",
    forecast: str | None = None,
    **extra: Any,
) -> None:
    budget: dict[str, Any] = {
        "BudgetName": name,
        "BudgetLimit": {"Amount": "5000", "Unit": unit},
        "TimeUnit": time_unit,
        "BudgetType": "COST" if unit == "USD" else "USAGE",
        **extra,
    }
    if actual is not None:
        calc: dict[str, Any] = {"ActualSpend": {"Amount": actual, "Unit": unit}}
        if forecast is not None:
            calc["ForecastedSpend"] = {"Amount": forecast, "Unit": unit}
        budget["CalculatedSpend"] = calc
    client("budgets").create_budget(AccountId=ACCOUNT, Budget=budget)


def source(**cfg: Any) -> BudgetsSource:
    s = make_provider(**cfg).sources()["aws.budgets"]
    assert isinstance(s, BudgetsSource)
    return s


async def test_actual_spend_is_a_to_date_observation_for_the_current_month() -> None:
    create("monthly-total", "5123.45", forecast="7000.10")
    now = now_utc()
    r = await source().poll(now, now - timedelta(days=1))
    assert r.ok, r.error
    (o,) = r.observations
    assert o.kind is ObservationKind.TO_DATE
    assert o.target == "monthly-total"
    assert o.amount.amount == Decimal("5123.45") and o.amount.currency == "USD"
    assert o.dims == {"budget": "monthly-total", "account": ACCOUNT}
    assert o.start == datetime(now.year, now.month, 1, tzinfo=UTC)
    assert o.end is not None and o.end.day == 1 and o.end > now
    labels = (("budget", "monthly-total"), ("account", ACCOUNT), ("currency", "USD"))
    assert r.gauges["aws_budget_forecasted_spend"][labels] == Decimal("7000.10")
    assert r.data_as_of is not None and r.data_as_of.tzinfo is not None
    assert r.data_as_of <= datetime.now(UTC)


async def test_daily_budget_matches_the_utc_day() -> None:
    create("daily", "12", time_unit="DAILY")
    now = now_utc()
    (o,) = (await source().poll(now, now)).observations
    assert o.start == now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert o.end == o.start + timedelta(days=1)


async def test_currency_is_kept_as_reported() -> None:
    create("eur", "10.5", unit="EUR")
    now = now_utc()
    (o,) = (await source().poll(now, now)).observations
    assert o.amount.currency == "EUR"


async def test_usage_budgets_are_not_money_and_give_no_observation() -> None:
    create("gb", "10", unit="GB")
    now = now_utc()
    r = await source().poll(now, now)
    assert r.ok and r.observations == ()


async def test_malformed_amount_is_an_error_not_zero() -> None:
    create("bad", "ten dollars")
    now = now_utc()
    r = await source().poll(now, now)
    assert not r.ok and "ActualSpend" in (r.error or "")
    assert r.observations == ()


async def test_no_budgets_is_no_data_not_zero() -> None:
    now = now_utc()
    r = await source().poll(now, now)
    assert r.ok and r.observations == ()


async def test_parse_without_calculated_spend_gives_no_observation() -> None:
    s = source()
    now = now_utc()
    page = {"Budgets": [{"BudgetName": "new", "TimeUnit": "MONTHLY", "BudgetType": "COST"}]}
    assert s.parse([page], ACCOUNT, now).observations == ()
    with pytest.raises(Exception, match="not a list"):
        s.parse([{"Budgets": "nope"}], ACCOUNT, now)


async def test_results_are_reused_within_min_interval() -> None:
    create("monthly-total", "1")
    s = source(budgets={"min_interval": "10m"})
    now = now_utc()
    first = await s.poll(now, now)
    again = await s.poll(now + timedelta(minutes=5), now)
    assert again is first and s.throttle.calls == 1
    later = await s.poll(now + timedelta(minutes=11), now)
    assert later is not first and s.throttle.calls == 2


async def test_budget_outside_its_time_period_is_skipped() -> None:
    past = datetime(2020, 1, 1, tzinfo=UTC)
    create("old", "1", TimePeriod={"Start": past, "End": past + timedelta(days=90)})
    now = now_utc()
    assert (await source().poll(now, now)).observations == ()


def test_current_period_for_each_time_unit() -> None:
    now = datetime(2026, 8, 17, 15, 0, tzinfo=UTC)
    assert current_period("QUARTERLY", now, None) == (
        datetime(2026, 7, 1, tzinfo=UTC),
        datetime(2026, 10, 1, tzinfo=UTC),
    )
    assert current_period("ANNUALLY", now, None) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    dec = datetime(2026, 12, 5, tzinfo=UTC)
    assert current_period("QUARTERLY", dec, None) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    custom = (datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 15, tzinfo=UTC))
    assert current_period("CUSTOM", now, custom) == custom


async def test_a_new_utc_day_refetches_at_once() -> None:
    create("monthly-total", "1")
    s = source(budgets={"min_interval": "1h"})
    late = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    await s.poll(late, late)
    await s.poll(late + timedelta(minutes=2), late)
    assert s.throttle.calls == 2
