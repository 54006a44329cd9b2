"""Budget notifications (Pub/Sub, ``schemaVersion`` 1.0) -> validated :class:`Notification`.

Google publishes, for each budget with a Pub/Sub topic, a JSON message several times a day:
``costAmount`` (spend so far in the period, in ``currencyCode``, not cents), ``budgetAmount``,
``costIntervalStart`` (RFC 3339), ``currencyCode``, and the attributes ``billingAccountId`` and
``budgetId``. ``alertThresholdExceeded`` is present only after a threshold rule was crossed, so it
is informational here: killswitch applies its own limit to ``costAmount``.

Anything we cannot read exactly raises :class:`MalformedNotification`. A malformed message never
becomes an amount, least of all zero.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from killswitch.model import Money, to_decimal
from killswitch.providers.gcp.periods import NotAMonthStart, billing_month

SCHEMA_VERSION = "1.0"
CURRENCY = re.compile(r"^[A-Z]{3}$")
BUDGET_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
BILLING_ACCOUNT = re.compile(r"^[A-Z0-9]{6}-[A-Z0-9]{6}-[A-Z0-9]{6}$")


class MalformedNotification(ValueError):
    """A message we cannot read. ``budget_id`` is set when at least that much was readable."""

    def __init__(self, message: str, budget_id: str | None = None) -> None:
        super().__init__(message)
        self.budget_id = budget_id


@dataclass(frozen=True, slots=True)
class Notification:
    message_id: str
    publish_time: datetime
    budget_id: str
    billing_account: str
    display_name: str
    interval_start: datetime
    interval_end: datetime
    cost: Money
    budget_amount: Money
    threshold_exceeded: Decimal | None

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.budget_id, self.interval_start)


def _number(payload: dict[str, Any], name: str) -> Decimal:
    v = payload.get(name)
    if v is None:
        raise ValueError(f"{name} is missing")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{name} is not a number")
    return to_decimal(v, field_name=name)


def _timestamp(v: Any, name: str) -> datetime:
    if not isinstance(v, str) or not v:
        raise ValueError(f"{name} is missing")
    try:
        ts = datetime.fromisoformat(v)
    except ValueError:
        raise ValueError(f"{name} {v!r} is not an RFC 3339 timestamp") from None
    if ts.tzinfo is None:
        raise ValueError(f"{name} {v!r} has no UTC offset")
    return ts.astimezone(UTC)


def _attributes(message: Any) -> tuple[str, str]:
    attrs = dict(message.attributes)
    budget_id = attrs.get("budgetId", "")
    if not BUDGET_ID.match(budget_id):
        raise MalformedNotification("attribute budgetId is missing or not an id")
    version = attrs.get("schemaVersion", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise MalformedNotification(
            f"schemaVersion {version!r} is not {SCHEMA_VERSION}: its fields are unknown to us",
            budget_id,
        )
    account = attrs.get("billingAccountId", "")
    if not BILLING_ACCOUNT.match(account):
        raise MalformedNotification(
            "attribute billingAccountId is missing or not a billing account id", budget_id
        )
    return budget_id, account


def parse(received: Any) -> Notification:
    """One ``ReceivedMessage`` (as the Pub/Sub SDK returns it) -> :class:`Notification`."""
    message = received.message
    budget_id, account = _attributes(message)
    publish = message.publish_time
    if publish is None or publish.tzinfo is None:
        raise MalformedNotification("message has no publish time", budget_id)
    try:
        payload = json.loads(bytes(message.data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedNotification("data is not UTF-8 JSON", budget_id) from None
    if not isinstance(payload, dict):
        raise MalformedNotification("data is not a JSON object", budget_id)
    try:
        currency = payload.get("currencyCode")
        if not isinstance(currency, str) or not CURRENCY.match(currency):
            raise ValueError("currencyCode is missing or not an ISO 4217 code")
        cost = _number(payload, "costAmount")
        amount = _number(payload, "budgetAmount")
        start, end = billing_month(
            _timestamp(payload.get("costIntervalStart"), "costIntervalStart")
        )
        threshold = payload.get("alertThresholdExceeded")
        exceeded = None if threshold is None else _number(payload, "alertThresholdExceeded")
    except NotAMonthStart as exc:
        raise MalformedNotification(str(exc), budget_id) from None
    except ValueError as exc:
        raise MalformedNotification(str(exc), budget_id) from None
    name = payload.get("budgetDisplayName")
    return Notification(
        message_id=str(message.message_id),
        publish_time=publish.astimezone(UTC),
        budget_id=budget_id,
        billing_account=account,
        display_name=name if isinstance(name, str) else "",
        interval_start=start,
        interval_end=end,
        cost=Money(cost, currency),
        budget_amount=Money(amount, currency),
        threshold_exceeded=exceeded,
    )
