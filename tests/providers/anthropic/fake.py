"""A stand-in for the Anthropic Admin API, shaped after the documented examples.

Shapes: "Get Messages Usage Report" and "Get Cost Report" (platform.claude.com/docs/en/api/admin/
usage_report/retrieve_messages, .../cost_report/retrieve; the example response of the usage
report, with ``apikey_01Rj2N8SVvo6BePZj99NhmiT`` / ``wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ`` /
``page_MjAyNS0wNS0xNFQwMDowMDowMFo=``), and anthropic-sdk-python
``src/anthropic/types/beta/organization/beta_api_key.py`` / ``beta_workspace.py`` for keys and
workspaces. One assumption is ours [U]: without ``ending_at`` the usage report runs through the
bucket in progress.

The same handler serves ``httpx.MockTransport`` (unit tests) and ``killswitch.testing.StandIn``
(end-to-end tests).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DOC_KEY = "apikey_01Rj2N8SVvo6BePZj99NhmiT"
DOC_WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
DOC_PAGE = "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
SONNET = "claude-sonnet-4-20250514"


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def floor(t: datetime, width: timedelta) -> datetime:
    s = (t - EPOCH).total_seconds()
    return EPOCH + timedelta(seconds=s - s % width.total_seconds())


def usage_result(
    key: str | None = DOC_KEY,
    workspace: str | None = DOC_WORKSPACE,
    model: str | None = SONNET,
    *,
    uncached: int = 0,
    cache_read: int = 0,
    cache_5m: int = 0,
    cache_1h: int = 0,
    output: int = 0,
    searches: int = 0,
    service_tier: str | None = "standard",
    context_window: str | None = "0-200k",
) -> dict[str, Any]:
    """One result object exactly as in the documented usage report example."""
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {
            "ephemeral_1h_input_tokens": cache_1h,
            "ephemeral_5m_input_tokens": cache_5m,
        },
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": searches},
        "api_key_id": key,
        "workspace_id": workspace,
        "model": model,
        "service_tier": service_tier,
        "context_window": context_window,
    }


def cost_result(
    amount_cents: str,
    workspace: str | None = DOC_WORKSPACE,
    description: str = "Claude Sonnet 4 Usage - Input Tokens",
    cost_type: str = "tokens",
    token_type: str | None = "uncached_input_tokens",  # noqa: S107 - a cost line, not a secret
    model: str | None = SONNET,
) -> dict[str, Any]:
    """One cost result with the fields the Cost Report reference lists."""
    return {
        "currency": "USD",
        "amount": amount_cents,
        "workspace_id": workspace,
        "description": description,
        "cost_type": cost_type,
        "context_window": "0-200k" if cost_type == "tokens" else None,
        "model": model,
        "service_tier": "standard" if cost_type == "tokens" else None,
        "token_type": token_type,
    }


def api_key(key_id: str, status: str = "active", workspace: str = DOC_WORKSPACE) -> dict[str, Any]:
    return {
        "id": key_id,
        "type": "api_key",
        "name": f"key {key_id[-4:]}",
        "status": status,
        "created_at": "2026-01-10T09:00:00Z",
        "created_by": {"id": "user_01WCz1FkmYMm4gnmykNKUu3Q", "type": "user"},
        "expires_at": None,
        "partial_key_hint": "sk-ant-api03-R2D...igAA",
        "principal": None,
        "scope": {"type": "workspace", "workspace_id": workspace},
        "workspace_id": workspace,
    }


def workspace_obj(ws_id: str, archived_at: str | None = None) -> dict[str, Any]:
    return {
        "id": ws_id,
        "type": "workspace",
        "name": "Workspace Name",
        "created_at": "2024-10-30T23:58:27.427722Z",
        "archived_at": archived_at,
        "display_color": "#6C5BB9",
    }


Reply = tuple[int, Any]


@dataclass
class FakeAnthropic:
    clock: Callable[[], datetime]
    admin_key: str = "sk-ant-admin01-test-key-value"
    page_size: int = 1440  # buckets per page at most (the request's limit also applies)
    usage: dict[datetime, list[dict[str, Any]]] = field(default_factory=dict)
    costs: dict[datetime, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)
    override: dict[str, Callable[[], Reply]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    times: list[float] = field(default_factory=list)  # monotonic arrival time of each request

    # ---- world edits -------------------------------------------------------------------
    def add_usage(self, at: datetime, result: dict[str, Any]) -> None:
        """Add to the bucket of ``at``; a result with the same group is summed into, as the
        report has one row per group and bucket."""
        dims = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
        with self.lock:
            rows = self.usage.setdefault(floor(at, MIN), [])
            for r in rows:
                if all(r[d] == result[d] for d in dims):
                    for f in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens"):
                        r[f] += result[f]
                    for outer, inner in (
                        ("cache_creation", "ephemeral_1h_input_tokens"),
                        ("cache_creation", "ephemeral_5m_input_tokens"),
                        ("server_tool_use", "web_search_requests"),
                    ):
                        r[outer][inner] += result[outer][inner]
                    return
            rows.append(result)

    def add_cost(self, day: datetime, result: dict[str, Any]) -> None:
        with self.lock:
            self.costs.setdefault(floor(day, DAY), []).append(result)

    def queries(
        self, path: str = "/v1/organizations/usage_report/messages"
    ) -> list[dict[str, list[str]]]:
        return [q for m, p, q in self.requests if m == "GET" and p == path]

    # ---- HTTP --------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        with self.lock:
            self.requests.append((method, path, query))
            self.times.append(time.monotonic())
            if path in self.override:
                return self.override[path]()
            if method == "GET" and path == "/v1/organizations/usage_report/messages":
                return self._report(query, self.usage, MIN)
            if method == "GET" and path == "/v1/organizations/cost_report":
                return self._report(query, self.costs, DAY)
            parts = path.strip("/").split("/")
            if parts[:3] == ["v1", "organizations", "api_keys"]:
                return self._key(method, parts[3:], body)
            if parts[:3] == ["v1", "organizations", "workspaces"]:
                return self._workspace(method, parts[3:])
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": path}}

    def _report(
        self, q: dict[str, list[str]], data: dict[datetime, list[dict[str, Any]]], w: timedelta
    ) -> Reply:
        width = {"1m": MIN, "1h": timedelta(hours=1), "1d": DAY}[q.get("bucket_width", ["1d"])[0]]
        assert width == w
        start = floor(datetime.fromisoformat(q["starting_at"][0]), w)
        if "page" in q:
            start = datetime.fromisoformat(q["page"][0].removeprefix("page_"))
        limit = min(int(q.get("limit", ["7"])[0]), self.page_size)
        end = floor(self.clock(), w) + w  # through the bucket in progress [U]
        buckets = []
        t = start
        while t < end and len(buckets) < limit:
            buckets.append(
                {"starting_at": iso(t), "ending_at": iso(t + w), "results": list(data.get(t, []))}
            )
            t += w
        more = t < end
        return 200, {
            "data": buckets,
            "has_more": more,
            "next_page": f"page_{iso(t)}" if more else None,
        }

    def _key(self, method: str, rest: list[str], body: Any) -> Reply:
        if not rest:
            return 200, {
                "data": list(self.keys.values())[:1],
                "has_more": False,
                "first_id": None,
                "last_id": None,
            }
        k = self.keys.get(rest[0])
        if k is None:
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": "no key"}}
        if method == "POST":
            self.posts.append((rest[0], body))
            if k["status"] in ("archived", "expired") and body.get("status") != k["status"]:
                return 400, {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "archived"},
                }
            k.update({f: v for f, v in body.items() if f in ("name", "status") and v is not None})
        return 200, k

    def _workspace(self, method: str, rest: list[str]) -> Reply:
        if not rest:
            return 200, {
                "data": list(self.workspaces.values())[:1],
                "has_more": False,
                "first_id": None,
                "last_id": None,
            }
        ws = self.workspaces.get(rest[0])
        if ws is None:
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": "no ws"}}
        if method == "POST" and rest[1:] == ["archive"]:
            self.posts.append((rest[0], "archive"))
            ws["archived_at"] = iso(self.clock())
        return 200, ws

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.headers.get("x-api-key") != self.admin_key:
                return httpx.Response(
                    401,
                    json={
                        "type": "error",
                        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                    },
                )
            assert request.headers.get("anthropic-version") == "2023-06-01"
            q: dict[str, list[str]] = {}
            for k, v in request.url.params.multi_items():
                q.setdefault(k, []).append(v)
            body = json.loads(request.content) if request.content else None
            status, out = self.handle(request.method, request.url.path, q, body)
            if isinstance(out, bytes):
                return httpx.Response(status, content=out)
            return httpx.Response(status, json=out)

        return httpx.MockTransport(handler)


def cents(usd: Decimal) -> str:
    return str(usd * 100)
