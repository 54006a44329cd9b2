"""A stand-in for the xAI Management API.

Shapes: docs.x.ai "Management API > Billing" (invoice preview: ``coreInvoice``,
``effectiveSpendingLimit`` and ``defaultCredits`` as strings of USD cents, ``billingCycle``) and
"> Accounts and Authorization" (ApiKey: apiKeyId, redactedApiKey, name, userId, teamId,
createTime, modifyTime, disabled, expireTime, qps, qpm, tpm as a string, aclStrings). The inner
``coreInvoice`` fields and ``billingCycle {year, month}`` follow a recorded response published
by a third-party client; the ``{"apiKeys": [...]}`` list envelope and the
``{"apiKey", "fieldMask"}`` update body are our unverified reading (see
``killswitch/providers/xai/shapes.py``). The same handler serves MockTransport and StandIn.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

TEAM = "8f2b6c1e-team-0001"


def key(i: int, **over: Any) -> dict[str, Any]:
    return {
        "redactedApiKey": f"xai-...{i:04d}",
        "userId": "user-0001",
        "name": f"service-{i}",
        "createTime": "2026-10-01T09:00:00Z",
        "modifyTime": "2026-10-01T09:00:00Z",
        "teamId": TEAM,
        "apiKeyId": f"key-{i:04d}",
        "disabled": False,
        "expireTime": None,
        "qps": 5,
        "qpm": 100,
        "tpm": None,
        "aclStrings": ["api-key:model:*", "api-key:endpoint:*"],
        **over,
    }


def preview(spend_cents: int, year: int = 2026, month: int = 11) -> dict[str, Any]:
    """An invoice preview shaped like the recorded response, with usage in amountBeforeVat."""
    c = str(spend_cents)
    return {
        "coreInvoice": {
            "lines": [{"description": "grok-4 tokens", "amount": c}] if spend_cents else [],
            "amountBeforeVat": c,
            "amountAfterVat": c,
            "vatCost": "0",
            "amountBeforeVatLimited": {"val": c},
            "amountBeforeVatUnlimited": {"val": "0"},
            "amountBeforeVatLimitedAndUnlimited": {"val": c},
            "autoCreditsIssued": "0",
            "defaultCreditsIssued": "0",
            "totalWithCorr": {"val": c},
            "prepaidCredits": {"val": "0"},
            "prepaidCreditsUsed": {"val": "0"},
        },
        "effectiveSpendingLimit": "100000",
        "defaultCredits": "0",
        "billingCycle": {"year": year, "month": month},
    }


@dataclass
class FakeXai:
    token: str = "xai-mgmt-test-token-value"
    spend_cents: int = 0
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_size: int = 1000
    ignore_updates: bool = False
    puts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    override: dict[str, Any] = field(default_factory=dict)
    year_month: tuple[int, int] = (2026, 11)
    lock: threading.RLock = field(default_factory=threading.RLock)
    times: list[float] = field(default_factory=list)  # monotonic arrival time of each request

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path))
            self.times.append(time.monotonic())
            if path in self.override:
                return 200, self.override[path]
            if method == "GET" and path == f"/v1/billing/teams/{TEAM}/postpaid/invoice/preview":
                return 200, preview(self.spend_cents, *self.year_month)
            if method == "GET" and path == f"/auth/teams/{TEAM}/api-keys":
                items = list(self.keys.values())
                start = int(query.get("pageToken", ["0"])[0])
                page = items[start : start + self.page_size]
                out: dict[str, Any] = {"apiKeys": [dict(k) for k in page]}
                if start + self.page_size < len(items):
                    out["nextPageToken"] = str(start + self.page_size)
                return 200, out
            if method == "PUT" and path.startswith("/auth/api-keys/"):
                kid = path.rsplit("/", 1)[1]
                if kid not in self.keys:
                    return 404, {"code": 5, "message": "api key not found"}
                self.puts.append((kid, body))
                if not self.ignore_updates:
                    for f in body["fieldMask"].split(","):
                        self.keys[kid][f] = body["apiKey"][f]
                return 200, self.keys[kid]
            if method == "GET" and path == "/auth/management-keys/validation":
                return 200, {"teamId": TEAM}
            return 404, {"code": 5, "message": "not found"}

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return httpx.Response(401, json={"code": 16, "message": "unauthenticated"})
            q: dict[str, list[str]] = {}
            for k, v in request.url.params.multi_items():
                q.setdefault(k, []).append(v)
            body = json.loads(request.content) if request.content else None
            status, out = self.handle(request.method, request.url.path, q, body)
            if isinstance(out, bytes):
                return httpx.Response(status, content=out)
            return httpx.Response(status, json=out)

        return httpx.MockTransport(handler)


def usd(cents: int) -> Decimal:
    return Decimal(cents) / 100
