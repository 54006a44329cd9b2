"""Loopback stand-ins for the Google APIs the gcp provider calls, over REST.

* Cloud Billing v1: every request is checked against ``shared/specs/gcp/cloudbilling.v1.json``
  (method, path template, path-parameter pattern, query, body schema) and every response we
  return against the declared response schema. A violation answers 400 and is recorded.
* Service Usage v1 and Cloud Resource Manager v1 (``projects:testIamPermissions``): no Discovery
  doc is vendored in shared/, so paths and bodies are checked against the documented shapes here.
* Pub/Sub v1 REST (pull, acknowledge, modifyAckDeadline, testIamPermissions) on a
  :class:`FakeSubscription`.
* A GCE metadata server (for ADC in the daemon subprocess): project id and access tokens.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from killswitch.testing import Request, StandIn
from tests.providers.gcp.discovery import ContractError, Discovery
from tests.providers.gcp.fakes import FakeSubscription, rest_received

Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    503: "UNAVAILABLE",
}
TOKEN = "ya29.e2e-stand-in-access-token"


def gerror(status: int, message: str) -> tuple[int, Any]:
    return status, {
        "error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
    }


@dataclass
class FakeGcp:
    shared: Path
    billing: dict[str, str] = field(default_factory=dict)  # project -> billingAccounts/X or ""
    services: dict[tuple[str, str], str] = field(default_factory=dict)  # -> ENABLED/DISABLED
    granted: set[str] = field(default_factory=set)  # permissions the caller holds everywhere
    project_ids: dict[str, str] = field(default_factory=dict)  # project -> project number
    sub: FakeSubscription = field(default_factory=FakeSubscription)
    violations: list[str] = field(default_factory=list)
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # op -> (status, message)
    applied: list[tuple[str, str, Any]] = field(default_factory=list)  # writes, in order

    def __post_init__(self) -> None:
        self.spec = Discovery(self.shared / "specs/gcp/cloudbilling.v1.json")
        self._lock = threading.Lock()
        self.cloudbilling = StandIn()
        self.serviceusage = StandIn()
        self.pubsub = StandIn()
        self.crm = StandIn()
        self.metadata = StandIn()
        self._routes()

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeGcp:
        for s in self.servers:
            s.start()
        return self

    def stop(self) -> None:
        # Each server takes up to its 0.5 s poll interval to stop: stop them side by side.
        threads = [threading.Thread(target=s.stop) for s in self.servers]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    @property
    def servers(self) -> list[StandIn]:
        return [self.cloudbilling, self.serviceusage, self.pubsub, self.crm, self.metadata]

    def endpoints(self) -> dict[str, str]:
        return {
            "cloudbilling": self.cloudbilling.url,
            "serviceusage": self.serviceusage.url,
            "pubsub": self.pubsub.url,
            "cloudresourcemanager": self.crm.url,
        }

    def _failing(self, op: str) -> tuple[int, Any] | None:
        hit = self.fail.get(op)
        return gerror(*hit) if hit else None

    # ---- routes ------------------------------------------------------------------------
    def _routes(self) -> None:
        b = self.cloudbilling
        b.route("GET", r"/v1/.*")(self._billing)
        b.route("PUT", r"/v1/.*")(self._billing)
        b.route("POST", r"/v1/.*")(self._billing)
        su = self.serviceusage
        su.route("GET", r"/v1/projects/[^/]+/services/[^/:]+")(self._get_service)
        su.route("POST", r"/v1/projects/[^/]+/services/[^/:]+:(enable|disable)")(self._switch)
        ps = self.pubsub
        ps.route("POST", r"/v1/projects/[^/]+/subscriptions/[^/:]+:pull")(self._pull)
        ps.route("POST", r"/v1/projects/[^/]+/subscriptions/[^/:]+:acknowledge")(self._ack)
        ps.route("POST", r"/v1/projects/[^/]+/subscriptions/[^/:]+:modifyAckDeadline")(self._modify)
        ps.route("POST", r"/v1/projects/[^/]+/subscriptions/[^/:]+:testIamPermissions")(
            self._test_iam
        )
        self.crm.route("POST", r"/v1/projects/[^/:]+:testIamPermissions")(self._test_iam)
        md = self.metadata
        md.route("GET", r"/")(lambda r: (200, b"", {"Metadata-Flavor": "Google"}))
        md.route("GET", r"/computeMetadata/v1/project/project-id")(
            lambda r: (200, "ops", {"Metadata-Flavor": "Google"})
        )
        md.route("GET", r"/computeMetadata/v1/instance/service-accounts/default/?")(
            lambda r: (
                200,
                {
                    "email": "killswitch@ops.iam.gserviceaccount.com",
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                    "aliases": ["default"],
                },
                {"Metadata-Flavor": "Google"},
            )
        )
        md.route("GET", r"/computeMetadata/v1/instance/service-accounts/[^/]+/token")(
            lambda r: (
                200,
                {"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"},
                {"Metadata-Flavor": "Google"},
            )
        )

    # ---- Cloud Billing (Discovery-checked) ----------------------------------------------
    def _billing(self, r: Request) -> Reply:
        try:
            m = self.spec.check_request(r.method, r.path, r.query, r.body)
        except ContractError as exc:
            self.violations.append(str(exc))
            return gerror(400, str(exc))
        failing = self._failing(m.id)
        if failing:
            return failing
        with self._lock:
            status, body = self._billing_op(m.id, r)
        if status == 200:
            try:
                self.spec.check_response(m, body)
            except ContractError as exc:  # the stand-in itself is wrong
                self.violations.append(f"stand-in response: {exc}")
                return 500, {"error": {"code": 500, "message": str(exc)}}
        return status, body

    def _billing_op(self, op: str, r: Request) -> tuple[int, Any]:
        if op in (
            "cloudbilling.projects.getBillingInfo",
            "cloudbilling.projects.updateBillingInfo",
        ):
            project = r.path.split("/")[3]
            if project not in self.billing:
                return gerror(404, f"project {project} not found")
            if op.endswith("updateBillingInfo"):
                new = r.json().get("billingAccountName", "")
                self.applied.append(("billing", project, new))
                self.billing[project] = new
            account = self.billing[project]
            return 200, {
                "name": f"projects/{project}/billingInfo",
                "projectId": project,
                "billingAccountName": account,
                "billingEnabled": bool(account),
            }
        if op == "cloudbilling.billingAccounts.testIamPermissions":
            return self._test_iam(r)
        return gerror(400, f"{op} is not implemented by the stand-in")

    # ---- Service Usage -----------------------------------------------------------------
    def _service_key(self, path: str) -> tuple[str, str]:
        m = re.fullmatch(r"/v1/projects/([^/]+)/services/([^/:]+)(:\w+)?", path)
        assert m is not None
        return m.group(1), m.group(2)

    def _service(self, key: tuple[str, str]) -> dict[str, Any]:
        number = self.project_ids.get(key[0], "123456789012")
        return {
            "name": f"projects/{number}/services/{key[1]}",
            "parent": f"projects/{number}",
            "state": self.services[key],
        }

    def _get_service(self, r: Request) -> Reply:
        if r.body:
            self.violations.append(f"serviceusage get with a body: {r.body[:60]!r}")
        key = self._service_key(r.path)
        if key not in self.services:
            return gerror(404, f"service {key[1]} not found")
        return self._failing("serviceusage.services.get") or (200, self._service(key))

    def _switch(self, r: Request) -> Reply:
        key = self._service_key(r.path)
        verb = r.path.rsplit(":", 1)[1]
        body = r.json() or {}
        allowed = {
            "disable": {"disableDependentServices", "checkIfServiceHasUsage"},
            "enable": set(),
        }[verb]
        unknown = set(body) - allowed
        if unknown:
            self.violations.append(f"serviceusage {verb}: unknown fields {sorted(unknown)}")
            return gerror(400, f"unknown fields {sorted(unknown)}")
        failing = self._failing(f"serviceusage.services.{verb}")
        if failing:
            return failing
        if key not in self.services:
            return gerror(404, f"service {key[1]} not found")
        with self._lock:
            self.services[key] = "ENABLED" if verb == "enable" else "DISABLED"
            self.applied.append((verb, key[0], (key[1], body)))
        kind = "EnableServiceResponse" if verb == "enable" else "DisableServiceResponse"
        return 200, {
            "name": f"operations/acf.p2-{len(self.applied)}",
            "done": True,
            "response": {
                "@type": f"type.googleapis.com/google.api.serviceusage.v1.{kind}",
                "service": self._service(key),
            },
        }

    # ---- Pub/Sub -----------------------------------------------------------------------
    def _body(self, r: Request, allowed: set[str], required: set[str]) -> dict[str, Any] | None:
        body = r.json() or {}
        if set(body) - allowed or required - set(body):
            self.violations.append(f"pubsub {r.path}: fields {sorted(body)}")
            return None
        return dict(body)

    def _pull(self, r: Request) -> Reply:
        body = self._body(r, {"maxMessages", "returnImmediately"}, {"maxMessages"})
        if body is None:
            return gerror(400, "bad pull body")
        try:
            got = self.sub.pull(int(body["maxMessages"]))
        except RuntimeError:
            return gerror(503, "The service was unable to fulfill your request.")
        return 200, {"receivedMessages": [rest_received(a, m) for a, m in got]} if got else {}

    def _ack(self, r: Request) -> Reply:
        body = self._body(r, {"ackIds"}, {"ackIds"})
        if body is None:
            return gerror(400, "bad acknowledge body")
        self.sub.acknowledge(list(body["ackIds"]))
        return 200, {}

    def _modify(self, r: Request) -> Reply:
        # ackDeadlineSeconds 0 is proto3's default, so the SDK leaves it out of the JSON.
        body = self._body(r, {"ackIds", "ackDeadlineSeconds"}, {"ackIds"})
        if body is None:
            return gerror(400, "bad modifyAckDeadline body")
        self.sub.modify(list(body["ackIds"]), int(body.get("ackDeadlineSeconds", 0)))
        return 200, {}

    # ---- IAM ---------------------------------------------------------------------------
    def _test_iam(self, r: Request) -> tuple[int, Any]:
        body = r.json() or {}
        if set(body) != {"permissions"}:
            self.violations.append(f"testIamPermissions {r.path}: fields {sorted(body)}")
            return gerror(400, "bad testIamPermissions body")
        return 200, {"permissions": [p for p in body["permissions"] if p in self.granted]}
