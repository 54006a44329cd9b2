"""The source through the real Pub/Sub client library over REST, against the loopback stand-in:
the wire calls are pull, modifyAckDeadline (extend; 0 = nack) and acknowledge, with the
documented JSON bodies (the stand-in rejects unknown or missing fields)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from killswitch.model import Money
from tests.providers.gcp.fakes import notification
from tests.providers.gcp.helpers import provider
from tests.providers.gcp.standin import FakeGcp

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
PATH = "/v1/projects/ops/subscriptions/budget-alerts"


async def test_pull_extend_nack_and_ack_over_rest(fake: FakeGcp) -> None:
    p = provider(fake)
    src = p.sources()["gcp.budget-notifications"]
    fake.sub.publish(*notification(880.25), publish_time=datetime(2026, 11, 22, tzinfo=UTC))
    data, attrs = notification(1.0)
    fake.sub.publish(
        data.replace(b'"costAmount": 1.0', b'"costAmount": "1.0"'),
        attrs,
        publish_time=datetime(2026, 11, 22, 1, tzinfo=UTC),
    )
    r = await src.poll(NOW, SINCE)
    assert r.ok, r.error
    assert {o.amount for o in r.observations} == {Money(Decimal("880.25"), "EUR")}
    assert len(r.events) == 1
    calls = [(q.path.removeprefix(PATH), q.json()) for q in fake.pubsub.requests]
    assert calls[0] == (":pull", {"maxMessages": 100})
    assert calls[1][0] == ":modifyAckDeadline" and calls[1][1]["ackDeadlineSeconds"] == 150
    assert len(calls[1][1]["ackIds"]) == 2
    assert calls[2][0] == ":modifyAckDeadline"
    assert "ackDeadlineSeconds" not in calls[2][1]  # 0: proto3 default, omitted = nack
    assert fake.sub.nacked == ["2"]
    await src.poll(NOW, SINCE)
    assert fake.pubsub.requests[3].path == f"{PATH}:acknowledge"
    assert fake.sub.acked == ["1"] and fake.violations == []
    assert all(q.headers.get("content-type") == "application/json" for q in fake.pubsub.requests)
    await p.aclose()


async def test_empty_subscription_is_ok_and_no_data(fake: FakeGcp) -> None:
    p = provider(fake)
    r = await p.sources()["gcp.budget-notifications"].poll(NOW, SINCE)
    assert r.ok and r.observations == () and r.data_as_of is None
    await p.aclose()


async def test_pubsub_outage_is_an_error_result(fake: FakeGcp) -> None:
    fake.sub.fail_pulls = 99
    p = provider(fake, timeout="1s")
    r = await p.sources()["gcp.budget-notifications"].poll(NOW, SINCE)
    assert not r.ok and "UNAVAILABLE: The service was unable" in (r.error or "")
    assert "gave up retrying" in (r.error or "") and "http" not in (r.error or "")
    assert r.observations == ()
    await p.aclose()


def test_base64_data_round_trips() -> None:
    from tests.providers.gcp.fakes import Stored, rest_received

    m = Stored("9", b'{"a": 1}', {"budgetId": "b"}, datetime(2026, 11, 1, tzinfo=UTC))
    out = rest_received("ack", m)
    assert out["message"]["publishTime"] == "2026-11-01T00:00:00Z"
    import base64

    assert json.loads(base64.b64decode(out["message"]["data"])) == {"a": 1}
