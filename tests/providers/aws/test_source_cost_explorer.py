"""aws.cost-explorer on moto in-process: results seeded through moto's documented queue API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from killswitch.core.spend import group_spend
from killswitch.core.windows import WindowSpec
from killswitch.model import ObservationKind
from killswitch.providers.aws.source_cost_explorer import CostExplorerSource

from .conftest import make_provider

pytestmark = pytest.mark.usefixtures("aws")
SEED = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def seed(*results: dict[str, Any]) -> None:
    resp = requests.post(SEED, json={"results": list(results)}, timeout=5)
    assert resp.status_code == 201


def day(
    d: date, groups: dict[str, str] | None = None, total: str | None = None, estimated: bool = False
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "TimePeriod": {"Start": d.isoformat(), "End": (d + timedelta(days=1)).isoformat()},
        "Estimated": estimated,
        "Groups": [],
        "Total": {},
    }
    if total is not None:
        row["Total"] = {"UnblendedCost": {"Amount": total, "Unit": "USD"}}
    for k, v in (groups or {}).items():
        row["Groups"].append(
            {"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": v, "Unit": "USD"}}}
        )
    return row


def source(**cfg: Any) -> CostExplorerSource:
    s = make_provider(cost_explorer=cfg).sources()["aws.cost-explorer"]
    assert isinstance(s, CostExplorerSource)
    return s


async def test_daily_buckets_per_service_add_up_to_month_to_date() -> None:
    d1, d2 = date(2026, 11, 1), date(2026, 11, 2)
    seed(
        {
            "ResultsByTime": [
                day(d1, {"Amazon Bedrock": "10.25", "Amazon EC2": "1"}),
                day(d2, {"Amazon Bedrock": "4.75"}, estimated=True),
            ]
        }
    )
    s = source()
    r = await s.poll(NOW, NOW - timedelta(days=1))
    assert r.ok, r.error
    assert {o.kind for o in r.observations} == {ObservationKind.BUCKET}
    bedrock = [o for o in r.observations if o.dims == {"service": "Amazon Bedrock"}]
    assert sum(o.amount.amount for o in bedrock) == Decimal("15.00")
    assert bedrock[1].note.startswith("estimated")
    month = WindowSpec("monthly").at(NOW)
    by_target: dict[str, list[Any]] = {}
    for o in r.observations:
        by_target.setdefault(o.target, []).append(o)
    g = group_spend(by_target, month, "USD", NOW, r.coverage)
    assert g.amount is not None and g.amount.amount == Decimal("16.00")
    assert g.complete


async def test_request_is_month_to_date_with_filters_and_groups() -> None:
    s = source(
        services=["Amazon Bedrock"],
        accounts=["111122223333"],
        tags={"team": ["ml"]},
        group_by=["account", "tag:team"],
    )
    start, end = s.period(NOW, NOW - timedelta(hours=3))
    assert (start, end) == (date(2026, 11, 1), date(2026, 11, 24))
    req = s.request(start, end)
    assert req["Granularity"] == "DAILY" and req["Metrics"] == ["UnblendedCost"]
    assert req["GroupBy"] == [
        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        {"Type": "TAG", "Key": "team"},
    ]
    assert req["Filter"] == {
        "And": [
            {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
            {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": ["111122223333"]}},
            {"Tags": {"Key": "team", "Values": ["ml"]}},
        ]
    }
    # A weekly window that started last month widens the query.
    assert s.period(NOW, datetime(2026, 10, 27, tzinfo=UTC))[0] == date(2026, 10, 27)


async def test_tag_groups_are_parsed_and_named() -> None:
    seed(
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                    "Estimated": False,
                    "Groups": [
                        {
                            "Keys": ["111122223333", "team$ml"],
                            "Metrics": {"UnblendedCost": {"Amount": "3", "Unit": "USD"}},
                        }
                    ],
                }
            ]
        }
    )
    r = await source(group_by=["account", "tag:team"]).poll(NOW, NOW)
    (o,) = r.observations
    assert o.dims == {"account": "111122223333", "tag_team": "ml"}
    assert o.target == "111122223333/ml"


async def test_ungrouped_uses_total() -> None:
    seed({"ResultsByTime": [day(date(2026, 11, 1), total="7.5")]})
    (o,) = (await source(group_by=[]).poll(NOW, NOW)).observations
    assert o.target == "total" and o.amount.amount == Decimal("7.5")


async def test_empty_answer_is_no_data_not_zero() -> None:
    r = await source().poll(NOW, NOW)  # nothing seeded: moto answers ResultsByTime []
    assert not r.ok and "empty" in (r.error or "")
    assert r.observations == () and r.coverage == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"ResultsByTime": "x"},
        {"ResultsByTime": [{"TimePeriod": {"Start": "nope", "End": "2026-11-02"}}]},
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                    "Groups": [
                        {
                            "Keys": ["a"],
                            "Metrics": {"UnblendedCost": {"Amount": "NaN", "Unit": "USD"}},
                        }
                    ],
                }
            ]
        },
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-02"},
                    "Groups": [{"Keys": ["a"], "Metrics": {}}],
                }
            ]
        },
    ],
)
async def test_malformed_answers_are_errors(bad: dict[str, Any]) -> None:
    seed(bad)
    r = await source().poll(NOW, NOW)
    assert not r.ok and r.observations == ()


async def test_min_interval_caches_and_a_new_day_refetches() -> None:
    seed(
        {"ResultsByTime": [day(date(2026, 11, 1), {"S": "1"})]},
        {"ResultsByTime": [day(date(2026, 11, 1), {"S": "2"})]},
    )
    s = source(min_interval="1h")
    first = await s.poll(NOW, NOW)
    assert (await s.poll(NOW + timedelta(minutes=59), NOW)) is first
    assert s.throttle.calls == 1
    # 13:00 -> same query, interval over: a real (billed) call again
    again = await s.poll(NOW + timedelta(minutes=61), NOW)
    assert again is not first and s.throttle.calls == 2
    # the day changes -> a different period: refetch at once, whatever the interval
    nxt = NOW.replace(hour=23, minute=59) + timedelta(minutes=2)
    await s.poll(nxt, NOW)
    await s.poll(nxt + timedelta(seconds=1), NOW)
    assert s.throttle.calls == 3


async def test_errors_retry_sooner_than_min_interval() -> None:
    s = source(min_interval="1h", error_retry="5m")
    bad = await s.poll(NOW, NOW)
    assert not bad.ok
    assert (await s.poll(NOW + timedelta(minutes=4), NOW)) is bad
    seed({"ResultsByTime": [day(date(2026, 11, 1), {"S": "1"})]})
    assert (await s.poll(NOW + timedelta(minutes=6), NOW)).ok
