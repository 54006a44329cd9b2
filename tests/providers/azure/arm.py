"""A small, stateful Azure Resource Manager: the endpoints the azure provider calls.

Response shapes follow the official swagger examples in Azure/azure-rest-api-specs
(``Consumption/examples/2024-08-01/BudgetsList.json``, ``cost-management/.../2025-03-01/examples/
SubscriptionQueryGrouping.json``, ``cognitiveservices/.../2025-09-01/examples/GetAccount.json``,
``GetDeployment.json``, ``UpdateDeployment.json``, ``RegenerateKey.json``) and ARM's conventions:
``{"error": {"code", "message"}}`` bodies, 202 + ``Azure-AsyncOperation`` for long-running PATCHes
(the change lands when the operation reports ``Succeeded``), ``api-version`` on every call.

One handler serves two wires: :class:`ArmTransport` (an azure-core ``HttpTransport`` the real SDK
clients send through, in process) and :func:`serve` (a loopback HTTP server for the daemon
subprocess, with an App Service managed-identity token endpoint).
"""

from __future__ import annotations

import copy
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._requests_basic import RestRequestsTransportResponse

SUB = "00000000-0000-0000-0000-000000000000"
RG = "ai"
ACCOUNT = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.CognitiveServices/accounts/aoai"
)
DEPLOYMENT = f"{ACCOUNT}/deployments/gpt-4o"
TOKEN = "fake-arm-token-not-a-secret"
API = {  # the api-version each route must carry
    "budgets": "2024-08-01",
    "query": "2025-03-01",
    "cognitive": "2025-09-01",
    "permissions": "2022-04-01",
}

Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")


def budget(
    name: str,
    spend: Any,
    *,
    scope: str = f"subscriptions/{SUB}",
    unit: Any = "USD",
    grain: str = "Monthly",
    start: str = "2026-01-01T00:00:00Z",
    end: str | None = "2027-12-31T00:00:00Z",
    forecast: Any = None,
    amount: Any = 800,
    category: str = "Cost",
) -> dict[str, Any]:
    """A budget as ``Budgets_List`` returns it (id without a leading slash, as in the example)."""
    props: dict[str, Any] = {
        "amount": amount,
        "category": category,
        "timeGrain": grain,
        "timePeriod": {"startDate": start, **({"endDate": end} if end else {})},
        "notifications": {
            "Actual_GreaterThan_80_Percent": {
                "contactEmails": ["johndoe@contoso.com"],
                "contactRoles": ["Contributor", "Reader"],
                "enabled": True,
                "operator": "GreaterThan",
                "threshold": 80,
                "thresholdType": "Actual",
            }
        },
    }
    if spend is not None:
        props["currentSpend"] = {"amount": spend, "unit": unit}
    if forecast is not None:
        props["forecastSpend"] = {"amount": forecast, "unit": unit}
    return {
        "name": name,
        "type": "Microsoft.Consumption/budgets",
        "eTag": '"1d34d012214157f"',
        "id": f"{scope}/providers/Microsoft.Consumption/budgets/{name}",
        "properties": props,
    }


def account(rid: str = ACCOUNT, disable_local_auth: bool | None = None) -> dict[str, Any]:
    name = rid.rsplit("/", 1)[1]
    props: dict[str, Any] = {
        "endpoint": f"https://{name}.openai.azure.com/",
        "provisioningState": "Succeeded",
        "customSubDomainName": name,
        "publicNetworkAccess": "Enabled",
    }
    if disable_local_auth is not None:
        props["disableLocalAuth"] = disable_local_auth
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.CognitiveServices/accounts",
        "location": "westus",
        "sku": {"name": "S0"},
        "kind": "OpenAI",
        "tags": {"team": "ml"},
        "etag": "W/\"datetime'2026-04-10T04%3A42%3A19.7067387Z'\"",
        "properties": props,
    }


def deployment(rid: str = DEPLOYMENT, capacity: int = 120, sku: str = "Standard") -> dict[str, Any]:
    return {
        "id": rid,
        "name": rid.rsplit("/", 1)[1],
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "sku": {"name": sku, "capacity": capacity},
        "properties": {
            "model": {"format": "OpenAI", "name": "gpt-4o", "version": "2024-08-06"},
            "provisioningState": "Succeeded",
        },
    }


def query_result(
    rows: list[list[Any]], columns: list[tuple[str, str]], link: str | None = None
) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{SUB}/providers/Microsoft.CostManagement/Query/00000000-0000-0000-0000-000000000000",
        "name": "55312978-ba1b-415c-9304-cfd9c43c0481",
        "type": "microsoft.costmanagement/Query",
        "properties": {
            "nextLink": link,
            "columns": [{"name": n, "type": t} for n, t in columns],
            "rows": rows,
        },
    }


RESOURCE_COLUMNS = [("Cost", "Number"), ("ResourceId", "String"), ("Currency", "String")]
TAG_COLUMNS = [
    ("Cost", "Number"),
    ("TagKey", "String"),
    ("TagValue", "String"),
    ("Currency", "String"),
]


def error(status: int, code: str, message: str) -> Reply:
    return status, {"error": {"code": code, "message": message}}, {}


@dataclass
class FakeArm:
    """ARM state plus the handler; tests read ``calls`` to assert what was sent."""

    base: str = "https://management.azure.com"
    budgets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # scope -> list
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    query_pages: list[dict[str, Any] | None] = field(default_factory=list)
    permissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    lro: bool = True  # PATCH answers 202 + Azure-AsyncOperation (else 200 at once)
    lro_status: str = "Succeeded"  # the operation's final status
    calls: list[Call] = field(default_factory=list)
    overrides: dict[tuple[str, str], Callable[[Call], Reply | None]] = field(default_factory=dict)
    token: str | None = None  # when set, every call must carry it
    _ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- helpers for tests -----------------------------------------------------------------
    def add_budgets(self, scope: str, *items: dict[str, Any]) -> None:
        self.budgets.setdefault(scope.strip("/").lower(), []).extend(items)

    def add_account(self, rid: str = ACCOUNT, disable_local_auth: bool | None = None) -> None:
        self.accounts[rid.lower()] = account(rid, disable_local_auth)
        self.keys[rid.lower()] = {"key1": secrets.token_hex(16), "key2": secrets.token_hex(16)}

    def add_deployment(self, rid: str = DEPLOYMENT, capacity: int = 120) -> None:
        self.deployments[rid.lower()] = deployment(rid, capacity)

    def allow(self, scope: str, *entries: dict[str, Any]) -> None:
        """Role entries the caller holds at ``scope`` (Microsoft.Authorization/permissions)."""
        self.permissions.setdefault(scope.rstrip("/").lower(), []).extend(entries)

    def local_auth(self, rid: str = ACCOUNT) -> Any:
        return self.accounts[rid.lower()]["properties"].get("disableLocalAuth")

    def capacity(self, rid: str = DEPLOYMENT) -> int:
        return int(self.deployments[rid.lower()]["sku"]["capacity"])

    def matching(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path, re.I)]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method in ("PATCH", "PUT", "POST", "DELETE")]

    # ---- the handler -----------------------------------------------------------------------
    def handle(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = body
        call = Call(method, parts.path, query, {k.lower(): v for k, v in headers.items()}, parsed)
        with self._lock:
            self.calls.append(call)
            if (
                self.token is not None
                and call.headers.get("authorization") != f"Bearer {self.token}"
            ):
                return error(401, "AuthenticationFailed", "missing or wrong bearer token")
            for (m, pattern), fn in self.overrides.items():
                if m == method and re.search(pattern, call.path, re.I):
                    out = fn(call)
                    if out is not None:
                        return out
            return self._route(call)

    def _route(self, c: Call) -> Reply:
        p = c.path
        low = p.lower()
        if low.endswith("/providers/microsoft.consumption/budgets") and c.method == "GET":
            return self._api(c, "budgets") or (
                200,
                {
                    "value": copy.deepcopy(
                        self.budgets.get(p.strip("/").lower().rsplit("/providers/", 1)[0], [])
                    )
                },
                {},
            )
        if low.endswith("/providers/microsoft.costmanagement/query") and c.method == "POST":
            return self._api(c, "query") or self._query(c)
        if low.endswith("/providers/microsoft.authorization/permissions") and c.method == "GET":
            scope = p.lower().rsplit("/providers/microsoft.authorization/", 1)[0]
            if scope not in self.permissions:
                return error(
                    403,
                    "AuthorizationFailed",
                    "The client does not have authorization to perform action 'Microsoft.Authorization/permissions/read'",
                )
            return self._api(c, "permissions") or (200, {"value": self.permissions[scope]}, {})
        if "/operationresults/" in low:
            return self._operation(c)
        if low.endswith("/regeneratekey") and c.method == "POST":
            return self._api(c, "cognitive") or self._regenerate(c)
        if low in self.deployments:
            return self._api(c, "cognitive") or self._resource(c, self.deployments, "sku")
        if low in self.accounts:
            return self._api(c, "cognitive") or self._resource(c, self.accounts, "properties")
        return error(404, "ResourceNotFound", f"The Resource '{p}' was not found.")

    def _api(self, c: Call, kind: str) -> Reply | None:
        if c.api_version is None:
            return error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        return None

    def _query(self, c: Call) -> Reply:
        page = int(c.query.get("$skiptoken", "0"))
        if not self.query_pages or page >= len(self.query_pages):
            return 204, b"", {}
        body = copy.deepcopy(self.query_pages[page])
        if body is None:
            return 204, b"", {}
        if page + 1 < len(self.query_pages):
            body["properties"]["nextLink"] = (
                f"{self.base}{c.path}?api-version={API['query']}&$skiptoken={page + 1}"
            )
        return 200, body, {}

    def _resource(self, c: Call, table: dict[str, dict[str, Any]], part: str) -> Reply:
        rid = c.path.lower()
        if c.method == "GET":
            return 200, copy.deepcopy(table[rid]), {}
        if c.method != "PATCH" or not isinstance(c.body, dict):
            return error(400, "InvalidRequestContent", "unsupported request")

        def apply() -> None:
            if part in c.body:
                table[rid].setdefault(part, {}).update(c.body[part])

        if not self.lro:
            apply()
            return 200, copy.deepcopy(table[rid]), {}
        op = secrets.token_hex(8)
        self._ops[op] = {"apply": apply, "polls": 0}
        link = (
            f"{self.base}/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/locations/"
            f"westus/operationResults/{op}?api-version={API['cognitive']}"
        )
        return 202, b"", {"Azure-AsyncOperation": link, "Location": link, "Retry-After": "0"}

    def _operation(self, c: Call) -> Reply:
        op = c.path.rsplit("/", 1)[1]
        state = self._ops.get(op)
        if state is None:
            return error(404, "OperationNotFound", op)
        state["polls"] += 1
        status = "InProgress" if state["polls"] < 2 else self.lro_status
        if status == "Succeeded" and not state.get("done"):
            state["apply"]()
            state["done"] = True
        body: dict[str, Any] = {"id": c.path, "name": op, "status": status}
        if status == "Failed":
            body["error"] = {"code": "InternalServerError", "message": "the update failed"}
        return 200, body, {"Retry-After": "0"}

    def _regenerate(self, c: Call) -> Reply:
        rid = c.path.lower().rsplit("/regeneratekey", 1)[0]
        name = (c.body or {}).get("keyName") if isinstance(c.body, dict) else None
        if rid not in self.keys or name not in ("Key1", "Key2"):
            return error(400, "InvalidKeyName", "keyName must be Key1 or Key2")
        self.keys[rid][name.lower()] = secrets.token_hex(16)
        return 200, dict(self.keys[rid]), {}


class ArmTransport(HttpTransport):  # type: ignore[type-arg]
    """An azure-core transport answering from a :class:`FakeArm`; never sleeps."""

    def __init__(self, arm: FakeArm) -> None:
        self.arm = arm

    def __enter__(self) -> ArmTransport:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def sleep(self, duration: float) -> None:
        return None

    def send(self, request: Any, **kwargs: Any) -> Any:
        content = getattr(request, "content", None) or b""
        if isinstance(content, str):
            content = content.encode()
        status, body, headers = self.arm.handle(
            request.method, request.url, dict(request.headers), content
        )
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = requests.Response()
        r.status_code = status
        r.reason = "OK" if status < 400 else "Error"
        r.headers.update({"content-type": "application/json", **headers})
        r.raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), preload_content=False, status=status, headers=dict(r.headers)
        )
        r.url = request.url
        resp = RestRequestsTransportResponse(request=request, internal_response=r)  # type: ignore[no-untyped-call]
        if not kwargs.get("stream", False):
            resp.read()
        return resp


class StaticToken:
    """A TokenCredential for in-process tests."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)
