"""The Discovery checker itself: it must reject what the real Cloud Billing API would reject."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.providers.gcp.discovery import ContractError, Discovery

ALT = {"$alt": ["json;enum-encoding=int"]}


@pytest.fixture
def spec(shared: Path) -> Discovery:
    return Discovery(shared / "specs/gcp/cloudbilling.v1.json")


def body(d: object) -> bytes:
    return json.dumps(d).encode()


def test_accepts_what_the_sdk_sends(spec: Discovery) -> None:
    m = spec.check_request(
        "PUT", "/v1/projects/my-sandbox/billingInfo", ALT, body({"billingAccountName": ""})
    )
    assert m.id == "cloudbilling.projects.updateBillingInfo"
    assert spec.check_request("PUT", "/v1/projects/p1/billingInfo", ALT, b"{}").id == m.id
    assert spec.check_request("GET", "/v1/projects/p1/billingInfo", ALT, b"").id == (
        "cloudbilling.projects.getBillingInfo"
    )
    spec.check_request(
        "POST",
        "/v1/billingAccounts/01D4EE-079462-DFD6EC:testIamPermissions",
        {},
        body({"permissions": ["billing.resourceAssociations.create"]}),
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "payload", "why"),
    [
        ("POST", "/v1/projects/p1/billingInfo", {}, {}, "not a method"),
        ("PATCH", "/v1/projects/p1/billingInfo", {}, {}, "not a method"),
        ("PUT", "/v1/projects/p1/billingInfo", {}, {"billingAccount": "x"}, "unknown field"),
        ("PUT", "/v1/projects/p1/billingInfo", {}, {"billingEnabled": False}, "output-only"),
        ("PUT", "/v1/projects/p1/billingInfo", {}, {"billingAccountName": 5}, "string"),
        ("PUT", "/v1/projects/p1/billingInfo", {"force": ["1"]}, {}, "not declared"),
        ("GET", "/v1/projects/p1/billingInfo", {}, {"x": 1}, "takes no body"),
        ("GET", "/v1/projects/a/b/billingInfo", {}, None, "not a method"),
    ],
)
def test_rejects_what_google_would(
    spec: Discovery,
    method: str,
    path: str,
    query: dict[str, list[str]],
    payload: object,
    why: str,
) -> None:
    with pytest.raises(ContractError, match=why):
        spec.check_request(method, path, query, b"" if payload is None else body(payload))


def test_checks_responses_too(spec: Discovery) -> None:
    m = spec.method("GET", "/v1/projects/p1/billingInfo")
    spec.check_response(m, {"name": "projects/p1/billingInfo", "billingEnabled": True})
    with pytest.raises(ContractError, match="boolean"):
        spec.check_response(m, {"billingEnabled": "yes"})
