"""``killswitch doctor`` for gcp: who we are, and ``testIamPermissions`` where Google offers it.

Pub/Sub subscriptions and billing accounts have ``testIamPermissions`` in their own APIs;
projects have it in Cloud Resource Manager (``v1/projects/{id}:testIamPermissions``), called with
the same credentials. The projects to check come from the action entries when the core hands them
over (objects with ``.name`` and ``.params``), else from ``doctor_projects`` in the provider entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from killswitch.errors import ActionError, SourceError
from killswitch.plugins import DoctorFinding
from killswitch.providers.gcp.billing import billing_info
from killswitch.providers.gcp.clients import GcpClients
from killswitch.providers.gcp.config import GcpConfig
from killswitch.providers.gcp.permissions import DETACH_BILLING, DISABLE_SERVICE, SOURCE

ACTION_PERMISSIONS = {"gcp.detach-billing": DETACH_BILLING, "gcp.disable-service": DISABLE_SERVICE}
CRM = "https://cloudresourcemanager.googleapis.com"


class Checked(Protocol):
    """The provider as the doctor sees it (structural: the provider module imports this one)."""

    @property
    def cfg(self) -> GcpConfig: ...

    clients: GcpClients


async def run(p: Checked, actions: Sequence[Any]) -> list[DoctorFinding]:
    try:
        _, adc_project = await p.clients.credentials()
        who = await p.clients.identity()
    except SourceError as exc:
        return [DoctorFinding("credentials", False, str(exc))]
    findings = [DoctorFinding("credentials", True, f"application default credentials ({who})")]
    findings.append(_own(p, adc_project))
    findings.append(await _subscription(p))
    for name, projects in _wanted(p, actions).items():
        if not projects:
            findings.append(
                DoctorFinding(
                    f"permissions for {name}",
                    False,
                    "not verified: no projects known; list them in doctor_projects",
                )
            )
        for project in projects:
            findings.append(await _action(p, name, project))
    return findings


def _own(p: Checked, adc_project: str | None) -> DoctorFinding:
    sub = p.cfg.subscription_project
    if p.cfg.allow_own_project:
        return DoctorFinding("own project", True, "allow_own_project is set: not protected")
    own = p.cfg.own_project or adc_project
    if own is None:
        return DoctorFinding(
            "own project",
            False,
            f"unknown (no own_project, no ADC project): only {sub} (the subscription's project) "
            "is protected from actions; set own_project",
        )
    src = "own_project" if p.cfg.own_project else "ADC"
    return DoctorFinding("own project", True, f"{own} (from {src}) and {sub} are protected")


def _wanted(p: Checked, actions: Sequence[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in actions:
        name = a if isinstance(a, str) else getattr(a, "name", "")
        if name not in ACTION_PERMISSIONS:
            continue
        projects = out.setdefault(name, [])
        params = None if isinstance(a, str) else getattr(a, "params", None)
        for proj in getattr(params, "projects", None) or p.cfg.doctor_projects:
            if proj not in projects:
                projects.append(proj)
    return out


async def _subscription(p: Checked) -> DoctorFinding:
    sub = p.cfg.subscription
    wanted = list(SOURCE["subscription"])

    def test() -> Any:
        return p.clients.subscriber().test_iam_permissions(
            request={"resource": sub, "permissions": wanted}, **p.clients.opts
        )

    try:
        got = set(
            (await p.clients.source_call(f"pubsub testIamPermissions {sub}", test)).permissions
        )
    except SourceError as exc:
        return DoctorFinding(f"read {sub}", False, str(exc))
    missing = [x for x in wanted if x not in got]
    return DoctorFinding(
        f"read {sub}", not missing, "ok" if not missing else "missing: " + ", ".join(missing)
    )


async def _action(p: Checked, name: str, project: str) -> DoctorFinding:
    perms = ACTION_PERMISSIONS[name]
    label = f"permissions for {name} on {project}"
    try:
        missing = await project_missing(p, project, perms.get("project", ()))
        if perms.get("billing_account"):
            account = (await billing_info(p.clients, project))["billing_account_name"]
            if not account:
                return DoctorFinding(
                    label,
                    False,
                    "the project has no billing account linked: "
                    "cannot check the permission to re-link one",
                )
            missing += await account_missing(p, account, perms["billing_account"])
    except (SourceError, ActionError) as exc:
        return DoctorFinding(label, False, str(exc))
    return DoctorFinding(
        label, not missing, "ok" if not missing else "missing: " + ", ".join(missing)
    )


async def project_missing(p: Checked, project: str, wanted: Sequence[str]) -> list[str]:
    if not wanted:
        return []
    creds, _ = await p.clients.credentials()
    base = (p.cfg.endpoints.cloudresourcemanager or CRM).rstrip("/")

    def test() -> list[str]:
        from google.auth.transport import requests as auth_requests

        session: Any = auth_requests.AuthorizedSession  # untyped in google-auth
        with session(creds) as s:
            r = s.post(
                f"{base}/v1/projects/{project}:testIamPermissions",
                json={"permissions": list(wanted)},
                timeout=p.cfg.timeout.total_seconds(),
            )
            if r.status_code != 200:
                raise SourceError(
                    f"cloudresourcemanager testIamPermissions projects/{project}: "
                    f"HTTP {r.status_code}"
                )
            body = r.json()
        got = body.get("permissions", []) if isinstance(body, dict) else None
        if not isinstance(got, list):
            raise SourceError("cloudresourcemanager testIamPermissions: no permissions list")
        return [str(x) for x in got]

    got = await asyncio.to_thread(test)
    return [x for x in wanted if x not in got]


async def account_missing(p: Checked, account: str, wanted: Sequence[str]) -> list[str]:
    def test() -> Any:
        return p.clients.billing().test_iam_permissions(
            request={"resource": account, "permissions": list(wanted)},
            **p.clients.opts,
        )

    resp = await p.clients.source_call(f"cloudbilling testIamPermissions {account}", test)
    got = set(resp.permissions)
    return [x for x in wanted if x not in got]
