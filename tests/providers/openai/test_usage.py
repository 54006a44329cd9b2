"""openai.usage: requests, bins, coverage, pagination, incremental reads, unknown prices,
malformed answers and the retry contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import killswitch.http as khttp
from killswitch.model import ObservationKind, PollResult
from killswitch.pricing import PriceBook
from killswitch.providers.openai import OpenAIProvider
from killswitch.testing import FakeClock

from .conftest import K1, K2, K3, NOW, P1, P2, build
from .fake import MIN, FakeOpenAI, Fault

TODAY = datetime(2026, 11, 23, tzinfo=UTC)


async def poll(p: OpenAIProvider, now: datetime = NOW, since: datetime = TODAY) -> PollResult:
    return await p.sources()["openai.usage"].poll(now, since)


def by_bin(res: PollResult) -> dict[tuple[str, datetime], Decimal]:
    return {(o.target, o.start): o.amount.amount for o in res.observations if o.start is not None}


async def test_first_poll_bins_dims_amounts_and_coverage(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.add_completion(
        NOW.replace(hour=12, minute=10), P1, K1, "gpt-4o-mini", input=1_000_000, output=1_000_000
    )
    fake.add_completion(NOW.replace(hour=12, minute=11), P1, K1, "gpt-4o-mini", input=1_000_000)
    fake.add_completion(NOW.replace(hour=9, minute=15), P2, K3, "gpt-4o-mini", input=2_000_000)
    res = await poll(provider)
    assert res.ok, res.error
    assert by_bin(res) == {
        (f"{P1}|{K1}|gpt-4o-mini", TODAY.replace(hour=12)): Decimal("0.90"),
        (f"{P2}|{K3}|gpt-4o-mini", TODAY.replace(hour=9)): Decimal("0.30"),
    }
    o = next(o for o in res.observations if o.dims["key"] == K1)
    assert o.kind is ObservationKind.BUCKET and o.complete and o.note == ""
    assert o.dims == {"key": K1, "project": P1, "model": "gpt-4o-mini"}
    assert (o.start, o.end, o.observed_at) == (TODAY.replace(hour=12), TODAY.replace(hour=13), NOW)
    # Reconciled days are read too, so coverage starts two days back and runs to now.
    (cov,) = res.coverage
    assert (cov.start, cov.end) == (TODAY - timedelta(days=2), NOW)
    assert provider.key_projects == {K1: P1, K3: P2}


async def test_old_hours_in_1h_buckets_recent_hours_in_1m_without_end_time(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    await poll(provider)
    comp = fake.requests("GET", "/organization/usage/completions")
    assert len(comp) == 2
    coarse, fine = (dict(_q(e.url)) for e in comp)
    assert coarse["bucket_width"] == ["1h"] and coarse["limit"] == ["168"]
    assert coarse["start_time"] == [str(int((TODAY - timedelta(days=2)).timestamp()))]
    assert coarse["end_time"] == [str(int(TODAY.replace(hour=11).timestamp()))]
    assert coarse["group_by"] == ["project_id", "api_key_id", "model", "batch", "service_tier"]
    assert fine["bucket_width"] == ["1m"] and fine["limit"] == ["1440"] and "end_time" not in fine
    assert fine["start_time"] == [str(int(TODAY.replace(hour=11).timestamp()))]
    # Every configured usage type is read; images also group by size.
    for t in ("embeddings", "audio_speeches", "audio_transcriptions", "images"):
        assert len(fake.requests("GET", f"/organization/usage/{t}")) == 2
    images = dict(_q(fake.requests("GET", "/organization/usage/images")[0].url))
    assert images["group_by"] == ["project_id", "api_key_id", "model", "size"]
    assert all(e.headers["authorization"] == f"Bearer {fake.admin_key}" for e in fake.exchanges)


def _q(url: str) -> list[tuple[str, list[str]]]:
    from urllib.parse import parse_qs, urlsplit

    return list(parse_qs(urlsplit(url).query).items())


async def test_coarse_and_fine_reads_sum_to_the_same_hour(
    fake: FakeOpenAI, clock: FakeClock
) -> None:
    """An hour read in 1h buckets (first poll) equals the same hour summed from minutes."""
    at = TODAY.replace(hour=10, minute=5)
    for m in range(0, 50, 7):
        fake.add_completion(
            at + timedelta(minutes=m), P1, K1, "gpt-4o-mini", input=100_000, output=50_000
        )
    first = build(fake)
    coarse = by_bin(await poll(first, TODAY.replace(hour=12, minute=30)))  # 10:00 read as 1h
    second = build(fake, lookback="3h")
    fine = by_bin(await poll(second, TODAY.replace(hour=12, minute=30)))  # 10:00 read as 1m
    assert coarse == fine
    assert coarse[(f"{P1}|{K1}|gpt-4o-mini", TODAY.replace(hour=10))] == Decimal("0.36")
    await first.aclose()
    await second.aclose()


async def test_pagination_follows_next_page_in_both_widths(fake: FakeOpenAI) -> None:
    since = TODAY - timedelta(days=10)
    for h in range(0, 10 * 24 + 12):
        fake.add_completion(
            since + timedelta(hours=h, minutes=3), P1, K1, "gpt-4o-mini", input=10_000
        )
    p = build(fake, lookback="30h", usage_types=["completions"])
    res = await poll(p, since=since)
    assert res.ok, res.error
    comp = fake.requests("GET", "/organization/usage/completions")
    coarse = [e for e in comp if "bucket_width=1h" in e.url]
    fine = [e for e in comp if "bucket_width=1m" in e.url]
    assert len(coarse) == 2 and len(fine) == 2  # 222 h > 168 per page; 1830 min > 1440 per page
    assert "page=" not in coarse[0].url and "page=" in coarse[1].url
    assert "page=" in fine[1].url
    total = sum(by_bin(res).values(), Decimal(0))
    assert total == Decimal("0.0015") * (10 * 24 + 12)
    await p.aclose()


async def test_later_polls_reread_only_the_lookback(fake: FakeOpenAI, clock: FakeClock) -> None:
    p = build(fake)
    await poll(p)
    fake.exchanges.clear()
    later = NOW + timedelta(minutes=1)
    fake.add_completion(later - timedelta(seconds=30), P1, K2, "gpt-4o-mini", input=1_000_000)
    clock.now = later
    res = await poll(p, later)
    comp = fake.requests("GET", "/organization/usage/completions")
    assert len(comp) == 1 and "bucket_width=1m" in comp[0].url
    assert f"start_time={int(TODAY.replace(hour=11).timestamp())}" in comp[0].url
    assert by_bin(res)[(f"{P1}|{K2}|gpt-4o-mini", TODAY.replace(hour=12))] == Decimal("0.15")
    assert (res.coverage[0].start, res.coverage[0].end) == (TODAY.replace(hour=11), later)
    await p.aclose()


async def test_minute_resolution_emits_minute_buckets(fake: FakeOpenAI) -> None:
    fake.add_completion(NOW.replace(minute=10, second=5), P1, K1, "gpt-4o-mini", input=1_000_000)
    p = build(fake, resolution="1m", reconcile=False, usage_types=["completions"])
    res = await poll(p, since=NOW - timedelta(minutes=90))
    assert all(e.url.count("bucket_width=1m") for e in fake.exchanges)
    (o,) = res.observations
    assert (o.start, o.end) == (NOW.replace(minute=10, second=0), NOW.replace(minute=11, second=0))
    await p.aclose()


async def test_batch_and_standard_rows_of_one_target_are_one_observation(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    at = NOW.replace(minute=5)
    fake.add_completion(at, P1, K1, "gpt-4o-mini", input=1_000_000)
    fake.add_completion(at, P1, K1, "gpt-4o-mini", input=1_000_000, batch=True)
    res = await poll(provider)
    (o,) = res.observations
    assert o.amount.amount == Decimal("0.15") + Decimal("0.075")


async def test_unknown_model_is_incomplete_never_free(fake: FakeOpenAI) -> None:
    fake.add_completion(NOW.replace(minute=5), P1, K1, "gpt-4o-mini", input=1_000_000)
    fake.add_completion(NOW.replace(minute=6), P1, K1, "mystery-model-7", input=1_000_000)
    p = build(fake, prices=PriceBook())  # no "*" fallback
    res = await poll(p)
    assert res.ok
    mystery = next(o for o in res.observations if o.dims["model"] == "mystery-model-7")
    assert mystery.complete is False and mystery.amount.amount == 0
    assert "mystery-model-7" in mystery.note and 'prices.openai."*"' in mystery.note
    known = next(o for o in res.observations if o.dims["model"] == "gpt-4o-mini")
    assert known.complete and known.amount.amount == Decimal("0.150")
    await p.aclose()


async def test_unknown_model_with_a_fallback_price_is_priced(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.add_completion(
        NOW.replace(minute=6), P1, K1, "mystery-model-7", input=1_000_000, output=100_000
    )
    (o,) = (await poll(provider)).observations
    assert o.complete and o.amount.amount == Decimal(15) + Decimal(6)  # "*": 15 in, 60 out


async def test_null_dimensions_get_placeholders(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.add_completion(NOW.replace(minute=6), None, None, None, input=1_000)
    res = await poll(provider)
    (o,) = res.observations
    assert o.dims == {"key": "no-key", "project": "no-project", "model": "unknown"}
    assert provider.key_projects == {}


def completions_page(results: list[Any], **extra: Any) -> dict[str, Any]:
    start = int(TODAY.replace(hour=12).timestamp())
    return {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": start, "end_time": start + 60, "results": results}
        ],
        "has_more": False,
        "next_page": None,
        **extra,
    }


def result(**fields: Any) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": 10,
        "output_tokens": 5,
        "num_model_requests": 1,
        "project_id": P1,
        "api_key_id": K1,
        "model": "gpt-4o-mini",
        **fields,
    }


BAD = {
    "missing input_tokens": completions_page(
        [{k: v for k, v in result().items() if k != "input_tokens"}]
    ),
    "string tokens": completions_page([result(output_tokens="5")]),
    "float tokens": completions_page([result(input_tokens=1.5)]),
    "negative tokens": completions_page([result(input_tokens=-1)]),
    "error JSON with 200": {
        "error": {"message": "internal", "type": "server_error", "param": None, "code": None}
    },
    "costs result in usage": completions_page(
        [{"object": "organization.costs.result", "amount": {"value": 1.0, "currency": "usd"}}]
    ),
    "no data list": {"object": "page", "has_more": False, "next_page": None},
    "has_more without cursor": completions_page([], has_more=True),
    "bucket times as strings": {
        **completions_page([]),
        "data": [
            {"object": "bucket", "start_time": "2026-11-23T12:00:00Z", "end_time": 1, "results": []}
        ],
    },
    "results not a list": {
        **completions_page([]),
        "data": [{"object": "bucket", "start_time": 0, "end_time": 60, "results": {}}],
    },
    "audio above uncached": completions_page([result(input_tokens=10, input_audio_tokens=11)]),
    "batch as string": completions_page([result(batch="yes")]),
}


@pytest.mark.parametrize("case", sorted(BAD))
async def test_malformed_answers_are_errors_never_zero(
    fake: FakeOpenAI, provider: OpenAIProvider, case: str
) -> None:
    fake.faults.append(Fault("GET", "/organization/usage/completions", 200, BAD[case], times=5))
    res = await poll(provider)
    assert not res.ok and res.observations == () and res.coverage == ()
    assert "/organization/usage/completions" in (res.error or "")


async def test_a_non_json_answer_is_an_error(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.faults.append(
        Fault("GET", "/organization/usage/embeddings", 200, b"<html>oops</html>", times=5)
    )
    res = await poll(provider)
    assert not res.ok and "not JSON" in (res.error or "")


async def test_a_bucket_of_the_wrong_width_is_refused(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    page = completions_page([result()])
    page["data"][0]["end_time"] += 3600
    fake.faults.append(Fault("GET", "/organization/usage/completions", 200, page, times=5))
    res = await poll(provider)
    assert not res.ok and "not a 1" in (res.error or "")


async def test_429_retry_after_is_honoured_through_provider_http(
    fake: FakeOpenAI, provider: OpenAIProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    monkeypatch.setattr(khttp.asyncio, "sleep", fake_sleep)
    fake.faults.append(
        Fault(
            "GET",
            "/organization/usage/completions",
            429,
            {
                "error": {
                    "message": "Rate limit reached",
                    "type": "rate_limit_error",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            headers={"retry-after": "7"},
            spec_valid=True,
        )
    )
    fake.add_completion(NOW.replace(minute=5), P1, K1, "gpt-4o-mini", input=1_000_000)
    before = provider.api.http.requests_sent
    res = await poll(provider)
    assert res.ok, res.error
    assert sleeps == [7.0]
    assert provider.api.http.requests_sent - before == len(fake.exchanges)
    assert [e.status for e in fake.exchanges][:2] == [429, 200]


async def test_persistent_5xx_is_an_error_after_retries(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.faults.append(
        Fault(
            "GET",
            "/organization/usage/.*",
            503,
            {"error": {"message": "x", "type": "server_error", "param": None, "code": None}},
            times=10,
        )
    )
    res = await poll(provider)
    assert not res.ok and "HTTP 503" in (res.error or "")
    assert len(fake.exchanges) == 3  # the retry policy's attempts, then give up


async def test_a_rejected_key_is_an_error_that_never_carries_the_key(fake: FakeOpenAI) -> None:
    p = build(fake)
    fake.admin_key = "sk-admin-rotated-since"  # the configured key is no longer accepted
    res = await poll(p)
    assert not res.ok and "HTTP 401" in (res.error or "")
    assert "sk-admin" not in (res.error or "")
    await p.aclose()


@pytest.mark.parametrize(
    "usage_type", ["embeddings", "audio_speeches", "audio_transcriptions", "images"]
)
async def test_other_usage_types_become_observations(
    fake: FakeOpenAI, provider: OpenAIProvider, usage_type: str
) -> None:
    fields = {
        "embeddings": {"model": "text-embedding-3-small", "input_tokens": 1_000_000},
        "audio_speeches": {"model": "tts-1", "characters": 1_000_000},
        "audio_transcriptions": {"model": "whisper-1", "seconds": 600},
        "images": {
            "model": "dall-e-3",
            "images": 2,
            "size": "1024x1792",
            "source": "image.generation",
        },
    }[usage_type]
    want = {
        "embeddings": Decimal("0.02"),
        "audio_speeches": Decimal(15),
        "audio_transcriptions": Decimal("0.06"),
        "images": Decimal("0.24"),
    }[usage_type]
    fake.add_usage(
        usage_type,
        NOW.replace(minute=1),
        project_id=P2,
        api_key_id=K3,
        num_model_requests=1,
        **fields,
    )
    (o,) = (await poll(provider)).observations
    assert o.dims == {"key": K3, "project": P2, "model": fields["model"]}
    assert o.complete and o.amount.amount == want


async def test_one_failing_usage_type_fails_the_poll(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.add_completion(NOW.replace(minute=5), P1, K1, "gpt-4o-mini", input=1_000_000)
    fake.faults.append(
        Fault(
            "GET",
            "/organization/usage/images",
            403,
            {
                "error": {
                    "message": "Missing scopes: api.usage.read",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            spec_valid=True,
        )
    )
    res = await poll(provider)
    assert not res.ok and "HTTP 403" in (res.error or "")
    assert res.observations == ()  # a partial read would under-count


async def test_a_later_poll_after_a_failed_first_rereads_everything(
    fake: FakeOpenAI, clock: FakeClock
) -> None:
    p = build(fake, usage_types=["completions"])
    fake.faults.append(
        Fault(
            "GET",
            "/organization/usage/completions",
            500,
            {"error": {"message": "x", "type": "server_error", "param": None, "code": None}},
            times=3,
        )
    )
    assert not (await poll(p)).ok
    fake.exchanges.clear()
    res = await poll(p, NOW + MIN)
    assert res.ok and res.coverage[0].start == TODAY - timedelta(days=2)
    assert any("bucket_width=1h" in e.url for e in fake.exchanges)
    await p.aclose()


async def test_off_hour_window_start_warns_once(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    src = provider.sources()["openai.usage"]
    await src.poll(NOW, TODAY + timedelta(minutes=30))
    assert src._warned_alignment  # type: ignore[attr-defined]


async def test_a_coarse_bucket_past_end_time_is_not_counted_twice(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    """If the 1h read also returned the hour the 1m read owns, that hour would count twice."""
    fake.add_completion(NOW.replace(hour=11, minute=30), P1, K1, "gpt-4o-mini", input=1_000_000)
    start = int((TODAY - timedelta(days=2)).timestamp())
    hours = [
        {"object": "bucket", "start_time": t, "end_time": t + 3600, "results": []}
        for t in range(start, int(TODAY.replace(hour=12).timestamp()), 3600)
    ]
    hours[-1]["results"] = [result(input_tokens=1_000_000)]  # 11:00, past end_time (11:00)
    page = {"object": "page", "data": hours, "has_more": False, "next_page": None}
    fake.faults.append(Fault("GET", "/organization/usage/completions", 200, page, spec_valid=True))
    (o,) = (await poll(provider)).observations
    assert o.start == TODAY.replace(hour=11) and o.amount.amount == Decimal("0.15")
