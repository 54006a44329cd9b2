"""The prometheus source against a real Prometheus scraping a real exporter (both on loopback)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import Counter

from killswitch.model import ObservationKind, PollResult
from killswitch.plugins import ProviderContext
from killswitch.providers.prometheus import PrometheusProvider
from killswitch.providers.prometheus.config import PrometheusConfig
from tests.providers.prometheus.stack import PromStack


async def poll(prom: PromStack, now: datetime | None = None, **query: Any) -> PollResult:
    cfg = PrometheusConfig.model_validate(
        {"type": "prometheus", "url": prom.url, "queries": [{"name": "q", **query}]}
    )
    p = PrometheusProvider("prom", cfg, ProviderContext())
    now = now or datetime.now(UTC)
    try:
        return await p.sources()["q"].poll(now, now - timedelta(hours=1))
    finally:
        await p.aclose()


@pytest.fixture(scope="module")
def spend(prom: PromStack) -> Counter:
    """k1 spends $7.50 and k2 $1 after Prometheus has seen both at zero (so increase() sees it)."""
    c = Counter("it_spend", "test spend", ["hashed_api_key", "team"], registry=prom.exporter)
    c.labels("k1", "a").inc(0)
    c.labels("k2", "b").inc(0)
    prom.wait_samples("it_spend_total")
    c.labels("k1", "a").inc(7.5)
    c.labels("k2", "b").inc(1)
    prom.wait_value('it_spend_total{hashed_api_key="k1"}', lambda v: v == 7.5)
    return c


async def test_to_date_rolling_hour_reads_increase(prom: PromStack, spend: Counter) -> None:
    now = datetime.now(UTC)
    result = await poll(
        prom,
        now,
        promql="sum by (hashed_api_key, team) (increase(it_spend_total[$__range]))",
        kind="to_date",
        period="rolling:1h",
        dims={"hashed_api_key": "key", "team": "team"},
    )
    assert result.ok, result.error
    by_key = {o.dims["key"]: o for o in result.observations}
    assert set(by_key) == {"k1", "k2"}
    k1 = by_key["k1"]
    assert k1.kind is ObservationKind.TO_DATE and (k1.start, k1.end) == (
        now - timedelta(hours=1),
        now,
    )
    # increase() extrapolates towards the range end, never below what was really counted (over
    # a few seconds of history, by up to a scrape interval's share: bounded loosely here)
    assert Decimal("7.5") <= k1.amount.amount < Decimal("11.25")
    assert Decimal(1) <= by_key["k2"].amount.amount < Decimal("1.5")
    assert k1.dims == {"key": "k1", "team": "a"}


async def test_to_date_daily_is_aligned_to_midnight(prom: PromStack, spend: Counter) -> None:
    now = datetime.now(UTC)
    if now - now.replace(hour=0, minute=0, second=0, microsecond=0) < timedelta(minutes=2):
        pytest.skip("the series began yesterday, so today's increase would be partial")
    result = await poll(
        prom,
        now,
        promql="sum(increase(it_spend_total[$__range]))",
        kind="to_date",
        period="daily",
    )
    (o,) = result.observations
    assert o.start == now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert o.target == "*" and Decimal("8.5") <= o.amount.amount < Decimal("12.75")


async def test_counter_reads_the_raw_total(prom: PromStack, spend: Counter) -> None:
    result = await poll(
        prom,
        promql="sum by (hashed_api_key) (it_spend_total)",
        kind="counter",
        dims={"hashed_api_key": "key"},
    )
    assert result.ok, result.error
    amounts = {o.dims["key"]: o.amount.amount for o in result.observations}
    # the series did not exist an hour ago: no baseline sample, so windows say "incomplete"
    assert amounts == {"k1": Decimal("7.5"), "k2": Decimal(1)}


async def test_no_matching_series_is_no_data(prom: PromStack) -> None:
    result = await poll(prom, promql="sum by (key) (nobody_exports_this_total)", kind="counter")
    assert result.ok and result.observations == ()


@pytest.mark.parametrize(
    ("promql", "expected"),
    [
        ("sum(it_spend_total", 'HTTP 400: invalid parameter "query"'),
        ("(sum(it_spend_total) * 0) / 0", "is NaN"),
        ("sum(it_spend_total) / 0", "is +Inf"),
        ("scalar(sum(it_spend_total))", "result type is 'scalar'"),
        ("it_spend_total[1m]", "result type is 'matrix'"),
        ('label_replace(vector(-1), "k", "v", "", "")', "cannot be negative"),
    ],
)
async def test_query_errors_mark_the_source_stale(
    prom: PromStack, spend: Counter, promql: str, expected: str
) -> None:
    result = await poll(prom, promql=promql, kind="counter")
    assert not result.ok and result.observations == ()
    assert result.error is not None and expected in result.error, result.error
