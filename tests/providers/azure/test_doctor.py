"""``killswitch doctor`` for azure: credential, a read per source, RBAC where ARM tells."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from killswitch.plugins import DoctorFinding, ProviderContext
from killswitch.providers.azure.clients import AzureHooks
from killswitch.providers.azure.provider import AzureProvider
from tests.providers.azure.arm import (
    ACCOUNT,
    API,
    DEPLOYMENT,
    RESOURCE_COLUMNS,
    SUB,
    FakeArm,
    budget,
    query_result,
)
from tests.providers.azure.conftest import make_provider

SUB_SCOPE = f"/subscriptions/{SUB}"
COST_READER = {
    "actions": [
        "Microsoft.Consumption/*/read",
        "Microsoft.CostManagement/*/read",
        "Microsoft.CostManagement/query/action",
        "Microsoft.Authorization/*/read",
        "Microsoft.CognitiveServices/locations/operationResults/read",
    ],
    "notActions": [],
}
CONTRIBUTOR = {"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}
READER = {"actions": ["*/read"], "notActions": []}


def by_check(findings: list[DoctorFinding]) -> dict[str, DoctorFinding]:
    return {f.check: f for f in findings}


def world(arm: FakeArm) -> None:
    arm.add_budgets(SUB_SCOPE, budget("ai-monthly", 12))
    arm.query_pages = [query_result([[1.0, ACCOUNT.lower(), "USD"]], RESOURCE_COLUMNS)]
    arm.allow(SUB_SCOPE, COST_READER)


async def test_everything_verified(arm: FakeArm) -> None:
    world(arm)
    arm.allow(ACCOUNT, CONTRIBUTOR)
    arm.allow(DEPLOYMENT, CONTRIBUTOR)
    p = make_provider(arm, doctor_resources=[ACCOUNT, DEPLOYMENT])
    f = by_check(await p.doctor(["azure.disable-local-auth", "azure.deployment-capacity"]))
    assert all(x.ok for x in f.values()), f
    assert f["credentials"].detail == "token for Azure Resource Manager acquired"
    assert f["read azure.budgets"].detail == "ok: 1 spend figure(s)"
    assert f["read azure.cost-query"].ok
    assert "Microsoft.Consumption/budgets/read" in f[f"sources permissions on {SUB_SCOPE}"].detail
    assert "accounts/write" in f[f"azure.disable-local-auth permissions on {ACCOUNT}"].detail
    dep = f[f"azure.deployment-capacity permissions on {DEPLOYMENT}"]
    assert "deployments/write" in dep.detail
    perms = arm.matching("GET", "Microsoft.Authorization/permissions$")
    assert {c.api_version for c in perms} == {API["permissions"]}
    assert arm.writes() == [c for c in arm.writes() if c.path.endswith("/query")]  # reads only
    await p.aclose()


async def test_missing_permissions_are_named(arm: FakeArm) -> None:
    world(arm)
    arm.allow(ACCOUNT, READER)
    p = make_provider(arm, doctor_resources=[ACCOUNT])
    f = by_check(await p.doctor(["azure.disable-local-auth", "azure.regenerate-keys"]))
    acct = f[f"azure.disable-local-auth permissions on {ACCOUNT}"]
    assert not acct.ok
    assert acct.detail == "missing: Microsoft.CognitiveServices/accounts/write"
    regen = f[f"azure.regenerate-keys permissions on {ACCOUNT}"]
    assert regen.detail == "missing: Microsoft.CognitiveServices/accounts/regenerateKey/action"
    await p.aclose()


async def test_refused_listing_falls_back_to_a_read(arm: FakeArm) -> None:
    world(arm)  # no entry for the account: listing its permissions is refused (403)
    p = make_provider(arm, doctor_resources=[ACCOUNT])
    f = by_check(await p.doctor(["azure.disable-local-auth"]))
    acct = f[f"azure.disable-local-auth permissions on {ACCOUNT}"]
    assert not acct.ok
    assert acct.detail.startswith("can read it; write permissions not verified")
    assert "HTTP 403 AuthorizationFailed" in acct.detail
    await p.aclose()


async def test_no_resources_known_says_how_to_fix(arm: FakeArm) -> None:
    world(arm)
    p = make_provider(arm)
    f = by_check(await p.doctor(["azure.deployment-capacity"]))
    assert not f["permissions for azure.deployment-capacity"].ok
    assert "doctor_resources" in f["permissions for azure.deployment-capacity"].detail
    await p.aclose()


async def test_action_entries_with_params_are_used_when_the_core_passes_them(
    arm: FakeArm,
) -> None:
    world(arm)
    arm.allow(ACCOUNT, CONTRIBUTOR)
    p = make_provider(arm)
    entry: Any = SimpleNamespace(
        name="azure.disable-local-auth", params=SimpleNamespace(accounts=(ACCOUNT,))
    )
    f = by_check(await p.doctor([entry]))
    assert f[f"azure.disable-local-auth permissions on {ACCOUNT}"].ok
    await p.aclose()


async def test_source_failure_is_reported_per_source(arm: FakeArm) -> None:
    world(arm)
    arm.query_pages = [{"properties": {}}]
    p = make_provider(arm)
    f = by_check(await p.doctor([]))
    assert f["read azure.budgets"].ok
    assert not f["read azure.cost-query"].ok
    assert "columns" in f["read azure.cost-query"].detail
    await p.aclose()


async def test_no_credential_stops_early_with_the_reason(arm: FakeArm) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    class NoCredential:
        def get_token(self, *scopes: str, **kw: Any) -> Any:
            raise ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token from the included "
                "credentials.\nAttempted credentials:\n\tEnvironmentCredential: unavailable."
            )

    from killswitch.config import parse

    cfg = parse({"providers": {"azure": {"type": "azure", "subscription_id": SUB}}})
    p = AzureProvider(
        "azure",
        cfg.providers["azure"],
        ProviderContext(hooks=(AzureHooks(credential=NoCredential()),)),
    )
    (f,) = await p.doctor(["azure.disable-local-auth"])
    assert (f.check, f.ok) == ("credentials", False)
    assert "no usable Azure credential: DefaultAzureCredential failed" in f.detail
    assert "EnvironmentCredential" in f.detail
    assert arm.calls == []
    await p.aclose()
