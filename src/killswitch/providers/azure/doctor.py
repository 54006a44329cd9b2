"""``killswitch doctor`` for azure: credential, one read per source, and RBAC where ARM tells.

``GET {scope}/providers/Microsoft.Authorization/permissions`` lists the caller's effective
``actions``/``notActions`` at a scope (one entry per role held there). We ask it at the
subscription (the sources, and the async-operation status URLs the actions poll) and on every
account or deployment an action names, and compare with what each action needs. Where that
listing is refused we fall back to a read of the resource and say the write is unverified. Deny
assignments are not in that listing: an "ok" can still be overridden by one.

The resources come from the action entries when the core hands them over (objects with
``.name`` and ``.params``); today it passes names only, so ``doctor_resources`` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from killswitch.errors import ActionError, SourceError
from killswitch.plugins import DoctorFinding, Source
from killswitch.providers.azure.arm import CognitiveArm
from killswitch.providers.azure.clients import AzureClients
from killswitch.providers.azure.config import AzureConfig
from killswitch.providers.azure.ids import AccountId, DeploymentId
from killswitch.providers.azure.permissions import ACTIONS, OPERATION_STATUS, SOURCES, missing

API_VERSION = "2022-04-01"  # Microsoft.Authorization permissions
MAX_PAGES = 20


class Checked(Protocol):
    """The provider as the doctor sees it (structural: the provider module imports this one)."""

    @property
    def cfg(self) -> AzureConfig: ...

    clients: AzureClients
    arm: CognitiveArm

    def sources(self) -> Mapping[str, Source]: ...


async def run(p: Checked, actions: Sequence[Any]) -> list[DoctorFinding]:
    try:
        await p.clients.source_call("get a token for Azure Resource Manager", p.clients.token)
    except SourceError as exc:
        return [DoctorFinding("credentials", False, str(exc))]
    findings = [DoctorFinding("credentials", True, "token for Azure Resource Manager acquired")]
    now = datetime.now(UTC)
    for name, source in p.sources().items():
        r = await source.poll(now, now)
        detail = r.error or f"ok: {len(r.observations)} spend figure(s)"
        findings.append(DoctorFinding(f"read {name}", r.ok, detail))
    names = [a if isinstance(a, str) else getattr(a, "name", "") for a in actions]
    wanted = [op for ops in SOURCES.values() for op in ops]
    if any(n in ACTIONS for n in names):
        wanted.append(OPERATION_STATUS)
    sub = f"/subscriptions/{p.cfg.subscription_id}"
    findings.append(await _check(p, "sources", sub, wanted))
    for a in actions:
        name = a if isinstance(a, str) else getattr(a, "name", "")
        if name not in ACTIONS:
            continue
        resources = _resources(p, a, name)
        if not resources:
            findings.append(
                DoctorFinding(
                    f"permissions for {name}",
                    False,
                    "not verified: no resource ids known; list them in doctor_resources",
                )
            )
        for rid in resources:
            need = [op for op in ACTIONS[name] if op != OPERATION_STATUS]
            findings.append(await _check(p, name, rid, need, fallback=True))
    return findings


def _resources(p: Checked, action: Any, name: str) -> list[str]:
    params = None if isinstance(action, str) else getattr(action, "params", None)
    from_params = getattr(params, "deployments", None) or getattr(params, "accounts", None)
    if from_params:
        return list(from_params)
    parse = DeploymentId.parse if name == "azure.deployment-capacity" else AccountId.parse
    out = []
    for rid in p.cfg.doctor_resources:
        try:
            out.append(parse(rid).id)
        except ValueError:
            continue
    return out


def _list_permissions(p: Checked, scope: str) -> list[dict[str, Any]]:
    from azure.core.rest import HttpRequest

    client = p.clients.consumption()  # any ARM client: same pipeline, same token
    url = f"{scope}/providers/Microsoft.Authorization/permissions"
    req = HttpRequest("GET", url, params={"api-version": API_VERSION})
    entries: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        resp = client.send_request(req)
        resp.raise_for_status()
        body = resp.json()
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            raise SourceError(f"{url}: no 'value' list of permission entries")
        entries += value
        link = body.get("nextLink")
        if not isinstance(link, str) or not link:
            return entries
        req = HttpRequest("GET", link)
    raise SourceError(f"{url}: more than {MAX_PAGES} pages")


async def _check(
    p: Checked, who: str, scope: str, wanted: list[str], *, fallback: bool = False
) -> DoctorFinding:
    check = f"{who} permissions on {scope}"
    try:
        entries = await p.clients.source_call(
            f"list permissions on {scope}", lambda: _list_permissions(p, scope)
        )
    except SourceError as exc:
        if fallback:
            return await _read_only(p, scope, check, str(exc))
        return DoctorFinding(check, False, f"not verified: {exc}")
    gaps = missing(entries, wanted)
    if gaps:
        return DoctorFinding(check, False, "missing: " + ", ".join(gaps))
    return DoctorFinding(check, True, "has " + ", ".join(wanted))


async def _read_only(p: Checked, rid: str, check: str, why: str) -> DoctorFinding:
    """Listing permissions was refused: at least see whether the resource can be read."""
    try:
        if "/deployments/" in rid.lower():
            await p.arm.deployment(DeploymentId.parse(rid))
        else:
            await p.arm.local_auth_disabled(AccountId.parse(rid))
    except ActionError as exc:
        return DoctorFinding(check, False, f"cannot read it either: {exc}")
    return DoctorFinding(
        check, False, f"can read it; write permissions not verified (listing refused: {why})"
    )
