"""anthropic.usage: documented shapes -> priced bucket observations; pagination; malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch.model import ObservationKind
from killswitch.pricing import ModelPrice, PriceBook
from killswitch.providers.anthropic import AnthropicProvider

from .conftest import NOW, Mono, build
from .fake import DOC_KEY, DOC_PAGE, DOC_WORKSPACE, SONNET, FakeAnthropic, usage_result

SINCE = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MINUTE = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
# claude-sonnet-4-20250514 list prices per token: input, 5m write, 1h write, cache read, output
IN, W5, W1H, READ, OUT = (Decimal(x) / 1_000_000 for x in ("3", "3.75", "6", "0.3", "15"))
SEARCH = Decimal("0.01")


async def poll(p: AnthropicProvider, now: datetime = NOW, since: datetime = SINCE) -> Any:
    return await p.sources()["anthropic.usage"].poll(now, since)


async def test_documented_example_is_priced_token_type_by_token_type(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    # The result object of the documented example (Get Messages Usage Report, 123 of every
    # count), placed in a real 1-minute bucket: the example's own starting_at == ending_at is a
    # placeholder.
    fake.add_usage(
        MINUTE,
        usage_result(
            uncached=123, cache_read=123, cache_5m=123, cache_1h=123, output=123, searches=123
        ),
    )
    res = await poll(provider)
    assert res.ok, res.error
    (o,) = res.observations
    assert o.kind is ObservationKind.BUCKET
    assert (o.start, o.end) == (MINUTE, MINUTE + timedelta(minutes=1))
    assert o.target == f"{DOC_KEY}|{DOC_WORKSPACE}|{SONNET}"
    assert o.dims == {"key": DOC_KEY, "workspace": DOC_WORKSPACE, "model": SONNET}
    assert o.amount.amount == 123 * (IN + READ + W5 + W1H + OUT + SEARCH)
    assert o.complete and o.note == ""
    assert [(c.start, c.end) for c in res.coverage] == [(SINCE, NOW)]


async def test_request_groups_by_what_budgets_scope_on_and_what_prices_depend_on(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    await poll(provider)
    (q,) = fake.queries()
    assert q["group_by[]"] == [
        "api_key_id",
        "workspace_id",
        "model",
        "service_tier",
        "context_window",
    ]
    assert q["bucket_width"] == ["1m"] and q["limit"] == ["1440"]
    assert q["starting_at"] == ["2026-11-23T12:00:00Z"]
    assert "ending_at" not in q


async def test_workbench_and_default_workspace_get_stable_names(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.add_usage(MINUTE, usage_result(key=None, workspace=None, uncached=1000))
    (o,) = (await poll(provider)).observations
    assert o.dims == {"key": "workbench", "workspace": "default", "model": SONNET}
    assert o.amount.amount == 1000 * IN


async def test_cache_tokens_each_priced_at_their_own_rate(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.add_usage(MINUTE, usage_result(cache_read=1_000_000))
    fake.add_usage(MINUTE + timedelta(minutes=1), usage_result(cache_5m=1_000_000))
    fake.add_usage(MINUTE + timedelta(minutes=2), usage_result(cache_1h=1_000_000))
    amounts = [o.amount.amount for o in (await poll(provider)).observations]
    assert amounts == [Decimal("0.30"), Decimal("3.75"), Decimal("6.00")]


async def test_rows_of_one_key_and_model_add_up_with_batch_and_long_context_tiers(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    m = "claude-sonnet-4-5"
    fake.add_usage(MINUTE, usage_result(model=m, uncached=150_000, output=1000))
    fake.add_usage(
        MINUTE, usage_result(model=m, uncached=150_000, output=1000, service_tier="batch")
    )
    fake.add_usage(MINUTE, usage_result(model=m, uncached=300_000, context_window="200k-1M"))
    (o,) = (await poll(provider)).observations
    standard = 150_000 * IN + 1000 * OUT
    long_ctx = 300_000 * 2 * IN  # Sonnet 4.5 above 200k input: $6/M
    assert o.amount.amount == standard + standard / 2 + long_ctx
    # A whole busy minute is NOT priced as one long request:
    fake.usage.clear()
    fake.add_usage(MINUTE, usage_result(model=m, uncached=900_000))
    provider2 = build(fake, Mono())
    (o2,) = (await poll(provider2)).observations
    assert o2.amount.amount == 900_000 * IN
    await provider2.aclose()


async def test_unknown_model_is_incomplete_never_free(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.add_usage(MINUTE, usage_result(model="claude-zeta-9", uncached=1000))
    fake.add_usage(MINUTE, usage_result(model="claude-zeta-9", uncached=10, service_tier="batch"))
    (o,) = (await poll(provider)).observations
    assert not o.complete
    assert "no price for Anthropic model claude-zeta-9" in o.note
    assert "prices.anthropic.claude-zeta-9" in o.note


async def test_config_price_and_fallback_apply(fake: FakeAnthropic) -> None:
    prices = PriceBook({"anthropic": {"*": ModelPrice(input=Decimal(1), output=Decimal(2))}})
    p = build(fake, Mono(), prices=prices)
    fake.add_usage(MINUTE, usage_result(model="claude-zeta-9", uncached=1_000_000, searches=2))
    (o,) = (await poll(p)).observations
    # the override table cannot price web searches: web_search_usd_per_1000 ($10) applies
    assert o.amount.amount == Decimal(1) + 2 * SEARCH
    assert o.complete and "web_search_usd_per_1000" in o.note
    await p.aclose()


async def test_pagination_follows_next_page_and_covers_every_bucket(
    fake: FakeAnthropic, mono: Mono
) -> None:
    fake.page_size = 7
    p = build(fake, mono)
    for i in range(0, 30, 4):
        fake.add_usage(SINCE + timedelta(minutes=i), usage_result(uncached=1000 * (i + 1)))
    res = await poll(p)
    assert res.ok
    pages = fake.queries()
    assert len(pages) == 5  # 31 buckets (12:00..12:30 in progress) at 7 per page
    assert "page" not in pages[0] and all("page" in q for q in pages[1:])
    assert len(res.observations) == 8
    assert (
        sum(o.amount.amount for o in res.observations)
        == sum(1000 * (i + 1) for i in range(0, 30, 4)) * IN
    )
    assert [(c.start, c.end) for c in res.coverage] == [(SINCE, NOW)]
    await p.aclose()


async def test_documented_has_more_page_token_is_sent_back(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    calls = []

    def first() -> tuple[int, Any]:
        calls.append(1)
        if len(calls) == 1:
            return 200, {"data": [], "has_more": True, "next_page": DOC_PAGE}
        return 200, {"data": [], "has_more": False, "next_page": None}

    fake.override["/v1/organizations/usage_report/messages"] = first
    assert (await poll(provider)).ok
    assert fake.queries()[1]["page"] == [DOC_PAGE]


async def test_later_polls_reread_only_the_lookback(
    provider: AnthropicProvider, fake: FakeAnthropic, mono: Mono
) -> None:
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert (await poll(provider, since=start)).ok
    mono.t += 60
    later = NOW + timedelta(minutes=1)
    fake.clock = lambda: later
    res = await poll(provider, now=later, since=start)
    assert res.ok
    assert fake.queries()[1]["starting_at"] == ["2026-11-23T11:30:00Z"]  # until - 1h
    assert [(c.start, c.end) for c in res.coverage] == [
        (datetime(2026, 11, 23, 11, 30, tzinfo=UTC), later)
    ]
    # a budget that needs more history than was read triggers a full read again
    mono.t += 60
    earlier = start - timedelta(days=1)
    await poll(provider, now=later, since=earlier)
    assert fake.queries()[-1]["starting_at"] == ["2026-11-22T00:00:00Z"]


def _bad(**change: Any) -> dict[str, Any]:
    r = usage_result(uncached=5)
    for k, v in change.items():
        if v is KeyError:
            r.pop(k)
        else:
            r[k] = v
    return r


@pytest.mark.parametrize(
    "body",
    [
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00Z",
                    "ending_at": "2026-11-23T12:06:00Z",
                    "results": [_bad(cache_creation=KeyError)],
                }
            ],
            "has_more": False,
        },
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00Z",
                    "ending_at": "2026-11-23T12:06:00Z",
                    "results": [_bad(uncached_input_tokens="5")],
                }
            ],
            "has_more": False,
        },
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00Z",
                    "ending_at": "2026-11-23T12:06:00Z",
                    "results": [_bad(output_tokens=-1)],
                }
            ],
            "has_more": False,
        },
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00Z",
                    "ending_at": "2026-11-23T12:06:00Z",
                    "results": [_bad(server_tool_use=None)],
                }
            ],
            "has_more": False,
        },
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00Z",
                    "ending_at": "2026-11-23T12:06:00Z",
                    "results": [_bad(api_key_id=7)],
                }
            ],
            "has_more": False,
        },
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00",
                    "ending_at": "2026-11-23T12:06:00Z",
                    "results": [],
                }
            ],
            "has_more": False,
        },
        {
            "data": [
                {
                    "starting_at": "2026-11-23T12:05:00Z",
                    "ending_at": "2026-11-23T13:05:00Z",
                    "results": [],
                }
            ],
            "has_more": False,
        },
        {
            "data": [{"starting_at": "2026-11-23T12:05:00Z", "ending_at": "2026-11-23T12:06:00Z"}],
            "has_more": False,
        },
        {"data": [], "has_more": True, "next_page": None},
        {"data": [], "has_more": "no"},
        {"data": {}, "has_more": False},
        {"results": []},
        [],
        b"<html>gateway</html>",
    ],
    ids=[
        "no-cache_creation",
        "string-count",
        "negative",
        "no-server_tool_use",
        "key-not-string",
        "naive-time",
        "wrong-width",
        "no-results",
        "more-without-token",
        "has_more-type",
        "data-object",
        "no-data",
        "list",
        "not-json",
    ],
)
async def test_malformed_usage_is_an_error_never_zero(
    provider: AnthropicProvider, fake: FakeAnthropic, body: Any
) -> None:
    fake.override["/v1/organizations/usage_report/messages"] = lambda: (200, body)
    res = await poll(provider)
    assert not res.ok and res.observations == () and res.coverage == ()
    assert "usage_report/messages" in (res.error or "")


async def test_http_errors_are_errors_without_the_key(fake: FakeAnthropic, mono: Mono) -> None:
    fake.admin_key = "sk-ant-admin01-the-right-one"
    p = build(fake, mono)
    p.api.http.client.headers["x-api-key"] = "sk-ant-admin01-a-wrong-one"
    res = await poll(p)
    assert not res.ok and "HTTP 401" in (res.error or "")
    assert "sk-ant" not in (res.error or "")
    await p.aclose()
