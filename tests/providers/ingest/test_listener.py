"""POST /v1/spend: every refusal stores nothing; a 200 means stored, once per event id."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch.pricing import PriceBook, TokenUsage
from killswitch.providers.ingest import events as ev
from killswitch.signing import sign
from tests.providers.ingest.conftest import OTHER, Endpoint

NOW = datetime.now(UTC)


def event(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{i}",
        "time": (NOW - timedelta(minutes=1)).isoformat(),
        "dims": {"key": "k1", "team": "search"},
        "amount": "0.25",
        "currency": "USD",
        **fields,
    }


def batch(*evs: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(evs)}


def test_a_batch_is_stored_and_a_replay_is_stored_once(endpoint: Endpoint) -> None:
    body = batch(event(1), event(2), event(2))  # the same id twice in one batch counts once
    first = endpoint.post(body)
    assert (first.status, first.body) == (200, {"accepted": 2, "duplicates": 0})
    again = endpoint.post(body)
    assert (again.status, again.body) == (200, {"accepted": 0, "duplicates": 2})
    mixed = endpoint.post(batch(event(2), event(3)))
    assert mixed.body == {"accepted": 1, "duplicates": 1}
    assert endpoint.stored() == 3


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "missing bearer token"), ("not-the-token-but-long-enough", "unknown bearer token")],
)
def test_a_missing_or_wrong_token_is_401(
    endpoint: Endpoint, token: str | None, reason: str
) -> None:
    answer = endpoint.post(batch(event(1)), token=token)
    assert (answer.status, answer.body["error"]) == (401, reason)
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert endpoint.stored() == 0


def test_every_configured_token_is_accepted(endpoint: Endpoint) -> None:
    assert endpoint.post(batch(event(1)), token=OTHER).status == 200


def test_basic_auth_is_not_a_bearer_token(endpoint: Endpoint) -> None:
    answer = endpoint.post(batch(event(1)), token=None, headers={"Authorization": "Basic eDp5"})
    assert answer.status == 401
    assert endpoint.stored() == 0


def test_over_the_rate_limit_is_429_with_retry_after_per_token(endpoint_factory: Any) -> None:
    e: Endpoint = endpoint_factory(rate_limit={"per_second": 0.1, "burst": 2})
    assert [e.post(batch(event(i))).status for i in range(2)] == [200, 200]
    limited = e.post(batch(event(9)))
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert e.post(batch(event(10)), token=OTHER).status == 200  # another token has its own
    assert e.stored() == 3  # event 9 was not stored


def test_no_content_length_is_411(endpoint: Endpoint) -> None:
    answer = endpoint.post(None, headers={"Transfer-Encoding": "chunked"})
    assert answer.status == 411
    assert "Content-Length" in answer.body["error"]
    assert endpoint.stored() == 0


def test_a_body_over_max_body_bytes_is_413_unread(endpoint_factory: Any) -> None:
    e: Endpoint = endpoint_factory(max_body_bytes=1024)
    big = batch(*[event(i) for i in range(20)])
    assert len(json.dumps(big)) > 1024
    answer = e.post(big)
    assert answer.status == 413
    assert answer.body["error"].endswith("at most 1024")
    assert e.stored() == 0


def test_more_events_than_max_events_is_413(endpoint_factory: Any) -> None:
    e: Endpoint = endpoint_factory(max_events=3)
    answer = e.post(batch(*[event(i) for i in range(4)]))
    assert (answer.status, answer.body["error"]) == (
        413,
        "batch of 4 events; at most 3 per request",
    )
    assert e.stored() == 0


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"events": [{"amount": NaN}]}'])
def test_a_body_that_is_not_json_is_400(endpoint: Endpoint, body: bytes) -> None:
    answer = endpoint.post(body)
    assert (answer.status, answer.body["error"]) == (400, "body is not JSON")
    assert endpoint.stored() == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"amount": "-1"}, "events[2].amount: Input should be greater than or equal to 0"),
        ({"amount": "lots"}, "events[2].amount: Input should be a valid decimal"),
        ({"currency": "EUR"}, "events[2].currency: this endpoint takes USD only"),
        ({"currency": None}, "events[2]: amount needs its currency (e.g. USD)"),
        ({"time": "2026-12-01T10:00:00"}, "events[2].time: Input should have timezone info"),
        ({"id": ""}, "events[2].id: String should have at least 1 character"),
        ({"colour": "red"}, "events[2].colour: Extra inputs are not permitted"),
        ({"dims": {"key": ""}}, "events[2].dims.key: String should have at least 1 character"),
        (
            {"time": (NOW + timedelta(hours=1)).isoformat()},
            "events[2].time: ",  # ... is in the future
        ),
        (
            {"amount": None, "currency": None, "model": "gpt-4o-mini", "input_tokens": 10},
            "events[2]: model needs its provider",
        ),
        (
            {"amount": None, "currency": None, "model": "no-such-model", "provider": "openai"},
            "events[2].model: no price known for 'no-such-model' at 'openai'",
        ),
    ],
)
def test_a_schema_error_is_422_naming_the_field_and_nothing_of_the_batch_is_stored(
    endpoint: Endpoint, bad: dict[str, Any], message: str
) -> None:
    answer = endpoint.post(batch(event(0), event(1), event(2, **bad), event(3)))
    assert answer.status == 422
    assert answer.body["error"].startswith(message), answer.body
    assert endpoint.stored() == 0


def test_a_body_without_events_is_422(endpoint: Endpoint) -> None:
    for body, message in [
        ({}, "events: Field required"),
        ({"events": []}, "events: List should have at least 1 item"),
        (b"[]", "body: Input should be a valid dictionary"),
    ]:
        answer = endpoint.post(body)
        assert (answer.status, answer.body["error"][: len(message)]) == (422, message)
    assert endpoint.stored() == 0


def test_tokens_of_a_model_are_priced_with_genai_prices(endpoint: Endpoint) -> None:
    usage = {"input_tokens": 200_000, "output_tokens": 50_000}
    priced = event(1, amount=None, currency=None, model="gpt-4o-mini", provider="openai", **usage)
    assert endpoint.post(batch(priced)).status == 200
    (bucket,) = ev.buckets(endpoint.store, "push", NOW - timedelta(hours=1))
    expected = PriceBook().price("openai", "gpt-4o-mini", TokenUsage(**usage)).amount
    assert expected is not None and expected > 0
    assert bucket.amount == expected


def test_other_paths_and_methods_are_refused(endpoint: Endpoint) -> None:
    assert endpoint.post(batch(event(1)), path="/v1/other").status == 404
    answer = endpoint.post(None, method="GET")
    assert (answer.status, answer.headers["Allow"]) == (405, "POST")
    assert endpoint.stored() == 0


def signed(secret: str, body: bytes, at: float) -> dict[str, str]:
    ts = str(int(at))
    return {"X-Killswitch-Timestamp": ts, "X-Killswitch-Signature": sign(secret, ts, body)}


def test_with_hmac_secret_a_request_must_be_signed(endpoint_factory: Any) -> None:
    secret = "hmac-secret-value-123"
    e: Endpoint = endpoint_factory(hmac_secret=secret)
    body = json.dumps(batch(event(1))).encode()
    now = time.time()
    cases = {
        "missing": {},
        "wrong key": signed("another-secret", body, now),
        "stale": signed(secret, body, now - 3600),
        "other body": signed(secret, body + b" ", now),
    }
    for what, headers in cases.items():
        answer = e.post(body, headers=headers)
        assert answer.status == 401, what
    assert e.stored() == 0
    assert e.post(body, headers=signed(secret, body, now)).status == 200
    assert e.stored() == 1


def test_a_database_that_cannot_take_the_batch_is_503_and_the_retry_is_stored(
    endpoint_factory: Any, store_url: str
) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("the lock is taken with sqlite3")
    e: Endpoint = endpoint_factory()
    e.store.engine.dispose()
    locker = sqlite3.connect(store_url.removeprefix("sqlite:///"))
    locker.execute("PRAGMA busy_timeout = 0")
    locker.execute("BEGIN EXCLUSIVE")
    try:
        # the store waits lock_s (5 s by default) for the lock, then gives up
        answer = e.post(batch(event(1)))
    finally:
        locker.rollback()
        locker.close()
    assert (answer.status, answer.headers["Retry-After"]) == (503, "5")
    assert "state database unavailable" in answer.body["error"]
    assert e.stored() == 0
    assert e.post(batch(event(1))).body == {"accepted": 1, "duplicates": 0}


def test_decimal_amounts_are_exact(endpoint: Endpoint) -> None:
    raw = (
        b'{"events": [{"id": "a", "time": "%s", "amount": 0.1, "currency": "USD"},'
        b' {"id": "b", "time": "%s", "amount": 0.2, "currency": "USD"}]}'
    ) % ((NOW.isoformat().encode(),) * 2)
    assert endpoint.post(raw).status == 200
    (bucket,) = ev.buckets(endpoint.store, "push", NOW - timedelta(hours=1))
    assert bucket.amount == Decimal("0.3")
