"""The Prometheus HTTP API's instant query, read strictly.

Only an instant vector of finite, non-negative numbers is spend. Everything else a server can
answer (``status: error``, a scalar, a range matrix, NaN from a division by zero, +Inf) is an
error that marks the source stale: a query that went wrong must never read as "nothing spent".
An empty vector is fine: it means no series matched, which the budget shows as no data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from killswitch.errors import MalformedResponse, SourceError
from killswitch.http import ProviderHTTP

QUERY_PATH = "/api/v1/query"
MAX_DETAIL = 200


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: str  # as Prometheus wrote it: "12.5", "NaN", "+Inf"


@dataclass(frozen=True, slots=True)
class Vector:
    samples: tuple[Sample, ...]
    warnings: tuple[str, ...] = ()


class PrometheusAPI:
    """``GET /api/v1/query`` evaluated at a given instant (the engine's clock, not the server's)."""

    def __init__(self, http: ProviderHTTP, timeout_s: float) -> None:
        self.http = http
        self.timeout_s = timeout_s

    async def instant(self, promql: str, at: datetime) -> Vector:
        params = {
            "query": promql,
            "time": f"{at.timestamp():.3f}",
            "timeout": f"{max(1, int(self.timeout_s))}s",
        }
        body = await self.http.json("GET", QUERY_PATH, params=params)
        return parse_vector(body)


def parse_vector(body: Any) -> Vector:
    """Validate an instant-query response; raise SourceError saying what is wrong."""
    if not isinstance(body, dict):
        raise MalformedResponse("response is not a JSON object")
    status = body.get("status")
    if status == "error":
        kind = str(body.get("errorType") or "error")
        raise SourceError(f"Prometheus answered {kind}: {str(body.get('error', ''))[:MAX_DETAIL]}")
    if status != "success":
        raise MalformedResponse(f"response status is {status!r}, expected 'success'")
    data = body.get("data")
    if not isinstance(data, dict):
        raise MalformedResponse("response has no data object")
    rtype = data.get("resultType")
    if rtype != "vector":
        raise MalformedResponse(
            f"result type is {rtype!r}, expected an instant vector: a range selector needs "
            "increase(...) or sum_over_time(...), a scalar needs vector(...)"
        )
    result = data.get("result")
    if not isinstance(result, list):
        raise MalformedResponse("data.result is not a list")
    warnings = body.get("warnings") or []
    if not isinstance(warnings, list):
        raise MalformedResponse("warnings is not a list")
    return Vector(
        tuple(_sample(item, i) for i, item in enumerate(result)),
        tuple(str(w)[:MAX_DETAIL] for w in warnings),
    )


def _sample(item: Any, index: int) -> Sample:
    where = f"data.result[{index}]"
    if not isinstance(item, dict):
        raise MalformedResponse(f"{where} is not an object")
    metric = item.get("metric")
    if not isinstance(metric, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metric.items()
    ):
        raise MalformedResponse(f"{where}.metric is not a label map")
    value = item.get("value")
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)):
        raise MalformedResponse(f'{where}.value is not [time, "number"]')
    return Sample(dict(metric), value[1])


def describe(labels: Mapping[str, str]) -> str:
    """A series as PromQL writes it, for error messages: ``{team="a",key="b"}``."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"
