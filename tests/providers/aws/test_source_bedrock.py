"""aws.bedrock on moto in-process: token metrics seeded with put_metric_data."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from killswitch.core.spend import group_spend
from killswitch.core.windows import WindowSpec
from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import ObservationKind, PollResult
from killswitch.pricing import ModelPrice, PriceBook, TokenUsage
from killswitch.providers.aws import bedrock_models
from killswitch.providers.aws.source_bedrock import BedrockSource, floor, read_plan

from .conftest import make_provider

pytestmark = pytest.mark.usefixtures("aws")
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"  # $3 in / $15 out per million
US_SONNET = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
UNKNOWN = "cohere.command-r-v1:0"


def put(model: str, at: datetime, region: str = "us-east-1", **metrics: float) -> None:
    cw = boto3.client("cloudwatch", region_name=region)
    cw.put_metric_data(
        Namespace="AWS/Bedrock",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "ModelId", "Value": model}],
                "Timestamp": at,
                "Value": value,
                "Unit": "Count",
            }
            for name, value in metrics.items()
        ],
    )


def source(prices: PriceBook | None = None, **cfg: Any) -> BedrockSource:
    s = make_provider(prices, bedrock=cfg).sources()["aws.bedrock"]
    assert isinstance(s, BedrockSource)
    return s


def total(r: PollResult, window_start: datetime, now: datetime) -> tuple[Decimal | None, bool]:
    by_target: dict[str, list[Any]] = {}
    for o in r.observations:
        by_target.setdefault(o.target, []).append(o)
    w = WindowSpec("daily").at(now)
    w = type(w)(window_start, w.end, w.spec)
    g = group_spend(by_target, w, "USD", now, r.coverage)
    return (g.amount.amount if g.amount else None), g.complete


def minute(offset: int) -> datetime:
    return floor(datetime.now(UTC), 60) - timedelta(minutes=offset)


async def test_tokens_per_minute_are_priced_buckets_with_coverage() -> None:
    now = datetime.now(UTC)
    put(SONNET, minute(3), InputTokenCount=1_000_000, OutputTokenCount=100_000)
    put(SONNET, minute(2), InputTokenCount=500_000)
    r = await source().poll(now, now - timedelta(hours=1))
    assert r.ok, r.error
    assert [o.kind for o in r.observations] == [ObservationKind.BUCKET] * 2
    first, second = r.observations
    assert first.start == minute(3) and first.end == minute(2)
    assert first.amount.amount == Decimal("4.5")  # 1M x $3 + 0.1M x $15
    assert second.amount.amount == Decimal("1.5")
    assert first.dims == {"model": SONNET, "region": "us-east-1"} and first.complete
    (cov,) = r.coverage
    assert cov.start <= now - timedelta(hours=1) and cov.end == now
    assert total(r, now - timedelta(hours=1), now) == (Decimal("6.0"), True)


async def test_no_usage_in_a_covered_span_is_zero_not_missing() -> None:
    now = datetime.now(UTC)
    r = await source().poll(now, now - timedelta(hours=1))
    assert r.ok and r.observations == () and r.coverage
    assert total(r, now - timedelta(hours=1), now) == (Decimal(0), True)


async def test_cache_metrics_are_priced_at_cache_rates() -> None:
    now = datetime.now(UTC)
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    put(
        model,
        minute(2),
        InputTokenCount=1000,
        CacheReadInputTokenCount=1_000_000,
        CacheWriteInputTokenCount=1_000_000,
    )
    (o,) = (await source().poll(now, now - timedelta(minutes=30))).observations
    pb = PriceBook()
    expected = sum(
        (pb.price("aws", model, TokenUsage(**{f: n})).amount or Decimal(0))
        for f, n in (
            ("input_tokens", 1000),
            ("cache_read_tokens", 1_000_000),
            ("cache_write_tokens", 1_000_000),
        )
    )
    assert o.amount.amount == expected and o.complete


async def test_inference_profiles_and_arns_are_priced() -> None:
    now = datetime.now(UTC)
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + US_SONNET
    put(US_SONNET, minute(2), InputTokenCount=1_000_000)
    put(arn, minute(2), InputTokenCount=1_000_000)
    r = await source().poll(now, now - timedelta(minutes=30))
    assert {o.target: o.amount.amount for o in r.observations} == {
        US_SONNET: Decimal(3),
        arn: Decimal(3),
    }
    assert all(o.complete for o in r.observations)


async def test_unknown_model_is_incomplete_never_free() -> None:
    now = datetime.now(UTC)
    put(UNKNOWN, minute(2), InputTokenCount=1_000_000)
    put(SONNET, minute(2), InputTokenCount=1_000_000)
    r = await source().poll(now, now - timedelta(minutes=30))
    unknown = next(o for o in r.observations if o.target == UNKNOWN)
    assert not unknown.complete and "no price" in unknown.note
    assert unknown.amount.amount == 0  # the unpriced part is left out, flagged incomplete
    assert total(r, now - timedelta(minutes=30), now) == (Decimal(3), False)


async def test_config_price_and_model_map_complete_unknown_models() -> None:
    now = datetime.now(UTC)
    app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    put(UNKNOWN, minute(2), InputTokenCount=1_000_000)
    put(app, minute(2), OutputTokenCount=1_000_000)
    prices = PriceBook({"aws": {UNKNOWN: ModelPrice(input=Decimal("0.5"), output=Decimal(1))}})
    r = await source(prices, model_map={app: SONNET}).poll(now, now - timedelta(minutes=30))
    got = {o.target: (o.amount.amount, o.complete, o.note) for o in r.observations}
    assert got[UNKNOWN] == (Decimal("0.5"), True, "")
    assert got[app] == (Decimal(15), True, f"priced as {SONNET}")


def test_a_star_fallback_never_beats_a_catalogue_price() -> None:
    prices = PriceBook({"aws": {"*": ModelPrice(input=Decimal(100), output=Decimal(100))}})
    arn = "arn:aws:bedrock:us-east-1::foundation-model/" + SONNET
    rates = bedrock_models.rates(prices, arn)
    assert rates is not None and rates.basis == "catalogue"
    assert rates.cost(TokenUsage(input_tokens=1_000_000)) == Decimal(3)
    fb = bedrock_models.rates(prices, UNKNOWN)
    assert fb is not None and fb.basis == "fallback"


def test_candidates_cover_arns_suffixes_and_geography() -> None:
    c = bedrock_models.candidates(
        "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.anthropic.claude-3-haiku-v1:0:200k"
    )
    assert "eu.anthropic.claude-3-haiku-v1:0" in c and "anthropic.claude-3-haiku-v1:0" in c
    assert bedrock_models.candidates("global.x.y", {"global.x.y": "z"})[0] == "z"


def test_long_context_tiers_are_not_applied_to_minute_sums() -> None:
    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    r = bedrock_models.rates(PriceBook(), model)
    assert r is not None
    per = r.per_token["input_tokens"]
    assert r.cost(TokenUsage(input_tokens=5_000_000)) == per * 5_000_000


async def test_second_poll_rereads_only_the_settle_span_and_catches_late_data() -> None:
    now = datetime.now(UTC)
    s = source(settle="5m")
    put(SONNET, minute(30), InputTokenCount=1_000_000)
    r1 = await s.poll(now, now - timedelta(hours=1))
    assert len(r1.observations) == 1
    put(SONNET, minute(3), InputTokenCount=1_000_000)  # lands late, inside the settle span
    r2 = await s.poll(now + timedelta(seconds=60), now - timedelta(hours=1))
    assert [o.start for o in r2.observations] == [minute(3)]  # old bucket not re-read
    (cov,) = r2.coverage
    assert cov.start >= now - timedelta(minutes=6)


async def test_a_model_new_to_list_metrics_is_read_from_the_first_start() -> None:
    now = datetime.now(UTC)
    s = source(settle="5m")
    put(SONNET, minute(2), InputTokenCount=1)
    await s.poll(now, now - timedelta(hours=1))
    s._known.discard(("us-east-1", US_SONNET, "InputTokenCount"))  # ListMetrics lagged
    put(US_SONNET, minute(40), InputTokenCount=1_000_000)
    r = await s.poll(now + timedelta(minutes=1), now - timedelta(hours=1))
    assert any(o.target == US_SONNET and o.start == minute(40) for o in r.observations)


async def test_models_listed_in_config_are_read_even_if_not_listed() -> None:
    datetime.now(UTC)
    s = source(models=[SONNET])
    assert (SONNET, "OutputTokenCount") in await s.discover("us-east-1")


async def test_several_regions_prefix_targets() -> None:
    now = datetime.now(UTC)
    put(SONNET, minute(2), InputTokenCount=1_000_000)
    put(SONNET, minute(2), region="us-west-2", InputTokenCount=2_000_000)
    r = await source(regions=["us-east-1", "us-west-2"]).poll(now, now - timedelta(minutes=30))
    assert {o.target: o.amount.amount for o in r.observations} == {
        f"us-east-1/{SONNET}": Decimal(3),
        f"us-west-2/{SONNET}": Decimal(6),
    }


async def test_short_period_buckets() -> None:
    now = datetime.now(UTC)
    at = floor(now, 10) - timedelta(seconds=30)
    put(SONNET, at + timedelta(seconds=2), InputTokenCount=1_000_000)
    (o,) = (await source(period=10).poll(now, now - timedelta(minutes=5))).observations
    assert (o.start, o.end) == (at, at + timedelta(seconds=10))


def test_read_plan_follows_cloudwatch_retention() -> None:
    now = datetime(2026, 11, 23, 12, 34, 56, tzinfo=UTC)
    plan = read_plan(now - timedelta(days=70), now, now, 60)
    assert [r for _, _, r in plan] == [3600, 300, 60, 60]
    assert plan[0][0] == floor(now - timedelta(days=70), 3600)
    for (_, hi, res), (lo, _, _) in itertools.pairwise(plan):
        assert hi == lo and hi == floor(hi, res)  # contiguous, coarse spans whole
    assert plan[-1][1] == now
    recent = read_plan(now - timedelta(minutes=30), now, now, 60)
    assert recent == [(floor(now - timedelta(minutes=30), 60), now, 60)]


def test_old_coarse_data_is_spread_into_period_buckets() -> None:
    now = datetime.now(UTC)
    s = source()
    ts = floor(now - timedelta(days=20), 300)
    obs = s._observations("us-east-1", {(SONNET, ts, 300): {"input_tokens": 1_000_000}}, now)
    assert len(obs) == 5 and all(o.end - o.start == timedelta(minutes=1) for o in obs)  # type: ignore[operator]
    assert sum(o.amount.amount for o in obs) == Decimal(3)
    assert "spread" in obs[0].note


@pytest.mark.parametrize(
    "page",
    [
        {"MetricDataResults": "x"},
        {"MetricDataResults": [{"Id": "zz", "StatusCode": "Complete"}]},
        {
            "MetricDataResults": [
                {"Id": "q0", "StatusCode": "Complete", "Timestamps": [], "Values": [1.0]}
            ]
        },
        {
            "MetricDataResults": [
                {
                    "Id": "q0",
                    "StatusCode": "Complete",
                    "Timestamps": [datetime.now(UTC)],
                    "Values": [-1.0],
                }
            ]
        },
    ],
)
def test_malformed_metric_data_raises(page: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        BedrockSource._collect(page, {"q0": (SONNET, "InputTokenCount")}, 60, {})


def test_failed_query_status_is_an_error() -> None:
    page = {
        "MetricDataResults": [
            {"Id": "q0", "StatusCode": "Forbidden", "Timestamps": [], "Values": []}
        ]
    }
    with pytest.raises(SourceError, match="Forbidden"):
        BedrockSource._collect(page, {"q0": (SONNET, "InputTokenCount")}, 60, {})
