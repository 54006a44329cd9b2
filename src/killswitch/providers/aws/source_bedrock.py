"""``aws.bedrock``: near-real-time Bedrock spend from CloudWatch token metrics x prices.

Bedrock publishes ``InputTokenCount``, ``OutputTokenCount`` (and, for prompt caching,
``CacheReadInputTokenCount`` / ``CacheWriteInputTokenCount``) per ``ModelId`` in the
``AWS/Bedrock`` namespace at 1-minute resolution, about a minute after the calls. The source lists
which (model, metric) pairs exist, reads their per-period sums with ``GetMetricData`` and prices
each bucket with genai-prices (``bedrock_models``). Each bucket becomes a ``bucket`` observation
(dims ``model``, ``region``) and every span read is vouched for with a ``Coverage``, so a minute
without a datapoint is $0. A model without a known price gives an observation with
``complete=False`` and a note, never a free one.

Reads are incremental: after the first poll (which reads from the earliest window start) each
poll re-reads only the last ``settle`` (CloudWatch data lands late) plus, for a model that has
just appeared in ``ListMetrics``, everything since the first read.

CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and hourly data after
that. Older spans are read at the coarser resolution and spread evenly over buckets of the
configured ``period``, so bucket keys never depend on when they were read: a restarted daemon
re-reading last month replaces its stored buckets instead of adding to them. Windows aligned to
5 minutes (every calendar window) still sum exactly.

Cost: GetMetricData bills $0.01 per 1,000 metrics requested. A poll requests one metric per
(model, metric) pair and region, so the default 60 s poll interval with 10 models and 4 metrics
costs about $17/month; raise ``poll_interval`` if that matters.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import Coverage, Money, ObservationKind, PollResult, SpendObservation
from killswitch.plugins import ProviderContext
from killswitch.pricing import TokenUsage
from killswitch.providers._kit.source import GuardedSource
from killswitch.providers.aws import bedrock_models
from killswitch.providers.aws.config import BedrockSourceConfig
from killswitch.providers.aws.session import AwsSession

NAME = "aws.bedrock"
NAMESPACE = "AWS/Bedrock"
METRICS = {
    "InputTokenCount": "input_tokens",
    "OutputTokenCount": "output_tokens",
    "CacheReadInputTokenCount": "cache_read_tokens",
    "CacheWriteInputTokenCount": "cache_write_tokens",
}
MAX_QUERIES = 500  # GetMetricData limit per request
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor(t: datetime, seconds: int) -> datetime:
    s = (t - EPOCH).total_seconds()
    return EPOCH + timedelta(seconds=s - s % seconds)


def ceil(t: datetime, seconds: int) -> datetime:
    f = floor(t, seconds)
    return f if f == t else f + timedelta(seconds=seconds)


def read_plan(
    start: datetime, end: datetime, now: datetime, period: int
) -> list[tuple[datetime, datetime, int]]:
    """Split ``[start, end)`` into spans with the resolution CloudWatch still has for them.

    Each span starts on its own resolution's grid; a boundary between a coarse (older) and a
    finer span is rounded up to the coarse grid, so every coarse bucket is whole.
    """
    tiers = [  # (newest edge of the tier, resolution), oldest first
        (now - timedelta(days=63), max(period, 3600)),
        (now - timedelta(days=15), max(period, 300)),
        (now - timedelta(hours=3), max(period, 60)),
        (None, period),
    ]
    spans: list[tuple[datetime, datetime, int]] = []
    lo = start
    for edge, res in tiers:
        hi = end if edge is None else min(end, ceil(edge, res))
        if hi <= lo:
            continue  # start is newer than this tier
        if not spans:
            lo = floor(lo, res)
        spans.append((lo, hi, res))
        lo = hi
        if lo >= end:
            break
    return spans


class BedrockSource(GuardedSource):
    name = NAME

    def __init__(
        self, session: AwsSession, cfg: BedrockSourceConfig, region: str, context: ProviderContext
    ) -> None:
        self.session = session
        self.cfg = cfg
        self.regions = cfg.regions or [region]
        self.context = context
        self.rates = bedrock_models.RateCache(context.prices, cfg.model_map)
        self._first: datetime | None = None  # earliest start read in this process
        self._until: datetime | None = None  # end of the last read
        self._known: set[tuple[str, str, str]] = set()  # (region, model, metric)

    async def _cloudwatch(self, op: str, region: str, **params: Any) -> list[dict[str, Any]]:
        """Every page of one CloudWatch call in ``region`` (Bedrock metrics are regional)."""
        return await self.session.pages("cloudwatch", op, region=region, **params)

    def target(self, region: str, model: str) -> str:
        return model if len(self.regions) == 1 else f"{region}/{model}"

    async def discover(self, region: str) -> set[tuple[str, str]]:
        pairs = {(m, metric) for m in self.cfg.models for metric in METRICS}
        for metric in ("InputTokenCount", "OutputTokenCount", *list(METRICS)[2:]):
            pages = await self._cloudwatch(
                "list_metrics", region, Namespace=NAMESPACE, MetricName=metric
            )
            for page in pages:
                items = page.get("Metrics") if isinstance(page, dict) else None
                if not isinstance(items, list):
                    raise MalformedResponse("ListMetrics: Metrics is not a list")
                for item in items:
                    dims = item.get("Dimensions") if isinstance(item, dict) else None
                    if (
                        isinstance(dims, list)
                        and len(dims) == 1
                        and isinstance(dims[0], dict)
                        and dims[0].get("Name") == "ModelId"
                        and isinstance(dims[0].get("Value"), str)
                    ):
                        pairs.add((dims[0]["Value"], metric))
        return pairs

    async def _poll(self, now: datetime, since: datetime) -> PollResult:
        p = self.cfg.period
        first_run = self._first is None or since < self._first
        full_start = since if first_run or self._first is None else self._first
        incr_start = (
            full_start
            if first_run or self._until is None
            else max(since, self._until - self.cfg.settle)
        )
        obs: list[SpendObservation] = []
        read_from = floor(incr_start, p)
        seen: set[tuple[str, str, str]] = set()
        for region in self.regions:
            pairs = await self.discover(region)
            fresh = [x for x in pairs if (region, *x) not in self._known]
            known = [x for x in pairs if (region, *x) in self._known]
            groups = [(sorted(known), incr_start), (sorted(fresh), full_start)]
            tokens: dict[tuple[str, datetime, int], dict[str, Any]] = defaultdict(dict)
            for group, start in groups:
                if not group:
                    continue
                for lo, hi, res in read_plan(start, now, now, p):
                    read_from = min(read_from, lo)
                    await self._read(region, group, lo, hi, res, tokens)
            obs += self._observations(region, tokens, now)
            seen.update((region, *x) for x in pairs)
        # Only after every region was read: a failed poll must re-read new models in full.
        self._known |= seen
        if self._first is None or full_start < self._first:
            self._first = full_start
        self._until = now
        cov = (Coverage(self.name, read_from, now),) if read_from < now else ()
        return PollResult(self.name, tuple(obs), coverage=cov, data_as_of=now)

    async def _read(
        self,
        region: str,
        pairs: list[tuple[str, str]],
        start: datetime,
        end: datetime,
        res: int,
        tokens: dict[tuple[str, datetime, int], dict[str, Any]],
    ) -> None:
        for i in range(0, len(pairs), MAX_QUERIES):
            chunk = pairs[i : i + MAX_QUERIES]
            ids = {f"q{j}": pair for j, pair in enumerate(chunk)}
            queries = [
                {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": [{"Name": "ModelId", "Value": model}],
                        },
                        "Period": res,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
                for qid, (model, metric) in ids.items()
            ]
            pages = await self._cloudwatch(
                "get_metric_data",
                region,
                MetricDataQueries=queries,
                StartTime=start,
                EndTime=end,
                ScanBy="TimestampAscending",
            )
            for page in pages:
                self._collect(page, ids, res, tokens)

    @staticmethod
    def _collect(
        page: Any,
        ids: dict[str, tuple[str, str]],
        res: int,
        tokens: dict[tuple[str, datetime, int], dict[str, Any]],
    ) -> None:
        results = page.get("MetricDataResults") if isinstance(page, dict) else None
        if not isinstance(results, list):
            raise MalformedResponse("GetMetricData: MetricDataResults is not a list")
        for r in results:
            if not isinstance(r, dict) or r.get("Id") not in ids:
                raise MalformedResponse("GetMetricData: a result has an unknown Id")
            status = r.get("StatusCode")
            if status not in ("Complete", "PartialData"):
                raise SourceError(f"GetMetricData: status {status} for a Bedrock metric")
            model, metric = ids[r["Id"]]
            ts, vals = r.get("Timestamps"), r.get("Values")
            if not isinstance(ts, list) or not isinstance(vals, list) or len(ts) != len(vals):
                raise MalformedResponse("GetMetricData: Timestamps and Values do not pair up")
            for t, v in zip(ts, vals, strict=True):
                if (
                    not isinstance(t, datetime)
                    or isinstance(v, bool)
                    or not isinstance(v, int | float)
                    or not math.isfinite(v)
                    or v < 0
                ):
                    raise MalformedResponse(f"GetMetricData: bad datapoint for {metric}")
                key = (model, t.astimezone(UTC), res)
                field = METRICS[metric]
                tokens[key][field] = tokens[key].get(field, 0) + round(v)

    def _observations(
        self, region: str, tokens: dict[tuple[str, datetime, int], dict[str, Any]], now: datetime
    ) -> list[SpendObservation]:
        p = self.cfg.period
        out: list[SpendObservation] = []
        for (model, ts, res), counts in sorted(tokens.items()):
            usage = TokenUsage(**counts)
            if usage.empty:
                continue
            rates = self.rates.get(model, ts)
            complete = rates is not None
            amount = rates.cost(usage) if rates is not None else Decimal(0)
            note = (
                ""
                if rates is not None
                else (
                    f"no price for Bedrock model {model}: set prices.aws.{model} or "
                    "bedrock.model_map; its spend is not counted"
                )
            )
            if rates is not None and rates.priced_as != model:
                note = f"priced as {rates.priced_as}"
            parts = res // p
            if parts > 1:
                note = (note + "; " if note else "") + f"spread evenly from {res}s CloudWatch data"
            share = (amount / parts).quantize(Decimal("1e-12"))
            dims = {"model": model, "region": region}
            for k in range(parts):
                start = ts + timedelta(seconds=k * p)
                if start >= now:
                    break
                part = amount if parts == 1 else share if k < parts - 1 else amount - share * k
                out.append(
                    SpendObservation(
                        self.name,
                        self.target(region, model),
                        ObservationKind.BUCKET,
                        Money(part, "USD"),
                        now,
                        start,
                        start + timedelta(seconds=p),
                        dims,
                        complete=complete,
                        note=note,
                    )
                )
        return out
