"""In-memory Pub/Sub subscription semantics and realistic budget notifications.

:class:`FakeSubscription` behaves like a pull subscription: a pulled message is leased until its
ack deadline (10 s unless modified), then redelivered with a new ack id; ``acknowledge`` with a
current ack id removes it; ``modifyAckDeadline`` 0 redelivers at once. It backs both the
in-process :class:`FakePullClient` (the SDK's method names, returning the SDK's own types) and
the REST stand-in used by the SDK and by the daemon subprocess.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google import pubsub_v1

SUBSCRIPTION = "projects/ops/subscriptions/budget-alerts"
ACCOUNT = "01D4EE-079462-DFD6EC"
BUDGET = "0a1b2c3d-budget-id"


def notification(
    cost: float | int | str | None,
    *,
    start: str = "2026-11-01T07:00:00Z",
    budget: str = BUDGET,
    currency: str = "EUR",
    amount: float = 1000.0,
    threshold: float | None = None,
    account: str = ACCOUNT,
    schema: str = "1.0",
    **payload_over: Any,
) -> tuple[bytes, dict[str, str]]:
    """(data, attributes) shaped like Google's schemaVersion 1.0 budget notification."""
    payload: dict[str, Any] = {
        "budgetDisplayName": "sandbox monthly",
        "costAmount": cost,
        "costIntervalStart": start,
        "budgetAmount": amount,
        "budgetAmountType": "SPECIFIED_AMOUNT",
        "currencyCode": currency,
    }
    if threshold is not None:
        payload["alertThresholdExceeded"] = threshold
    if cost is None:
        del payload["costAmount"]
    payload.update(payload_over)
    attrs = {"schemaVersion": schema, "billingAccountId": account, "budgetId": budget}
    return json.dumps(payload).encode(), attrs


@dataclass
class Stored:
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: datetime
    deliveries: int = 0


@dataclass
class FakeSubscription:
    clock: Callable[[], float] = time.monotonic
    ack_deadline: float = 10.0
    messages: dict[str, Stored] = field(default_factory=dict)
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)  # ack id -> (msg, until)
    acked: list[str] = field(default_factory=list)
    nacked: list[str] = field(default_factory=list)
    extended: list[tuple[str, int]] = field(default_factory=list)
    stale_acks: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # pull / ack / modify, in call order
    fail_pulls: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._acks = itertools.count(1)
        self._lock = threading.Lock()

    def publish(
        self,
        data: bytes,
        attributes: dict[str, str],
        publish_time: datetime,
        message_id: str | None = None,
    ) -> str:
        with self._lock:
            mid = message_id or str(next(self._ids))
            self.messages[mid] = Stored(mid, data, attributes, publish_time)
            return mid

    def redeliver_duplicate(self, message_id: str) -> None:
        """Pub/Sub may deliver a message again although it was never nacked."""
        with self._lock:
            for ack, (mid, _) in list(self.leases.items()):
                if mid == message_id:
                    del self.leases[ack]

    def _leased(self, now: float) -> set[str]:
        return {mid for mid, until in self.leases.values() if until > now}

    def pull(self, max_messages: int) -> list[tuple[str, Stored]]:
        with self._lock:
            self.log.append("pull")
            if self.fail_pulls:
                self.fail_pulls -= 1
                raise RuntimeError("unavailable")
            now = self.clock()
            leased = self._leased(now)
            out = []
            for mid, m in self.messages.items():
                if mid in leased:
                    continue
                ack = f"ack-{next(self._acks)}-{mid}"
                self.leases[ack] = (mid, now + self.ack_deadline)
                m.deliveries += 1
                out.append((ack, m))
                if len(out) == max_messages:
                    break
            return out

    def acknowledge(self, ack_ids: list[str]) -> None:
        with self._lock:
            self.log.append("ack")
            now = self.clock()
            for ack in ack_ids:
                lease = self.leases.pop(ack, None)
                if lease is None or lease[1] <= now:
                    self.stale_acks.append(ack)  # Pub/Sub ignores expired ack ids
                    continue
                self.messages.pop(lease[0], None)
                self.acked.append(lease[0])

    def modify(self, ack_ids: list[str], seconds: int) -> None:
        with self._lock:
            self.log.append(f"modify:{seconds}")
            now = self.clock()
            for ack in ack_ids:
                if ack in self.leases:
                    mid, _ = self.leases[ack]
                    self.leases[ack] = (mid, now + seconds)
                    if seconds == 0:
                        self.nacked.append(mid)
                    else:
                        self.extended.append((mid, seconds))


class FakePullClient:
    """The subset of ``pubsub_v1.SubscriberClient`` the source uses, on a FakeSubscription."""

    def __init__(
        self,
        sub: FakeSubscription,
        permissions: tuple[str, ...] = ("pubsub.subscriptions.consume",),
    ) -> None:
        self.sub = sub
        self.permissions = permissions
        self.requests: list[dict[str, Any]] = []

    def pull(self, request: dict[str, Any], **kw: Any) -> Any:
        self.requests.append({"op": "pull", **request})
        assert request["subscription"] == SUBSCRIPTION
        got = self.sub.pull(request["max_messages"])
        return pubsub_v1.types.PullResponse(
            received_messages=[
                {
                    "ack_id": ack,
                    "message": {
                        "data": m.data,
                        "attributes": m.attributes,
                        "message_id": m.message_id,
                        "publish_time": m.publish_time,
                    },
                }
                for ack, m in got
            ]
        )

    def acknowledge(self, request: dict[str, Any], **kw: Any) -> None:
        self.requests.append({"op": "ack", **request})
        self.sub.acknowledge(list(request["ack_ids"]))

    def modify_ack_deadline(self, request: dict[str, Any], **kw: Any) -> None:
        self.requests.append({"op": "modify", **request})
        self.sub.modify(list(request["ack_ids"]), int(request["ack_deadline_seconds"]))

    def test_iam_permissions(self, request: dict[str, Any], **kw: Any) -> Any:
        from google.iam.v1 import iam_policy_pb2

        granted = [p for p in request["permissions"] if p in self.permissions]
        return iam_policy_pb2.TestIamPermissionsResponse(permissions=granted)


def rest_received(ack: str, m: Stored) -> dict[str, Any]:
    """One ReceivedMessage as Pub/Sub's REST API renders it (base64 data, RFC 3339 time)."""
    return {
        "ackId": ack,
        "message": {
            "data": base64.b64encode(m.data).decode(),
            "attributes": m.attributes,
            "messageId": m.message_id,
            "publishTime": m.publish_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        },
    }
