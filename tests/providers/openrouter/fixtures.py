"""OpenRouter keys shaped like the spec's own example, and a spec-checking mock transport."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.contract.openapi import Spec


def spec_key(spec: Spec) -> dict[str, Any]:
    example = spec.doc["paths"]["/keys"]["get"]["responses"]["200"]["content"]["application/json"][
        "example"
    ]["data"][0]
    return dict(example)


def make_key(
    template: dict[str, Any], i: int, usage_daily: float = 0.0, **over: Any
) -> dict[str, Any]:
    k = copy.deepcopy(template)
    k.update(
        hash=f"{i:064x}",
        name=f"key-{i}",
        label=f"key-{i}",
        disabled=False,
        usage=usage_daily + 100.0,
        usage_daily=usage_daily,
        usage_weekly=usage_daily + 10.0,
        usage_monthly=usage_daily + 50.0,
    )
    k.update(over)
    return k


class SpecServer:
    """A mock OpenRouter that checks each request and each response against the spec."""

    def __init__(self, spec: Spec, keys: list[dict[str, Any]]) -> None:
        self.spec = spec
        self.keys = {k["hash"]: k for k in keys}
        self.requests: list[httpx.Request] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        query = {k: request.url.params.get_list(k) for k in request.url.params}
        body = json.loads(request.content) if request.content else None
        self.spec.check_request(request.method, path, query, body)
        if self.override and (resp := self.override(request)) is not None:
            return resp
        rel = path.removeprefix("/api/v1")
        if request.method == "GET" and rel == "/keys":
            offset = int(request.url.params.get("offset", "0"))
            page = list(self.keys.values())[offset : offset + 100]
            status, out = 200, {"data": page}
        elif rel.startswith("/keys/") and (h := rel.split("/")[2]) in self.keys:
            if request.method == "PATCH":
                self.keys[h].update(body or {})
            status, out = 200, {"data": self.keys[h]}
        else:
            status, out = 404, {"error": {"code": 404, "message": "Not Found"}}
        self.spec.check_response(request.method, path, status, out)
        return httpx.Response(status, json=out)
