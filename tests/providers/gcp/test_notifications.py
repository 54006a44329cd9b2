"""Budget notification parsing and Google's Pacific-time billing months (pure, no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from google import pubsub_v1

from killswitch.model import Money
from killswitch.providers.gcp.notifications import MalformedNotification, parse
from killswitch.providers.gcp.periods import NotAMonthStart, aligned_windows, billing_month
from tests.providers.gcp.fakes import ACCOUNT, BUDGET, notification

PUBLISHED = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def received(data: bytes, attrs: dict[str, str], mid: str = "17") -> Any:
    return pubsub_v1.types.ReceivedMessage(
        ack_id="ack-1",
        message={"data": data, "attributes": attrs, "message_id": mid, "publish_time": PUBLISHED},
    )


def test_parses_a_realistic_eur_notification() -> None:
    n = parse(received(*notification(1234.56, threshold=1.0)))
    assert n.cost == Money(Decimal("1234.56"), "EUR")  # EUR stays EUR, never converted
    assert n.budget_amount == Money(Decimal("1000.0"), "EUR")
    assert n.budget_id == BUDGET and n.billing_account == ACCOUNT
    assert n.interval_start == datetime(2026, 11, 1, 7, tzinfo=UTC)  # midnight PDT
    assert n.interval_end == datetime(2026, 12, 1, 8, tzinfo=UTC)  # midnight PST
    assert n.threshold_exceeded == Decimal("1.0")
    assert n.publish_time == PUBLISHED and n.message_id == "17"


def test_periodic_update_without_threshold_and_zero_cost_is_zero_not_missing() -> None:
    n = parse(received(*notification(0)))
    assert n.cost == Money(Decimal(0), "EUR") and n.threshold_exceeded is None


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-01T07:00:00Z", datetime(2026, 12, 1, 8, tzinfo=UTC)),  # PDT -> PST
        ("2026-12-01T08:00:00Z", datetime(2027, 1, 1, 8, tzinfo=UTC)),  # year end
        ("2027-03-01T08:00:00Z", datetime(2027, 4, 1, 7, tzinfo=UTC)),  # PST -> PDT
        ("2027-07-01T08:00:00Z", datetime(2027, 8, 1, 8, tzinfo=UTC)),  # fixed UTC-8 reading
        ("2026-11-01T00:00:00-07:00", datetime(2026, 12, 1, 8, tzinfo=UTC)),  # offset form
    ],
)
def test_billing_month_end_is_the_next_pacific_month_start(start: str, end: datetime) -> None:
    s = datetime.fromisoformat(start)
    assert billing_month(s) == (s.astimezone(UTC), end)


def test_a_mid_month_interval_is_not_a_monthly_budget() -> None:
    with pytest.raises(NotAMonthStart):
        billing_month(datetime(2026, 11, 15, 8, tzinfo=UTC))


def test_aligned_windows_relabel_onto_each_zone_calendar_month() -> None:
    start = datetime(2026, 11, 1, 7, tzinfo=UTC)
    (utc,) = aligned_windows(start, ("UTC",))
    assert (utc.start, utc.end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    # Los Angeles is the billing month itself: no second label; Kyiv gets its own month.
    zones = aligned_windows(start, ("America/Los_Angeles", "Europe/Kyiv", "UTC"))
    assert [w.start for w in zones] == [
        datetime(2026, 10, 31, 22, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    ]


BAD: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # (what, payload overrides, attribute overrides, budget still known)
    ("cost missing", {"costAmount": None}, {}, True),
    ("cost as string", {"costAmount": "12.5"}, {}, True),
    ("cost boolean", {"costAmount": True}, {}, True),
    ("cost NaN-like", {"costAmount": "NaN"}, {}, True),
    ("budget amount missing", {"budgetAmount": None}, {}, True),
    ("currency lower case", {"currencyCode": "eur"}, {}, True),
    ("currency missing", {"currencyCode": None}, {}, True),
    ("interval naive", {"costIntervalStart": "2026-11-01T07:00:00"}, {}, True),
    ("interval garbage", {"costIntervalStart": "last month"}, {}, True),
    ("quarterly/custom period", {"costIntervalStart": "2026-11-15T08:00:00Z"}, {}, True),
    ("unknown schema", {}, {"schemaVersion": "2.0"}, True),
    ("no billing account", {}, {"billingAccountId": ""}, True),
    ("no budget id", {}, {"budgetId": ""}, False),
]


@pytest.mark.parametrize(("what", "payload", "attrs", "known"), BAD, ids=[b[0] for b in BAD])
def test_malformed_messages_raise_never_zero(
    what: str, payload: dict[str, Any], attrs: dict[str, Any], known: bool
) -> None:
    data, attributes = notification(100.0)
    body = json.loads(data)
    for k, v in payload.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    attributes.update(attrs)
    with pytest.raises(MalformedNotification) as err:
        parse(received(json.dumps(body).encode(), attributes))
    assert (err.value.budget_id == BUDGET) is known


@pytest.mark.parametrize("data", [b"\xff\xfe", b"not json", b"[1, 2]", b"null", b""])
def test_data_that_is_not_a_json_object_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedNotification, match="JSON"):
        parse(received(data, notification(1.0)[1]))
