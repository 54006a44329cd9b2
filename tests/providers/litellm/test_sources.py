"""LiteLLM sources against the stand-in: windowed spend per key x model from the daily table,
lifetime counters per key/team/user/end user, and malformed answers as errors, never $0."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch.model import ObservationKind
from killswitch.providers.litellm import LiteLLMProvider

from .conftest import K1, K2, K3, NOW, make_provider
from .fake import FakeLiteLLM

TODAY = NOW.date()
SINCE = NOW - timedelta(days=1)


def by_target(result: Any) -> dict[str, Any]:
    return {(o.target, o.start.date() if o.start else None): o for o in result.observations}


async def test_daily_buckets_per_key_and_model_with_team_user_alias(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.spend(K1, "groq/llama-3.1-70b", 1.25, TODAY)
    fake.spend(K1, "groq/llama-3.1-70b", 0.5, TODAY)
    fake.spend(K1, "mistral/mistral-large", 2.0, TODAY)
    fake.spend(K2, "groq/llama-3.1-70b", 0.1, TODAY - timedelta(days=1))
    res = await provider.sources()["litellm.daily"].poll(NOW, SINCE)
    assert res.ok, res.error
    obs = by_target(res)
    o = obs[(f"{K1}/groq/llama-3.1-70b", TODAY)]
    assert o.kind is ObservationKind.BUCKET
    assert o.amount.amount == Decimal("1.75") and o.amount.currency == "USD"
    assert (o.start, o.end - o.start) == (NOW.replace(hour=0), timedelta(days=1))
    assert o.dims == {
        "key": K1,
        "model": "groq/llama-3.1-70b",
        "team": "team-groq",
        "user": "alice",
        "key_label": "chatbot",
    }
    assert obs[(f"{K1}/mistral/mistral-large", TODAY)].amount.amount == Decimal("2.0")
    yesterday = obs[(f"{K2}/groq/llama-3.1-70b", TODAY - timedelta(days=1))]
    assert yesterday.amount.amount == Decimal("0.1") and "user" not in yesterday.dims
    assert len(obs) == 3
    # the proxy answers every day of the range: a key without a row spent $0 there
    (cov,) = res.coverage
    assert (cov.start, cov.end) == (NOW.replace(hour=0) - timedelta(days=1), NOW)
    (req,) = [e for e in fake.exchanges if "/user/daily/activity" in e.url]
    assert "start_date=2026-12-01" in req.url and "end_date=2026-12-02" in req.url


async def test_pages_are_summed_and_spend_without_model_is_kept(fake: FakeLiteLLM) -> None:
    # Each page is aggregated on its own by the proxy: the same day and key recur across pages.
    for _ in range(7):
        fake.spend(K1, "groq/llama-3.1-8b", 0.1, TODAY)
    fake.spend(K1, None, 0.3, TODAY)  # a row with no model: only in breakdown.api_keys
    p = make_provider(fake, page_size=2)
    res = await p.sources()["litellm.daily"].poll(NOW, SINCE)
    await p.aclose()
    assert res.ok, res.error
    obs = by_target(res)
    assert obs[(f"{K1}/groq/llama-3.1-8b", TODAY)].amount.amount == Decimal("0.7")
    unknown = obs[(f"{K1}/unknown", TODAY)]
    assert unknown.amount.amount.quantize(Decimal("0.000001")) == Decimal("0.3")
    assert unknown.dims["model"] == "unknown"
    assert len([e for e in fake.exchanges if "/user/daily/activity" in e.url]) == 4


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"metadata": {"has_more": False}}, "no results list"),
        ({"results": [{"metrics": {}, "breakdown": {}}], "metadata": {"has_more": False}}, "date"),
        ({"results": [], "metadata": {}}, "has_more"),
        (
            {
                "results": [
                    {
                        "date": "2026-12-02",
                        "metrics": {},
                        "breakdown": {"api_keys": {"k": {"metrics": {"spend": "1.5"}}}},
                    }
                ],
                "metadata": {"has_more": False},
            },
            "not a number",
        ),
        (
            {
                "results": [
                    {"date": "2026-12-02", "metrics": {}, "breakdown": {"api_keys": {"k": {}}}}
                ],
                "metadata": {"has_more": False},
            },
            "metrics is not an object",
        ),
        (
            {
                "results": [
                    {
                        "date": "2026-12-02",
                        "metrics": {},
                        "breakdown": {
                            "api_keys": {"k": {"metrics": {"spend": 1.0}}},
                            "models": {
                                "m": {
                                    "metrics": {"spend": 3.0},
                                    "api_key_breakdown": {"k": {"metrics": {"spend": 3.0}}},
                                }
                            },
                        },
                    }
                ],
                "metadata": {"has_more": False},
            },
            "less in total than its models",
        ),
        ([], "not an object"),
    ],
)
async def test_malformed_daily_answer_is_an_error_never_zero(
    fake: FakeLiteLLM, provider: LiteLLMProvider, body: Any, why: str
) -> None:
    fake.spend(K1, "m", 1.0, TODAY)
    fake.inject["/user/daily/activity"] = (200, body)
    res = await provider.sources()["litellm.daily"].poll(NOW, SINCE)
    assert not res.ok and why in (res.error or "")
    assert res.observations == () and res.coverage == ()
    fake.exchanges.clear()  # the injected bodies break the contract on purpose


async def test_rejected_master_key_is_an_error_and_the_key_never_shows(fake: FakeLiteLLM) -> None:
    fake.master_key = "sk-another-one"
    p = make_provider(fake)
    res = await p.sources()["litellm.daily"].poll(NOW, SINCE)
    await p.aclose()
    assert not res.ok and "401" in (res.error or "") and "Authentication Error" in (res.error or "")
    assert "sk-litellm-master" not in (res.error or "")


async def test_key_counters_across_pages_skip_keys_whose_spend_resets(fake: FakeLiteLLM) -> None:
    for i in range(10, 160):
        fake.add_key(f"{i:064x}", spend=float(i))
    fake.keys[K1]["spend"] = 12.5
    fake.keys[K2].update(spend=3.0, budget_duration="1d")  # the proxy zeroes it every day
    p = make_provider(fake)
    res = await p.sources()["litellm.keys"].poll(NOW, SINCE)
    await p.aclose()
    assert res.ok, res.error
    obs = {o.target: o for o in res.observations}
    assert len(obs) == 152 and K2 not in obs
    o = obs[K1]
    assert o.kind is ObservationKind.COUNTER and o.amount.amount == Decimal("12.5")
    assert o.dims == {"key": K1, "key_label": "chatbot", "team": "team-groq", "user": "alice"}
    assert res.gauges["litellm_counters_skipped"] == {(("source", "litellm.keys"),): 1}
    pages = [e.url for e in fake.exchanges if "/key/list" in e.url]
    assert len(pages) == 2 and all("return_full_object=true" in u for u in pages)


async def test_team_user_and_end_user_counters(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.spend(K1, "m", 4.0, TODAY)
    fake.add_team("team-null", spend=None)  # the spec allows null: no data, never $0
    fake.add_team("team-monthly", spend=9.0, budget_duration="30d")
    fake.add_customer("acme", alias="ACME Corp", spend=7.5)
    fake.add_customer(
        "capped",
        spend=1.0,
        litellm_budget_table={
            "budget_id": "b1",
            "budget_duration": "1d",
            "max_budget": 5.0,
            "created_at": "2026-11-01T00:00:00Z",
        },
    )
    teams = await provider.sources()["litellm.teams"].poll(NOW, SINCE)
    users = await provider.sources()["litellm.users"].poll(NOW, SINCE)
    ends = await provider.sources()["litellm.end_users"].poll(NOW, SINCE)
    assert teams.ok and users.ok and ends.ok
    assert [(o.target, o.amount.amount, o.dims) for o in teams.observations] == [
        ("team-groq", Decimal("4.0"), {"team": "team-groq", "team_label": "groq apps"})
    ]
    assert teams.gauges["litellm_counters_skipped"] == {(("source", "litellm.teams"),): 2}
    assert [(o.target, o.amount.amount) for o in users.observations] == [("alice", Decimal("4.0"))]
    assert users.observations[0].dims == {"user": "alice", "user_email": "alice@example.com"}
    assert [(o.target, o.dims) for o in ends.observations] == [
        ("acme", {"end_user": "acme", "end_user_label": "ACME Corp"})
    ]


@pytest.mark.parametrize(
    ("path", "source", "body", "why"),
    [
        ("/key/list", "litellm.keys", {"keys": [{"token": "abc"}], "total_pages": 1}, "spend"),
        ("/key/list", "litellm.keys", {"keys": [{"token": "abc", "spend": -1}]}, "negative"),
        ("/key/list", "litellm.keys", {"keys": ["abc"], "total_pages": 1}, "not an object"),
        ("/key/list", "litellm.keys", {"total_pages": 1}, "no keys list"),
        ("/v2/team/list", "litellm.teams", {"teams": [{"spend": 1.0}]}, "team_id"),
        ("/customer/list", "litellm.end_users", {"users": []}, "no top-level list"),
        ("/user/list", "litellm.users", {"users": [], "total_pages": "1"}, "page count"),
    ],
)
async def test_malformed_counter_answers_are_errors(
    fake: FakeLiteLLM, provider: LiteLLMProvider, path: str, source: str, body: Any, why: str
) -> None:
    fake.inject[path] = (200, body)
    res = await provider.sources()[source].poll(NOW, SINCE)
    assert not res.ok and why in (res.error or ""), res.error
    assert res.observations == ()
    fake.exchanges.clear()


async def test_outage_marks_the_source_failed(fake: FakeLiteLLM, provider: LiteLLMProvider) -> None:
    fake.inject["/user/daily/activity"] = (503, {"error": {"message": "db down"}})
    res = await provider.sources()["litellm.daily"].poll(NOW, SINCE)
    assert not res.ok and "503" in (res.error or "")
    fake.exchanges.clear()


async def test_the_range_starts_on_the_utc_day_of_the_earliest_window(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.spend(K3, "m", 0.2, date(2026, 11, 30))
    fake.spend(K3, "m", 0.4, date(2026, 10, 31))  # before the range: never read
    res = await provider.sources()["litellm.daily"].poll(NOW, NOW.replace(month=11, day=1))
    assert res.ok
    assert [(o.target, o.start.date(), o.amount.amount) for o in res.observations] == [
        (f"{K3}/m", date(2026, 11, 30), Decimal("0.2"))
    ]
    (req,) = fake.exchanges
    assert "start_date=2026-11-01" in req.url and "end_date=2026-12-02" in req.url


async def test_doctor_says_when_the_key_is_not_an_admin(fake: FakeLiteLLM) -> None:
    fake.master_key = "sk-someone-else"
    p = make_provider(fake)
    (finding,) = await p.doctor([])
    await p.aclose()
    assert not finding.ok and "401" in finding.detail
    fake.exchanges.clear()


def test_every_dim_works_as_a_scope_filter_singular_or_plural() -> None:
    # Scope filters drop a trailing "s" (teams -> team): a dim that ends in "s" (key_alias)
    # could never be filtered on, hence key_label / team_label / end_user_label.
    from killswitch.core.scope import Scope
    from killswitch.providers.litellm import LiteLLMProvider

    dims = {"key": K1, "key_label": "chatbot", "team_label": "groq apps", "end_user": "acme"}
    for dim in LiteLLMProvider.capabilities.scopes:
        if dim == "all":
            continue
        for name in (dim, dim + "s"):
            scope = Scope.parse({name: [dims.get(dim, "x")]})
            assert scope.filters[0][0] == dim, name
    assert Scope.parse({"key_labels": ["chatbot"]}).matches(dims)
