"""OpenRouter keys shaped like the spec's own example, and a spec-checking mock transport."""

from __future__ import annotations

import copy
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any

import httpx

from killswitch.testing import Request, StandIn
from tests.contract.openapi import ContractError, Spec


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
        self.template = next(iter(self.keys.values()), None) or spec_key(spec)
        self.secrets: dict[str, str] = {}  # hash -> the key's secret, as POST /keys answered it
        self.lock = threading.Lock()
        self.violations: list[str] = []  # contract errors met while serving over loopback

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        query = {k: request.url.params.get_list(k) for k in request.url.params}
        body = json.loads(request.content) if request.content else None
        self.spec.check_request(request.method, path, query, body)
        if self.override and (resp := self.override(request)) is not None:
            return resp
        rel = path.removeprefix("/api/v1")
        with self.lock:
            status, out = self._route(request.method, rel, request, body)
        self.spec.check_response(request.method, path, status, out)
        return httpx.Response(status, json=out)

    def _route(self, method: str, rel: str, request: httpx.Request, body: Any) -> tuple[int, Any]:
        if method == "POST" and rel == "/keys":
            return self._create(body)
        if method == "DELETE" and rel.startswith("/keys/"):
            if self.keys.pop(rel.split("/")[2], None) is None:
                return 404, {"error": {"code": 404, "message": "Not Found"}}
            return 200, {"deleted": True}
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
        return status, out

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        """``POST /keys``: a new key with the asked limit; the secret only in this answer."""
        h = secrets.token_hex(32)
        key = make_key(self.template, 0, hash=h, name=body["name"], label=body["name"])
        key.update(usage=0.0, usage_daily=0.0, usage_weekly=0.0, usage_monthly=0.0)
        key.update(
            limit=body.get("limit"),
            limit_remaining=body.get("limit"),
            limit_reset=body.get("limit_reset"),
            expires_at=body.get("expires_at"),
        )
        self.keys[h] = key
        self.secrets[h] = f"sk-or-v1-{secrets.token_hex(32)}"
        return 201, {"data": key, "key": self.secrets[h]}


def loopback(server: SpecServer) -> StandIn:
    """Serve a SpecServer over loopback HTTP, for the CLI and the daemon in subprocesses."""
    stand = StandIn()

    def route(r: Request) -> tuple[int, Any]:
        query = "&".join(f"{k}={v}" for k, vs in r.query.items() for v in vs)
        url = f"http://127.0.0.1{r.path}" + (f"?{query}" if query else "")
        try:
            resp = server(httpx.Request(r.method, url, headers=r.headers, content=r.body))
        except ContractError as exc:  # a server thread cannot fail the test: record it
            server.violations.append(str(exc))
            return 500, {"error": {"code": 500, "message": "contract violation"}}
        return resp.status_code, resp.json()

    for method in ("GET", "POST", "PATCH", "DELETE"):
        stand.route(method, r"/api/v1/.*")(route)
    return stand
