"""An in-memory OpenAI Admin API, shaped by the official spec, for unit and end-to-end tests.

Usage is stored as raw events (time, dims, counts) and aggregated per request, the way the real
endpoints answer: buckets of ``bucket_width`` from ``start_time`` to ``end_time`` (or the
present), empty buckets included, results grouped by ``group_by`` (ungrouped dims are null),
``limit`` buckets per page with an opaque ``next_page`` cursor. Every exchange is recorded so a
test can check it against the spec (``contract.py``) and count what the client sent.

``handle()`` is transport-neutral: ``transport()`` serves it through ``httpx.MockTransport`` and
the end-to-end test serves it from a loopback HTTP server.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

ADMIN_KEY = "sk-admin-unit-test-key-value"
MIN, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
WIDTHS = {"1m": MIN, "1h": HOUR, "1d": DAY}
DEFAULT_LIMITS = {"1m": 60, "1h": 24, "1d": 7}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

RESULT = {
    "completions": "organization.usage.completions.result",
    "embeddings": "organization.usage.embeddings.result",
    "audio_speeches": "organization.usage.audio_speeches.result",
    "audio_transcriptions": "organization.usage.audio_transcriptions.result",
    "images": "organization.usage.images.result",
}
DIMS = {
    "completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "audio_speeches": ("project_id", "user_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "user_id", "api_key_id", "model"),
    "images": ("project_id", "user_id", "api_key_id", "model", "source", "size"),
}
COUNTS = {
    "completions": (
        "input_tokens",
        "output_tokens",
        "input_cached_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
        "num_model_requests",
    ),
    "embeddings": ("input_tokens", "num_model_requests"),
    "audio_speeches": ("characters", "num_model_requests"),
    "audio_transcriptions": ("seconds", "num_model_requests"),
    "images": ("images", "num_model_requests"),
}
COST_DIMS = ("project_id", "line_item", "api_key_id")


def floor(t: datetime, width: timedelta) -> datetime:
    s = (t - EPOCH).total_seconds()
    return EPOCH + timedelta(seconds=s - s % width.total_seconds())


def error(status: int, message: str, code: str | None = None) -> tuple[int, Any]:
    return status, {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    }


@dataclass
class Exchange:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    response: Any
    spec_valid: bool = True  # False: deliberately malformed (a fault), not checked for shape
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """Answer the next ``times`` requests matching (method, path regex) with this instead."""

    method: str
    pattern: str
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    spec_valid: bool = False


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class BadRequest(Exception):
    pass


class FakeOpenAI:
    def __init__(
        self,
        clock: Callable[[], datetime],
        admin_key: str = ADMIN_KEY,
        page_cap: int | None = None,
    ) -> None:
        self.clock = clock
        self.admin_key = admin_key
        self.page_cap = page_cap  # server-side page size cap: has_more even under `limit`
        self.lock = threading.RLock()
        self.usage: dict[str, list[tuple[datetime, dict[str, Any]]]] = {t: [] for t in RESULT}
        self.costs: list[tuple[datetime, dict[str, Any]]] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}  # key id -> ProjectApiKey (+ "_project")
        self.spend_limits: dict[str, dict[str, Any]] = {}
        self.rate_limits: dict[str, dict[str, dict[str, Any]]] = {}
        # service account id -> account (+ "_project", "_key"); secrets: key id -> api_key.value
        self.service_accounts: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.exchanges: list[Exchange] = []
        self.faults: list[Fault] = []
        self.on_request: Callable[[str, str], None] | None = None  # (method, path) hook

    # ---- world building --------------------------------------------------------------------
    def add_project(self, pid: str, name: str | None = None, archived: bool = False) -> None:
        self.projects[pid] = {
            "id": pid,
            "object": "organization.project",
            "name": name or pid,
            "created_at": 1_700_000_000,
            "archived_at": 1_700_000_100 if archived else None,
            "status": "archived" if archived else "active",
        }
        self.rate_limits.setdefault(pid, {})

    def add_key(self, project: str, kid: str, owner: str = "user") -> None:
        who = (
            {
                "type": "user",
                "user": {
                    "id": "user_1",
                    "name": "Ada",
                    "email": "ada@example.com",
                    "role": "owner",
                    "created_at": 1_700_000_000,
                },
            }
            if owner == "user"
            else {
                "type": "service_account",
                "service_account": {
                    "id": "svc_1",
                    "name": "bot",
                    "role": "member",
                    "created_at": 1_700_000_000,
                },
            }
        )
        self.keys[kid] = {
            "object": "organization.project.api_key",
            "redacted_value": "sk-...abcd",
            "name": kid,
            "created_at": 1_700_000_000,
            "last_used_at": None,
            "id": kid,
            "owner_project_access": "active",
            "owner": who,
            "_project": project,
        }

    def add_rate_limit(self, project: str, rid: str, model: str, **values: int) -> None:
        rl = {
            "object": "project.rate_limit",
            "id": rid,
            "model": model,
            "max_requests_per_1_minute": 500,
            "max_tokens_per_1_minute": 200_000,
        }
        rl.update(values)
        self.rate_limits.setdefault(project, {})[rid] = rl

    def add_usage(self, usage_type: str, at: datetime, **fields: Any) -> None:
        with self.lock:
            self.usage[usage_type].append((at, fields))

    def add_completion(
        self,
        at: datetime,
        project: str | None,
        key: str | None,
        model: str | None,
        *,
        input: int = 0,
        output: int = 0,
        cached: int = 0,
        audio_in: int = 0,
        audio_out: int = 0,
        batch: bool = False,
        tier: str = "default",
        requests: int = 1,
    ) -> None:
        self.add_usage(
            "completions",
            at,
            project_id=project,
            api_key_id=key,
            model=model,
            user_id="user_1",
            batch=batch,
            service_tier=tier,
            input_tokens=input,
            output_tokens=output,
            input_cached_tokens=cached,
            input_audio_tokens=audio_in,
            output_audio_tokens=audio_out,
            num_model_requests=requests,
        )

    def add_cost(self, day: datetime, project: str | None, line_item: str, usd: float) -> None:
        with self.lock:
            self.costs.append(
                (floor(day, DAY), {"project_id": project, "line_item": line_item, "value": usd})
            )

    # ---- transport ---------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            status, body, headers = self.handle(
                request.method, str(request.url), dict(request.headers), request.content
            )
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            return httpx.Response(
                status, content=raw, headers={"content-type": "application/json", **headers}
            )

        return httpx.MockTransport(handler)

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(url)
        path = re.sub(r"^.*?/v1/", "/", parts.path)
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(k, []).append(v)
        if self.on_request is not None:
            self.on_request(method, path)
        spec_valid = True
        with self.lock:
            for f in self.faults:
                if f.method == method and re.fullmatch(f.pattern, path) and f.times > 0:
                    f.times -= 1
                    out: Reply = (f.status, f.body, f.headers)
                    spec_valid = f.spec_valid
                    break
            else:
                try:
                    out = self._route(method, path, query, headers, body)
                except BadRequest as exc:
                    out = error(400, str(exc))
            status, payload = out[0], out[1]
            extra: dict[str, str] = out[2] if len(out) > 2 else {}  # type: ignore[misc]
            self.exchanges.append(Exchange(method, url, headers, body, status, payload, spec_valid))
        return status, payload, extra

    def requests(self, method: str, pattern: str) -> list[Exchange]:
        return [
            e
            for e in self.exchanges
            if e.method == method
            and re.fullmatch(pattern, re.sub(r"^.*?/v1/", "/", urlsplit(e.url).path))
        ]

    # ---- routes ------------------------------------------------------------------------------
    def _route(
        self, method: str, path: str, q: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Reply:
        if headers.get("authorization") != f"Bearer {self.admin_key}":
            return error(401, "Incorrect API key provided", "invalid_api_key")
        if method == "GET" and (m := re.fullmatch(r"/organization/usage/(\w+)", path)):
            if m.group(1) not in RESULT:
                return error(404, "unknown usage type")
            return self._usage(m.group(1), q)
        if method == "GET" and path == "/organization/costs":
            return self._costs(q)
        if method == "GET" and path == "/organization/projects":
            items = [
                p
                for p in self.projects.values()
                if q.get("include_archived") == ["true"] or p["status"] == "active"
            ]
            return self._list(items, q, 20)
        m = re.fullmatch(r"/organization/projects/([^/]+)(/.*)?", path)
        if not m:
            return error(404, f"no route {method} {path}")
        pid, rest = m.group(1), m.group(2) or ""
        project = self.projects.get(pid)
        if project is None:
            return error(404, f"No project found with id '{pid}'")
        if rest == "" and method == "GET":
            return 200, project
        if rest == "/archive" and method == "POST":
            project.update(status="archived", archived_at=int(self.clock().timestamp()))
            return 200, project
        if rest == "/spend_limit":
            return self._spend_limit(method, pid, body)
        if rest == "/rate_limits" and method == "GET":
            return self._list(sorted(self.rate_limits[pid].values(), key=lambda r: r["id"]), q, 100)
        if (m := re.fullmatch(r"/rate_limits/([^/]+)", rest)) and method == "POST":
            rl = self.rate_limits[pid].get(m.group(1))
            if rl is None:
                return error(404, "rate limit not found")
            rl.update(json.loads(body))
            return 200, rl
        if rest.startswith("/service_accounts"):
            return self._service_accounts(method, pid, rest, body)
        if rest == "/api_keys" and method == "GET":
            items = [self._key(k) for k in self.keys.values() if k["_project"] == pid]
            return self._list(items, q, 20)
        if m := re.fullmatch(r"/api_keys/([^/]+)", rest):
            k = self.keys.get(m.group(1))
            if k is None or k["_project"] != pid:
                return error(404, f"No such API key: {m.group(1)}")
            if method == "GET":
                return 200, self._key(k)
            if method == "DELETE":
                if k["owner"]["type"] == "service_account":
                    return error(400, "Cannot delete a service account key")
                del self.keys[m.group(1)]
                return 200, {
                    "object": "organization.project.api_key.deleted",
                    "id": k["id"],
                    "deleted": True,
                }
        return error(404, f"no route {method} {path}")

    def _service_accounts(self, method: str, pid: str, rest: str, body: bytes) -> Reply:
        """Create (with its one key, unredacted in this answer only) and delete accounts."""
        if rest == "/service_accounts" and method == "POST":
            n = len(self.service_accounts) + 1
            sid, kid = f"svc_acct_{n}", f"key_svc{n}"
            name = json.loads(body)["name"]
            self.add_key(pid, kid, owner="service_account")
            self.keys[kid]["owner"]["service_account"].update(id=sid, name=name)
            self.secrets[kid] = f"sk-svcacct-{base64.b32encode(kid.encode()).decode()}-secret"
            acct = {
                "object": "organization.project.service_account",
                "id": sid,
                "name": name,
                "role": "member",
                "created_at": int(self.clock().timestamp()),
            }
            self.service_accounts[sid] = {**acct, "_project": pid, "_key": kid}
            key = {
                "object": "organization.project.service_account.api_key",
                "value": self.secrets[kid],
                "name": "Secret Key",
                "created_at": acct["created_at"],
                "id": kid,
            }
            return 200, {**acct, "api_key": key}
        m = re.fullmatch(r"/service_accounts/([^/]+)", rest)
        acct = self.service_accounts.get(m.group(1)) if m else None
        if m and method == "DELETE":
            if acct is None or acct["_project"] != pid:
                return error(404, f"No such service account: {m.group(1)}")
            del self.service_accounts[m.group(1)]
            self.keys.pop(acct["_key"], None)
            return 200, {
                "object": "organization.project.service_account.deleted",
                "id": m.group(1),
                "deleted": True,
            }
        return error(404, f"no route {method} /organization/projects/{pid}{rest}")

    @staticmethod
    def _key(k: dict[str, Any]) -> dict[str, Any]:
        return {f: v for f, v in k.items() if not f.startswith("_")}

    def _list(self, items: list[dict[str, Any]], q: dict[str, list[str]], default: int) -> Reply:
        limit = int(q.get("limit", [default])[0])
        after = q.get("after", [None])[0]
        if after is not None:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        chunk = items[:limit]
        return 200, {
            "object": "list",
            "data": chunk,
            "first_id": chunk[0]["id"] if chunk else None,
            "last_id": chunk[-1]["id"] if chunk else None,
            "has_more": len(items) > limit,
        }

    def _spend_limit(self, method: str, pid: str, body: bytes) -> Reply:
        if method == "GET":
            lim = self.spend_limits.get(pid)
            return (200, lim) if lim else error(404, "No spend limit is set for this project")
        if method == "POST":
            b = json.loads(body)
            self.spend_limits[pid] = {
                "object": "project.spend_limit",
                "threshold_amount": b["threshold_amount"],
                "currency": b["currency"],
                "interval": b["interval"],
                "enforcement": {"status": "enforcing"},
            }
            return 200, self.spend_limits[pid]
        if method == "DELETE":
            if self.spend_limits.pop(pid, None) is None:
                return error(404, "No spend limit is set for this project")
            return 200, {"object": "project.spend_limit.deleted", "deleted": True}
        return error(405, "method not allowed")

    def _buckets(
        self, q: dict[str, list[str]], width_name: str, default_limit: int
    ) -> tuple[list[datetime], bool, str | None]:
        try:
            start = datetime.fromtimestamp(int(q["start_time"][0]), UTC)
        except (KeyError, ValueError):
            raise BadRequest("start_time is required") from None
        width = WIDTHS[width_name]
        end = datetime.fromtimestamp(int(q["end_time"][0]), UTC) if "end_time" in q else None
        limit = int(q.get("limit", [default_limit])[0])
        if self.page_cap is not None:
            limit = min(limit, self.page_cap)
        cursor = q.get("page", [None])[0]
        first = start
        if cursor is not None:
            first = datetime.fromtimestamp(int(base64.b64decode(cursor[5:]).decode()), UTC)
        now = self.clock()
        starts = []
        t = first
        stop = end if end is not None else now
        while t < stop and len(starts) <= limit:
            starts.append(t)
            t += width
        has_more = len(starts) > limit
        starts = starts[:limit]
        nxt = None
        if has_more:
            nxt = (
                "page_"
                + base64.b64encode(str(int((starts[-1] + width).timestamp())).encode()).decode()
            )
        return starts, has_more, nxt

    def _usage(self, usage_type: str, q: dict[str, list[str]]) -> Reply:
        width_name = q.get("bucket_width", ["1d"])[0]
        if width_name not in WIDTHS:
            return error(400, "invalid bucket_width")
        starts, has_more, nxt = self._buckets(q, width_name, DEFAULT_LIMITS[width_name])
        width = WIDTHS[width_name]
        group_by = q.get("group_by", [])
        for g in group_by:
            if g not in DIMS[usage_type]:
                return error(400, f"invalid group_by {g}")
        index = {s: i for i, s in enumerate(starts)}
        agg: list[dict[tuple[Any, ...], dict[str, Any]]] = [{} for _ in starts]
        for at, rec in self.usage[usage_type]:
            i = index.get(floor(at, width)) if starts and starts[0] <= at else None
            if i is None:
                continue
            k = tuple(rec.get(g) for g in group_by)
            row = agg[i].setdefault(k, dict.fromkeys(COUNTS[usage_type], 0))
            for c in COUNTS[usage_type]:
                row[c] += int(rec.get(c, 0))
        data = []
        for i, s in enumerate(starts):
            results = []
            for k, counts in agg[i].items():
                r = {"object": RESULT[usage_type], **counts}
                for d in DIMS[usage_type]:
                    r[d] = k[group_by.index(d)] if d in group_by else None
                results.append(r)
            data.append(
                {
                    "object": "bucket",
                    "start_time": int(s.timestamp()),
                    "end_time": int((s + width).timestamp()),
                    "results": results,
                }
            )
        return 200, {"object": "page", "data": data, "has_more": has_more, "next_page": nxt}

    def _costs(self, q: dict[str, list[str]]) -> Reply:
        starts, has_more, nxt = self._buckets(q, "1d", 7)
        group_by = q.get("group_by", [])
        projects = set(q.get("project_ids", []))
        data = []
        for s in starts:
            agg: dict[tuple[Any, ...], float] = {}
            for day, rec in self.costs:
                if day != s or (projects and rec["project_id"] not in projects):
                    continue
                k = tuple(rec.get(g) for g in group_by)
                agg[k] = agg.get(k, 0.0) + rec["value"]
            results = []
            for k, value in agg.items():
                r: dict[str, Any] = {
                    "object": "organization.costs.result",
                    "amount": {"value": value, "currency": "usd"},
                    "quantity": None,
                    "quantity_unit": None,
                }
                for d in COST_DIMS:
                    r[d] = k[group_by.index(d)] if d in group_by else None
                results.append(r)
            data.append(
                {
                    "object": "bucket",
                    "start_time": int(s.timestamp()),
                    "end_time": int((s + DAY).timestamp()),
                    "results": results,
                }
            )
        return 200, {"object": "page", "data": data, "has_more": has_more, "next_page": nxt}
