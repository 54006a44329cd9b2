"""The Pub/Sub source on a realistic message stream, through a fake pull client.

The stream is what Google and Pub/Sub really do: periodic re-publication of the running total,
at-least-once delivery (duplicates), no ordering (late, older totals), a new billing month,
malformed data, and a budget in EUR.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from killswitch.model import Money, ObservationKind, PollResult
from killswitch.providers.gcp.source_pubsub import BudgetNotificationSource
from tests.providers.gcp.fakes import BUDGET, FakeSubscription, notification
from tests.providers.gcp.helpers import Clock, pull_provider

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SINCE = datetime(2026, 11, 1, tzinfo=UTC)  # the UTC monthly window a budget asks for
NOV = (datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC))
NOV_UTC = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def t(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def source(sub: FakeSubscription, **entry: object) -> BudgetNotificationSource:
    p, _ = pull_provider(sub, **entry)
    src = p.sources()["gcp.budget-notifications"]
    assert isinstance(src, BudgetNotificationSource)
    return src


def by_period(r: PollResult) -> dict[tuple[datetime | None, datetime | None], Money]:
    assert r.ok, r.error
    return {(o.start, o.end): o.amount for o in r.observations if o.target == BUDGET}


async def test_stream_dedup_out_of_order_and_ack_after_store(sub: FakeSubscription) -> None:
    src = source(sub)
    # Published in time order, but delivered in any order: the 1020 total arrives first.
    sub.publish(*notification(1020.0, threshold=1.0), publish_time=t(22))
    sub.publish(*notification(400.0), publish_time=t(20))
    sub.publish(*notification(650.0, threshold=0.5), publish_time=t(21))
    r1 = await src.poll(NOW, SINCE)
    assert by_period(r1) == {
        NOV: Money(Decimal("1020.0"), "EUR"),
        NOV_UTC: Money(Decimal("1020.0"), "EUR"),
    }
    (exact,) = [o for o in r1.observations if (o.start, o.end) == NOV]
    assert exact.kind is ObservationKind.TO_DATE and exact.complete
    assert exact.dims == {"budget": BUDGET, "billing_account": "01D4EE-079462-DFD6EC"}
    assert exact.observed_at == t(22) and r1.data_as_of == t(22)
    (mapped,) = [o for o in r1.observations if (o.start, o.end) == NOV_UTC]
    assert "reported as 2026-11-01T00:00:00+00:00" in mapped.note
    # Nothing acknowledged before the engine stored the result; deadlines extended instead.
    assert sub.acked == [] and sub.log == ["pull", "modify:150"]
    assert sorted(s for _, s in sub.extended) == [150, 150, 150]

    # A late, older total (published before all the others) and a duplicate delivery.
    sub.publish(*notification(300.0), publish_time=t(19))
    r2 = await src.poll(NOW, SINCE)
    assert sub.log[2:4] == ["ack", "pull"]  # poll 1's messages acked first, then pulled
    assert sorted(sub.acked) == ["1", "2", "3"]
    assert by_period(r2)[NOV] == Money(Decimal("1020.0"), "EUR")  # never lowered
    (exact2,) = [o for o in r2.observations if (o.start, o.end) == NOV]
    assert exact2.observed_at == t(22)  # newest publish time seen, not the late message's

    await src.poll(NOW, SINCE)
    assert sorted(sub.acked) == ["1", "2", "3", "4"] and sub.messages == {}


async def test_duplicate_delivery_counts_once(sub: FakeSubscription, clock: Clock) -> None:
    src = source(sub)
    mid = sub.publish(*notification(700.0), publish_time=t(21))
    await src.poll(NOW, SINCE)
    sub.redeliver_duplicate(mid)  # Pub/Sub hands the same message out again
    r = await src.poll(NOW, SINCE)
    assert by_period(r)[NOV] == Money(Decimal("700.0"), "EUR")
    await src.poll(NOW, SINCE)
    assert sub.acked == [mid] and sub.messages == {}


async def test_new_month_starts_a_new_period(sub: FakeSubscription) -> None:
    src = source(sub)
    sub.publish(*notification(1500.0), publish_time=t(30, 23))
    await src.poll(NOW, SINCE)
    sub.publish(*notification(12.5, start="2026-12-01T08:00:00Z"), publish_time=t(1, 9, 12))
    dec_now, dec_since = t(1, 12, 12), datetime(2026, 12, 1, tzinfo=UTC)
    r = await src.poll(dec_now, dec_since)
    got = by_period(r)
    assert got[
        (datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2027, 1, 1, 8, tzinfo=UTC))
    ] == Money(Decimal("12.5"), "EUR")
    assert got[(dec_since, datetime(2027, 1, 1, tzinfo=UTC))] == Money(Decimal("12.5"), "EUR")
    assert got[NOV] == Money(Decimal("1500.0"), "EUR")  # last month's total is not merged in
    # Once no window can need November any more, it is dropped from memory.
    r2 = await src.poll(datetime(2027, 1, 5, tzinfo=UTC), datetime(2027, 1, 3, tzinfo=UTC))
    assert by_period(r2) == {}


async def test_malformed_is_nacked_announced_and_makes_the_budget_incomplete(
    sub: FakeSubscription,
) -> None:
    src = source(sub)
    sub.publish(*notification(800.0), publish_time=t(21))
    await src.poll(NOW, SINCE)
    data, attrs = notification(800.0)
    body = json.loads(data)
    body["costAmount"] = "lots"  # a shape change must not become a number, least of all 0
    bad = sub.publish(json.dumps(body).encode(), attrs, publish_time=t(22))
    r = await src.poll(NOW, SINCE)
    assert r.ok  # other budgets keep flowing
    assert bad in sub.nacked and bad not in sub.acked and bad in sub.messages
    (ev,) = r.events
    assert ev.kind == "gcp_malformed_notification" and ev.dedup_key.endswith(f":{bad}")
    assert "costAmount is not a number" in ev.summary and BUDGET in ev.summary
    exact = [o for o in r.observations if (o.start, o.end) == NOV]
    assert exact[0].amount == Money(Decimal("800.0"), "EUR")
    assert not exact[0].complete and f"notification {bad}" in exact[0].note
    assert r.gauges["gcp_malformed_notifications"] == {
        (("subscription", "projects/ops/subscriptions/budget-alerts"),): Decimal(1)
    }

    # Redelivered (nack = at once): same event key, so on-call hears about it once.
    r2 = await src.poll(NOW, SINCE)
    assert [e.dedup_key for e in r2.events] == [ev.dedup_key]
    # A newer readable total clears the doubt.
    sub.messages.pop(bad)  # (as a dead-letter policy would, after max delivery attempts)
    sub.publish(*notification(950.0), publish_time=t(23))
    r3 = await src.poll(NOW, SINCE)
    exact3 = [o for o in r3.observations if (o.start, o.end) == NOV]
    assert exact3[0].complete and exact3[0].note == ""
    assert exact3[0].amount == Money(Decimal("950.0"), "EUR")


async def test_unattributable_malformed_message_only_alerts(sub: FakeSubscription) -> None:
    src = source(sub)
    sub.publish(*notification(100.0), publish_time=t(21))
    sub.publish(b"{}", {"schemaVersion": "1.0"}, publish_time=t(22))
    r = await src.poll(NOW, SINCE)
    assert len(r.events) == 1 and "budgetId" in r.events[0].summary
    assert all(o.complete for o in r.observations)


async def test_currency_change_within_a_period_is_malformed(sub: FakeSubscription) -> None:
    src = source(sub)
    sub.publish(*notification(100.0), publish_time=t(21))
    await src.poll(NOW, SINCE)
    sub.publish(*notification(120.0, currency="USD"), publish_time=t(22))
    r = await src.poll(NOW, SINCE)
    assert "currency changed from EUR to USD" in r.events[0].summary
    assert by_period(r)[NOV] == Money(Decimal("100.0"), "EUR")


async def test_budgets_in_different_currencies_stay_apart(sub: FakeSubscription) -> None:
    src = source(sub)
    sub.publish(*notification(100.0), publish_time=t(21))
    sub.publish(*notification(250.0, budget="usd-budget", currency="USD"), publish_time=t(21))
    r = await src.poll(NOW, SINCE)
    amounts = {(o.target, o.amount) for o in r.observations if (o.start, o.end) == NOV}
    assert amounts == {
        (BUDGET, Money(Decimal("100.0"), "EUR")),
        ("usd-budget", Money(Decimal("250.0"), "USD")),
    }
    assert r.gauges["gcp_budget_amount"][(("budget", BUDGET), ("currency", "EUR"))] == Decimal(
        "1000.0"
    )


async def test_a_failed_pull_is_an_error_not_zero(sub: FakeSubscription) -> None:
    src = source(sub)
    sub.fail_pulls = 1
    r = await src.poll(NOW, SINCE)
    assert not r.ok and r.observations == ()
    assert "pubsub pull projects/ops/subscriptions/budget-alerts" in (r.error or "")


async def test_drains_the_backlog_in_several_pulls(sub: FakeSubscription) -> None:
    src = source(sub, max_messages=2, max_pulls=3)
    for i in range(7):
        sub.publish(*notification(float(i)), publish_time=t(10 + i))
    r = await src.poll(NOW, SINCE)
    assert sub.log.count("pull") == 3  # bounded by max_pulls
    assert by_period(r)[NOV] == Money(Decimal("5.0"), "EUR")
    r = await src.poll(NOW, SINCE)
    assert by_period(r)[NOV] == Money(Decimal("6.0"), "EUR")


async def test_unacked_messages_come_back_after_their_deadline(
    sub: FakeSubscription, clock: Clock
) -> None:
    """If the daemon dies before acking, Pub/Sub redelivers: a fresh source reads them again."""
    src = source(sub)
    sub.publish(*notification(640.0), publish_time=t(21))
    await src.poll(NOW, SINCE)
    clock.t += 151  # past the extended deadline: the daemon "died" before poll 2
    fresh = source(sub)
    r = await fresh.poll(NOW, SINCE)
    assert by_period(r)[NOV] == Money(Decimal("640.0"), "EUR")
    await fresh.poll(NOW, SINCE)
    assert sub.acked == ["1"] and sub.stale_acks == []


def test_poll_interval_must_fit_the_ack_deadline() -> None:
    import pytest

    from killswitch.errors import ConfigError

    with pytest.raises(ConfigError, match="poll_interval <= 4m30s"):
        pull_provider(FakeSubscription(), poll_interval="5m")
    p, _ = pull_provider(FakeSubscription(), poll_interval="4m30s")
    assert p.cfg.ack_deadline_seconds == 570
    assert p.cfg.poll_interval == timedelta(minutes=4, seconds=30)
