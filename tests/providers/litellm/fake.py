"""A stand-in for the LiteLLM proxy's management API: the endpoints killswitch uses, answering
the shapes of the proxy's own OpenAPI document (litellm 1.108) and its endpoint code.

It keeps keys, teams, users and end users with their ``spend`` counters and the daily spend
rows (UTC date x key x model) the proxy's ``LiteLLM_DailyUserSpend`` table holds. Spending
through it (``spend``) moves both, like a request through the proxy. ``/user/daily/activity``
pages over rows and aggregates each page on its own, as the proxy does. Every exchange is
recorded so tests can check it against the contract.

Usable in-process (``transport()``, an httpx MockTransport) and on loopback (``serve()``).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from killswitch.testing import Request, StandIn

MASTER = "sk-litellm-master-test-value"


@dataclass
class Exchange:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    response: Any


@dataclass
class Row:
    day: date
    key: str
    model: str | None
    user: str | None
    spend: float


def key_row(token: str, **kw: Any) -> dict[str, Any]:
    row = {
        "token": token,
        "key_name": f"sk-...{token[-4:]}",
        "key_alias": None,
        "spend": 0.0,
        "max_budget": None,
        "expires": None,
        "models": [],
        "aliases": {},
        "config": {},
        "user_id": None,
        "team_id": None,
        "permissions": {},
        "max_parallel_requests": None,
        "metadata": {},
        "blocked": None,
        "tpm_limit": None,
        "rpm_limit": None,
        "budget_duration": None,
        "budget_reset_at": None,
        "allowed_cache_controls": [],
        "model_spend": {},
        "model_max_budget": {},
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": "2026-11-01T00:00:00Z",
    }
    row.update(kw)
    return row


def _error(status: int, message: str, kind: str, param: str = "None") -> tuple[int, Any]:
    # ProxyException's body, as the proxy's exception handler renders it
    return status, {
        "error": {"message": message, "type": kind, "param": param, "code": str(status)}
    }


@dataclass
class FakeLiteLLM:
    master_key: str = MASTER
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    # path -> (status, body) answered instead of the real thing (outages, malformed answers)
    inject: dict[str, tuple[int, Any]] = field(default_factory=dict)
    writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- state ----------------------------------------------------------------------------
    def add_key(self, token: str, **kw: Any) -> dict[str, Any]:
        self.keys[token] = key_row(token, **kw)
        return self.keys[token]

    def add_team(self, team_id: str, **kw: Any) -> dict[str, Any]:
        team = {
            "team_id": team_id,
            "team_alias": None,
            "organization_id": None,
            "admins": [],
            "members": [],
            "members_with_roles": [],
            "metadata": {},
            "max_budget": None,
            "spend": 0.0,
            "models": [],
            "blocked": False,
            "budget_duration": None,
            "budget_reset_at": None,
            "keys_count": 0,
            "members_count": 0,
        }
        team.update(kw)
        self.teams[team_id] = team
        return team

    def add_user(self, user_id: str, **kw: Any) -> dict[str, Any]:
        user = {
            "user_id": user_id,
            "user_email": f"{user_id}@example.com",
            "user_role": "internal_user",
            "teams": [],
            "max_budget": None,
            "spend": 0.0,
            "models": [],
            "budget_duration": None,
            "key_count": 0,
        }
        user.update(kw)
        self.users[user_id] = user
        return user

    def add_customer(self, user_id: str, **kw: Any) -> dict[str, Any]:
        c = {"user_id": user_id, "blocked": False, "alias": None, "spend": 0.0, "models": []}
        c.update(kw)
        self.customers[user_id] = c
        return c

    def spend(self, key: str, model: str | None, amount: float, day: date) -> None:
        """One request through the proxy: counters and the daily table both move."""
        with self.lock:
            k = self.keys[key]
            k["spend"] += amount
            for table, ident in ((self.teams, k["team_id"]), (self.users, k["user_id"])):
                if ident in table:
                    table[ident]["spend"] = (table[ident]["spend"] or 0.0) + amount
            self.rows.append(Row(day, key, model, k["user_id"], amount))

    # ---- HTTP -----------------------------------------------------------------------------
    def handle(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(url)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            status, resp = self._route(method, parts.path, q, headers, body)
        self.exchanges.append(Exchange(method, url, dict(headers), body, status, resp))
        return status, resp

    def _route(
        self, method: str, path: str, q: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        auth = headers.get("x-litellm-api-key") or headers.get("authorization") or ""
        if auth.removeprefix("Bearer ") != self.master_key:
            return _error(401, "Authentication Error, Invalid proxy server token", "auth_error")
        if path in self.inject:
            return self.inject[path]
        data = json.loads(body) if body else {}
        route = {
            ("GET", "/key/list"): self._key_list,
            ("GET", "/key/info"): self._key_info,
            ("POST", "/key/block"): self._key_block,
            ("POST", "/key/unblock"): self._key_unblock,
            ("POST", "/key/update"): self._key_update,
            ("GET", "/v2/team/list"): self._team_list,
            ("GET", "/team/info"): self._team_info,
            ("POST", "/team/block"): self._team_block,
            ("POST", "/team/unblock"): self._team_unblock,
            ("GET", "/user/list"): self._user_list,
            ("GET", "/customer/list"): self._customer_list,
            ("GET", "/customer/info"): self._customer_info,
            ("POST", "/customer/block"): self._customer_block,
            ("POST", "/customer/update"): self._customer_update,
            ("GET", "/user/daily/activity"): self._daily,
        }.get((method, path))
        if route is None:
            return 404, {"detail": "Not Found"}
        return route(q, data)

    @staticmethod
    def _paged(items: list[Any], page: int, size: int) -> tuple[list[Any], int]:
        return items[(page - 1) * size : page * size], -(-len(items) // size)

    def _key_list(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        page, size = int(q.get("page", 1)), int(q.get("size", 50))
        full = q.get("return_full_object") == "true"
        rows, pages = self._paged(list(self.keys.values()), page, size)
        keys = [dict(r) if full else r["token"] for r in rows]
        return 200, {
            "keys": keys,
            "total_count": len(self.keys),
            "current_page": page,
            "total_pages": pages,
        }

    def _key(self, token: Any) -> dict[str, Any] | None:
        return self.keys.get(token) if isinstance(token, str) else None

    def _key_info(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        k = self._key(q.get("key"))
        if k is None:
            return _error(404, "Key not found in database", "not_found_error", "key")
        info = {f: v for f, v in k.items() if f != "token"}
        info["status"] = "revoked" if k["blocked"] else "active"
        return 200, {"key": q["key"], "info": info}

    def _set_key(self, data: Any, path: str, **changes: Any) -> tuple[int, Any]:
        k = self._key(data.get("key"))
        if k is None:
            return _error(404, "Key not found.", "not_found_error", "key")
        k.update(changes)
        self.writes.append((path, dict(data)))
        return 200, dict(k)

    def _key_block(self, _: Any, data: Any) -> tuple[int, Any]:
        return self._set_key(data, "/key/block", blocked=True)

    def _key_unblock(self, _: Any, data: Any) -> tuple[int, Any]:
        return self._set_key(data, "/key/unblock", blocked=False)

    def _key_update(self, _: Any, data: Any) -> tuple[int, Any]:
        changes = {f: v for f, v in data.items() if f != "key"}
        status, row = self._set_key(data, "/key/update", **changes)
        return (status, {"key": data.get("key"), **changes}) if status == 200 else (status, row)

    def _team_list(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        page, size = int(q.get("page", 1)), int(q.get("page_size", 10))
        rows, pages = self._paged(list(self.teams.values()), page, size)
        return 200, {
            "teams": rows,
            "total": len(self.teams),
            "page": page,
            "page_size": size,
            "total_pages": pages,
        }

    def _team_info(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        t = self.teams.get(q.get("team_id", ""))
        if t is None:
            return 404, {
                "detail": {"message": f"Team not found, passed team id: {q.get('team_id')}."}
            }
        keys = [k for k in self.keys.values() if k["team_id"] == t["team_id"]]
        return 200, {
            "team_id": t["team_id"],
            "team_info": dict(t),
            "keys": keys,
            "team_memberships": [],
        }

    def _set_team(self, data: Any, path: str, blocked: bool) -> tuple[int, Any]:
        t = self.teams.get(data.get("team_id", ""))
        if t is None:
            return 404, {
                "detail": {"error": f"Team not found, passed team_id={data.get('team_id')}"}
            }
        t["blocked"] = blocked
        self.writes.append((path, dict(data)))
        return 200, dict(t)

    def _team_block(self, _: Any, data: Any) -> tuple[int, Any]:
        return self._set_team(data, "/team/block", True)

    def _team_unblock(self, _: Any, data: Any) -> tuple[int, Any]:
        return self._set_team(data, "/team/unblock", False)

    def _user_list(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        page, size = int(q.get("page", 1)), int(q.get("page_size", 25))
        rows, pages = self._paged(list(self.users.values()), page, size)
        return 200, {
            "users": rows,
            "total": len(self.users),
            "page": page,
            "page_size": size,
            "total_pages": pages,
        }

    def _customer_list(self, _: Any, __: Any) -> tuple[int, Any]:
        return 200, [dict(c) for c in self.customers.values()]

    def _customer_info(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        c = self.customers.get(q.get("end_user_id", ""))
        if c is None:
            return _error(404, "End User Id does not exist in db", "not_found", "end_user_id")
        return 200, dict(c)

    def _customer_block(self, _: Any, data: Any) -> tuple[int, Any]:
        # The proxy upserts: blocking an unknown id creates it, blocked.
        for ident in data["user_ids"]:
            self.customers.setdefault(ident, {"user_id": ident, "spend": 0.0})["blocked"] = True
        self.writes.append(("/customer/block", dict(data)))
        rows = [
            {"user_id": i, "blocked": True, "spend": self.customers[i]["spend"]}
            for i in data["user_ids"]
        ]
        return 200, {"blocked_users": rows}

    def _customer_update(self, _: Any, data: Any) -> tuple[int, Any]:
        c = self.customers.get(data.get("user_id", ""))
        if c is None:
            return _error(404, "End User Id does not exist in db", "not_found", "user_id")
        c.update({k: v for k, v in data.items() if k != "user_id"})
        self.writes.append(("/customer/update", dict(data)))
        return 200, dict(c)

    def _daily(self, q: dict[str, str], _: Any) -> tuple[int, Any]:
        if "start_date" not in q or "end_date" not in q:
            return 400, {"detail": {"error": "Please provide start_date and end_date"}}
        first, last = date.fromisoformat(q["start_date"]), date.fromisoformat(q["end_date"])
        page, size = int(q.get("page", 1)), int(q.get("page_size", 50))
        rows = sorted(
            (r for r in self.rows if first <= r.day <= last), key=lambda r: (r.day, r.key)
        )
        chunk = rows[(page - 1) * size : page * size]
        return 200, {
            "results": self._aggregate(chunk),
            "metadata": {
                "total_spend": sum(r.spend for r in chunk),
                "page": page,
                "total_pages": -(-len(rows) // size),
                "has_more": page * size < len(rows),
            },
        }

    def _aggregate(self, rows: list[Row]) -> list[dict[str, Any]]:
        by_day: dict[date, list[Row]] = defaultdict(list)
        for r in rows:
            by_day[r.day].append(r)
        out = []
        for day, day_rows in sorted(by_day.items()):
            api_keys: dict[str, Any] = {}
            models: dict[str, Any] = {}
            for r in day_rows:
                meta = self._key_meta(r.key)
                api_keys.setdefault(r.key, {"metrics": {"spend": 0.0}, "metadata": meta})
                api_keys[r.key]["metrics"]["spend"] += r.spend
                if r.model:
                    m = models.setdefault(
                        r.model,
                        {"metrics": {"spend": 0.0}, "metadata": {}, "api_key_breakdown": {}},
                    )
                    m["metrics"]["spend"] += r.spend
                    kb = m["api_key_breakdown"].setdefault(
                        r.key, {"metrics": {"spend": 0.0}, "metadata": meta}
                    )
                    kb["metrics"]["spend"] += r.spend
            out.append(
                {
                    "date": day.isoformat(),
                    "metrics": {"spend": sum(r.spend for r in day_rows)},
                    "breakdown": {
                        "models": models,
                        "model_groups": {},
                        "mcp_servers": {},
                        "providers": {},
                        "endpoints": {},
                        "api_keys": api_keys,
                        "entities": {},
                    },
                }
            )
        return out

    def _key_meta(self, token: str) -> dict[str, Any]:
        k = self.keys.get(token)
        if k is None:
            return {"key_alias": None, "team_id": None, "user_id": None, "key_exists": False}
        return {
            "key_alias": k["key_alias"],
            "team_id": k["team_id"],
            "user_id": k["user_id"],
            "key_exists": True,
        }

    # ---- adapters ---------------------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            status, resp = self.handle(
                request.method, str(request.url), dict(request.headers), request.content
            )
            return httpx.Response(status, json=resp)

        return httpx.MockTransport(handler)

    def serve(self) -> StandIn:
        server = StandIn()

        def any_route(r: Request) -> tuple[int, Any]:
            qs = urlencode([(k, v) for k, vs in r.query.items() for v in vs])
            url = f"{server.url}{r.path}" + (f"?{qs}" if qs else "")
            return self.handle(r.method, url, r.headers, r.body)

        for m in ("GET", "POST"):
            server.route(m, "/(key|team|v2/team|user|customer)/.*")(any_route)
        return server.start()


def today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).date()
