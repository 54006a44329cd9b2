"""The prometheus source against canned API answers: what it asks, and what it refuses to read."""

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
from killswitch.providers.prometheus import PrometheusProvider
from killswitch.providers.prometheus.config import PrometheusConfig

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 2, tzinfo=UTC)
TOKEN = "prom-bearer-token-secret"


def vector(*series: tuple[dict[str, str], str], **extra: Any) -> dict[str, Any]:
    result = [{"metric": m, "value": [NOW.timestamp(), v]} for m, v in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}, **extra}


def provider(
    answer: Callable[[httpx.Request], httpx.Response], **query: Any
) -> tuple[PrometheusProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(r)
        return answer(r)

    q = {
        "name": "spend",
        "promql": "sum by (hashed_api_key, team) (increase(spend_total[$__range]))",
        "kind": "to_date",
        "period": "daily",
        "dims": {"hashed_api_key": "key", "team": "team"},
        **query,
    }
    cfg = PrometheusConfig.model_validate(
        {
            "type": "prometheus",
            "url": "http://prom.test:9090/prefix",
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "queries": [q],
        }
    )
    ctx = ProviderContext(http_transport=httpx.MockTransport(handler))
    return PrometheusProvider("prom", cfg, ctx), seen


def ok(body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda r: httpx.Response(200, json=body)


async def poll(p: PrometheusProvider, since: datetime = MIDNIGHT) -> PollResult:
    return await p.sources()["spend"].poll(NOW, since)


async def test_to_date_query_counts_exactly_the_period_so_far() -> None:
    body = vector(({"hashed_api_key": "k1", "team": "a"}, "12.5"), ({"team": "a"}, "0.25"))
    p, seen = provider(ok(body))
    result = await poll(p)
    assert result.ok, result.error
    (req,) = seen
    assert req.url.path == "/prefix/api/v1/query"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    # 10h30m since midnight UTC, evaluated at the engine's now (not the server's clock)
    assert req.url.params["query"] == (
        "sum by (hashed_api_key, team) (increase(spend_total[37800000ms]))"
    )
    assert req.url.params["time"] == f"{NOW.timestamp():.3f}"
    by_target = {o.target: o for o in result.observations}
    k1 = by_target["key=k1,team=a"]
    assert (k1.kind, k1.amount.amount, k1.amount.currency) == (
        ObservationKind.TO_DATE,
        Decimal("12.5"),
        "USD",
    )
    assert (k1.start, k1.end, k1.dims) == (
        MIDNIGHT,
        MIDNIGHT + timedelta(days=1),
        {"key": "k1", "team": "a"},
    )
    # a series without the key label still counts (for {all: true}); it just has no key dim
    assert by_target["team=a"].dims == {"team": "a"}


async def test_period_in_a_timezone_and_rolling_ranges() -> None:
    p, seen = provider(ok(vector()), period="daily", timezone="Europe/Kyiv")
    await poll(p)
    assert "[45000000ms]" in seen[0].url.params["query"]  # 12:30 local: since 00:00 Kyiv
    p, seen = provider(
        ok(
            vector(
                ({"hashed_api_key": "k"}, "3"),
            )
        ),
        period="rolling:1d",
    )
    result = await poll(p)
    assert "[86400000ms]" in seen[0].url.params["query"]
    (o,) = result.observations
    assert (o.start, o.end) == (NOW - timedelta(days=1), NOW)


async def test_series_differing_only_in_unmapped_labels_add_up() -> None:
    body = vector(
        ({"hashed_api_key": "k1", "instance": "a"}, "1.5"),
        ({"hashed_api_key": "k1", "instance": "b"}, "2.25"),
    )
    p, _ = provider(ok(body), dims={"hashed_api_key": "key"})
    (o,) = (await poll(p)).observations
    assert (o.target, o.amount.amount) == ("key=k1", Decimal("3.75"))


async def test_empty_result_is_no_data_not_zero() -> None:
    p, _ = provider(ok(vector()))
    result = await poll(p)
    assert result.ok and result.observations == ()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            lambda r: httpx.Response(
                400,
                json={
                    "status": "error",
                    "errorType": "bad_data",
                    "error": "1:6: parse error: unclosed left parenthesis",
                },
            ),
            "HTTP 400: 1:6: parse error: unclosed left parenthesis",
        ),
        (
            ok({"status": "error", "errorType": "timeout", "error": "query timed out"}),
            "Prometheus answered timeout: query timed out",
        ),
        (
            ok(
                vector(
                    ({"hashed_api_key": "k"}, "NaN"),
                )
            ),
            'series {hashed_api_key="k"} is NaN',
        ),
        (
            ok(
                vector(
                    ({}, "+Inf"),
                )
            ),
            "series {} is +Inf",
        ),
        (
            ok(
                vector(
                    ({"hashed_api_key": "k"}, "-2"),
                )
            ),
            "spend cannot be negative",
        ),
        (
            ok({"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}),
            "result type is 'scalar', expected an instant vector",
        ),
        (
            ok({"status": "success", "data": {"resultType": "matrix", "result": []}}),
            "result type is 'matrix'",
        ),
        (lambda r: httpx.Response(200, text="<html>proxy login</html>"), "not JSON"),
        (ok({"status": "success"}), "no data object"),
        (ok({"status": "success", "data": {"resultType": "vector", "result": [{}]}}), "metric"),
        (
            ok(
                {
                    "status": "success",
                    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, 2]}]},
                }
            ),
            "data.result[0].value",
        ),
        (lambda r: httpx.Response(401, text="unauthorized"), "HTTP 401"),
    ],
)
async def test_a_bad_answer_is_an_error_never_spend(
    answer: Callable[[httpx.Request], httpx.Response], expected: str
) -> None:
    p, _ = provider(answer)
    result = await poll(p)
    assert not result.ok and result.observations == ()
    assert result.error is not None and result.error.startswith("query spend: ")
    assert expected in result.error
    assert TOKEN not in result.error


async def test_warnings_make_the_reading_incomplete() -> None:
    body = vector(({"hashed_api_key": "k"}, "4"), warnings=["partial response: store down"])
    p, _ = provider(ok(body))
    (o,) = (await poll(p)).observations
    assert not o.complete and "partial response" in o.note


async def test_counter_is_sampled_now_and_at_the_window_start_once() -> None:
    def answer(r: httpx.Request) -> httpx.Response:
        at = float(r.url.params["time"])
        return httpx.Response(
            200, json=vector(({"k": "a"}, "10" if at < NOW.timestamp() else "25"))
        )

    p, seen = provider(
        answer, kind="counter", period=None, promql="sum by (k) (spend_total)", dims={"k": "key"}
    )
    first = await poll(p)
    assert sorted((o.observed_at, o.amount.amount) for o in first.observations) == [
        (MIDNIGHT, Decimal(10)),
        (NOW, Decimal(25)),
    ]
    assert all(o.kind is ObservationKind.COUNTER for o in first.observations)
    await poll(p)
    times = [float(r.url.params["time"]) for r in seen]
    assert times == [NOW.timestamp(), MIDNIGHT.timestamp(), NOW.timestamp()]
    assert all(r.url.params["query"] == "sum by (k) (spend_total)" for r in seen)


def parse_entry(query: dict[str, Any]) -> None:
    cfgmod.parse(
        {
            "providers": {
                "prom": {"type": "prometheus", "url": "http://p:9090", "queries": [query]}
            },
        }
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"name": "q", "promql": "sum(increase(x[1d]))", "kind": "to_date", "period": "daily"},
            "must take its range from $__range",
        ),
        (
            {"name": "q", "promql": "sum(increase(x[$__range]))", "kind": "to_date"},
            "needs period:",
        ),
        (
            {"name": "q", "promql": "sum(increase(x[$__range]))", "kind": "counter"},
            "only applies to to_date",
        ),
        (
            {"name": "q", "promql": "sum(x)", "kind": "counter", "period": "daily"},
            "period only applies to kind: to_date",
        ),
        ({"name": "q", "promql": "x", "kind": "bucket"}, "providers.prom.queries[0].kind"),
        (
            {"name": "q", "promql": "x", "kind": "counter", "dims": {"a": "key", "b": "key"}},
            "same dimension",
        ),
        (
            {"name": "q", "promql": "x[$__range]", "kind": "to_date", "period": "fortnightly"},
            "not a window",
        ),
    ],
)
def test_config_errors_name_the_field_and_the_fix(query: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_entry(query)
    assert expected in str(exc.value)
    assert "providers.prom.queries[0]" in str(exc.value)


def test_a_budget_must_name_a_configured_query() -> None:
    with pytest.raises(ConfigError) as exc:
        cfgmod.parse(
            {
                "providers": {
                    "prom": {
                        "type": "prometheus",
                        "url": "http://p:9090",
                        "queries": [{"name": "spend", "promql": "sum(x)", "kind": "counter"}],
                    }
                },
                "budgets": [
                    {
                        "name": "b",
                        "provider": "prom",
                        "source": "spnd",
                        "limit_usd": 1,
                        "mode": "alert-only",
                    }
                ],
            }
        )
    assert "budgets[0].source: prometheus has no source 'spnd'; known: spend" in str(exc.value)
