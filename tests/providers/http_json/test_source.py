"""The http-json source: what it sends, how it reads rows, and every shape it refuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from killswitch import config as cfgmod
from killswitch.errors import ConfigError
from killswitch.model import ObservationKind, PollResult
from killswitch.plugins import ProviderContext
from killswitch.providers.http_json import HttpJsonProvider
from killswitch.providers.http_json.config import HttpJsonConfig

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
MONTH = datetime(2026, 12, 1, tzinfo=UTC)
TOKEN = "vendor-token-secret-value"
QUERY_SECRET = "query-secret-value"

USAGE = {
    "object": "list",
    "generated_at": "2026-12-02T10:29:00Z",
    "data": [
        {"api_key": "k1", "project": {"id": "p1"}, "cost": {"value": "12.5", "unit": "usd"}},
        {"api_key": "k2", "project": {"id": "p1"}, "cost": {"value": 0.75, "unit": "usd"}},
    ],
}


def make(
    answer: Callable[[httpx.Request], httpx.Response], **request: Any
) -> tuple[HttpJsonProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return answer(r)

    req = {
        "name": "usage",
        "url": "https://billing.vendor.test/v1/usage?group_by=key",
        "params": {"api_key": QUERY_SECRET},
        "headers": {"x-extra": "1"},
        "rows": "$.data",
        "amount": "$.cost.value",
        "dims": {"key": "$.api_key", "project": "$.project.id"},
        "kind": "to_date",
        "period": "monthly",
        **request,
    }
    cfg = HttpJsonConfig.model_validate(
        {"type": "http-json", "headers": {"Authorization": f"Bearer {TOKEN}"}, "requests": [req]}
    )
    p = HttpJsonProvider(
        "vendor", cfg, ProviderContext(http_transport=httpx.MockTransport(handler))
    )
    return p, seen


def ok(body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(200, json=body)


async def poll(p: HttpJsonProvider) -> PollResult:
    return await p.sources()["usage"].poll(NOW, MONTH)


async def test_rows_become_to_date_observations_for_the_declared_period() -> None:
    p, seen = make(ok(USAGE))
    result = await poll(p)
    assert result.ok, result.error
    (req,) = seen
    assert (req.method, req.url.host, req.url.path) == ("GET", "billing.vendor.test", "/v1/usage")
    assert dict(req.url.params) == {"group_by": "key", "api_key": QUERY_SECRET}
    assert req.headers["authorization"] == f"Bearer {TOKEN}" and req.headers["x-extra"] == "1"
    got = {o.dims["key"]: o for o in result.observations}
    assert got["k1"].amount.amount == Decimal("12.5") and got["k2"].amount.amount == Decimal("0.75")
    k1 = got["k1"]
    assert k1.kind is ObservationKind.TO_DATE
    assert (k1.start, k1.end) == (MONTH, datetime(2027, 1, 1, tzinfo=UTC))
    assert k1.dims == {"key": "k1", "project": "p1"} and k1.observed_at == NOW


async def test_as_of_picks_the_period_and_the_data_age() -> None:
    body = {"data": [{"k": "a", "usd": 3, "at": "2026-11-30T23:00:00"}]}  # local time, no zone
    p, _ = make(
        ok(body),
        rows="$.data",
        amount="$.usd",
        dims={"key": "$.k"},
        as_of="$.at",
        period="monthly",
        timezone="Europe/Kyiv",
    )
    result = await poll(p)
    (o,) = result.observations
    # 23:00 in Kyiv on 30 November is still November there: last month's total, not this one's
    assert o.observed_at == datetime(2026, 11, 30, 21, tzinfo=UTC)
    assert o.start == datetime(2026, 10, 31, 22, tzinfo=UTC)
    assert result.data_as_of == o.observed_at


async def test_counter_and_bucket_kinds() -> None:
    p, _ = make(
        ok({"total_usd": "41.5"}),
        rows="$",
        amount="$.total_usd",
        dims={},
        kind="counter",
        period=None,
    )
    (o,) = (await poll(p)).observations
    assert (o.kind, o.target, o.amount.amount, o.observed_at) == (
        ObservationKind.COUNTER,
        "*",
        Decimal("41.5"),
        NOW,
    )
    days = {
        "days": [
            {"date": "2026-12-01", "end": "2026-12-02", "cost": 4, "cur": "eur"},
            {"date": "2026-12-02", "end": 1796256000, "cost": 1.5, "cur": "EUR"},
        ]
    }
    p, _ = make(
        ok(days),
        rows="$.days",
        amount="$.cost",
        currency_path="$.cur",
        dims={},
        kind="bucket",
        period=None,
        start="$.date",
        end="$.end",
    )
    result = await poll(p)
    assert result.ok, result.error
    spans = sorted((o.start, o.end, o.amount) for o in result.observations)
    assert [(s.day, e - s, m.amount, m.currency) for s, e, m in spans] == [
        (1, timedelta(days=1), Decimal(4), "EUR"),
        (2, timedelta(days=1), Decimal("1.5"), "EUR"),
    ]


async def test_rows_of_one_target_add_up_and_an_empty_array_is_no_data() -> None:
    body = {"data": [{"k": "a", "c": 1}, {"k": "a", "c": 2.5}, {"k": "b", "c": 0}]}
    p, _ = make(ok(body), amount="$.c", dims={"key": "$.k"})
    got = {o.target: o.amount.amount for o in (await poll(p)).observations}
    assert got == {"key=a": Decimal("3.5"), "key=b": Decimal(0)}
    p, _ = make(ok({"data": []}))
    result = await poll(p)
    assert result.ok and result.observations == ()


async def test_wildcard_rows_select_every_item_and_need_their_array() -> None:
    p, _ = make(ok(USAGE), rows="$.data[*]")
    assert sorted(o.dims["key"] for o in (await poll(p)).observations) == ["k1", "k2"]
    p, _ = make(ok({"data": []}), rows="$.data[*]")
    result = await poll(p)
    assert result.ok and result.observations == ()
    p, _ = make(ok({"items": []}), rows="$.data[*]")
    assert (
        await poll(p)
    ).error == "request usage: rows: $.data[*] matched nothing (no array there)"
    p, _ = make(ok({"data": {"a": 1}}), rows="$.data[*]")
    assert "does not select items of an array" in str((await poll(p)).error)


async def test_filters_select_rows() -> None:
    body = {"data": [{"k": "a", "c": 1, "type": "llm"}, {"k": "b", "c": 9, "type": "storage"}]}
    p, _ = make(ok(body), rows="$.data[?(@.type == 'llm')]", amount="$.c", dims={"key": "$.k"})
    assert [o.target for o in (await poll(p)).observations] == ["key=a"]


@pytest.mark.parametrize(
    ("body", "overrides", "expected"),
    [
        ({"items": []}, {}, "rows: $.data matched nothing"),
        ({"data": "oops"}, {}, "rows: $.data is str, expected an array or object"),
        ({"data": [1]}, {}, "rows[0] is int, expected an object"),
        ({"data": [{"api_key": "k"}]}, {}, "rows[0].amount: $.cost.value matched nothing"),
        (
            {"data": [{"api_key": "k", "project": {"id": "p"}, "cost": {"value": None}}]},
            {},
            "rows[0].amount: expected a number, got null",
        ),
        (
            {"data": [{"api_key": "k", "project": {"id": "p"}, "cost": {"value": "n/a"}}]},
            {},
            "'n/a' is not a number",
        ),
        (
            {"data": [{"api_key": "k", "project": {"id": "p"}, "cost": {"value": -1}}]},
            {},
            "spend cannot be negative",
        ),
        (
            {"data": [{"project": {"id": "p"}, "cost": {"value": 1}}]},
            {},
            "rows[0].dims.key: $.api_key matched nothing",
        ),
        (
            {"data": [{"api_key": None, "project": {"id": "p"}, "cost": {"value": 1}}]},
            {},
            "rows[0].dims.key: expected a string or integer, got null",
        ),
        (
            {"data": [{"k": "a", "c": 1, "cur": "dollars"}]},
            {"amount": "$.c", "dims": {}, "currency_path": "$.cur"},
            "'dollars' is not an ISO 4217 code",
        ),
        (
            {"data": [{"c": 1, "t": "yesterday"}]},
            {"amount": "$.c", "dims": {}, "as_of": "$.t"},
            "rows[0].as_of: 'yesterday' is not an ISO 8601 time",
        ),
        (
            {"data": [{"c": 1, "t": "2026-12-03T10:00:00Z"}]},
            {"amount": "$.c", "dims": {}, "as_of": "$.t"},
            "is in the future",
        ),
        (
            {"data": [{"c": 1, "s": "2026-12-02", "e": "2026-12-01"}]},
            {
                "amount": "$.c",
                "dims": {},
                "kind": "bucket",
                "period": None,
                "start": "$.s",
                "end": "$.e",
            },
            "is not after its start",
        ),
        (
            {"data": [{"c": [1, 2]}]},
            {"amount": "$.c[*]", "dims": {}},
            "matched 2 values, expected one",
        ),
    ],
)
async def test_a_response_that_does_not_match_the_paths_is_an_error(
    body: Any, overrides: dict[str, Any], expected: str
) -> None:
    p, _ = make(ok(body), **overrides)
    result = await poll(p)
    assert not result.ok and result.observations == ()
    assert result.error is not None and result.error.startswith("request usage: ")
    assert expected in result.error


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda r: httpx.Response(200, text="<html>login</html>"), "response is not JSON"),
        (lambda r: httpx.Response(403, json={"error": "forbidden"}), "GET /v1/usage -> HTTP 403"),
    ],
)
async def test_http_failures_are_errors_that_leak_no_secret(
    answer: Callable[[httpx.Request], httpx.Response], expected: str
) -> None:
    p, _ = make(answer)
    result = await poll(p)
    assert result.error is not None and expected in result.error
    assert TOKEN not in result.error and QUERY_SECRET not in result.error


def entry(**request: Any) -> dict[str, Any]:
    base = {"name": "u", "url": "https://x.test/u", "amount": "$.c", "kind": "counter"}
    return {"providers": {"v": {"type": "http-json", "requests": [{**base, **request}]}}}


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ({"amount": "cost"}, "is not a JSONPath: start it with $"),
        ({"rows": "$.data["}, "is not a valid JSONPath"),
        ({"dims": {"key": "$.k["}}, "is not a valid JSONPath"),
        ({"kind": "to_date"}, "needs period:"),
        ({"kind": "bucket"}, "needs start: and end:"),
        ({"start": "$.s"}, "only apply to kind: bucket"),
        ({"url": "not a url"}, "requests[0].url"),
        ({"currency": "usd"}, "requests[0].currency"),
    ],
)
def test_config_errors_name_the_field(request_: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        cfgmod.parse(entry(**request_))
    assert expected in str(exc.value) and "providers.v.requests[0]" in str(exc.value)
