"""Actions through the real CognitiveServicesManagementClient over the fake ARM transport.

Round trips check the exact requests (method, path, api-version, body), the long-running
PATCH (202 + Azure-AsyncOperation, polled until Succeeded), the journaled prior state and that
undo restores exactly it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from killswitch.errors import ActionError, RefusedAction
from killswitch.plugins import Action, ActionParams, TargetRequest
from killswitch.providers.azure.actions_account import DisableLocalAuth, RegenerateKeys
from killswitch.providers.azure.actions_deployment import DeploymentCapacity
from killswitch.providers.azure.provider import AzureProvider
from tests.providers.azure.arm import ACCOUNT, API, DEPLOYMENT, SUB, FakeArm, error
from tests.providers.azure.conftest import actx, make_provider

OTHER = ACCOUNT.replace("/aoai", "/aoai-eu")


def params(action: Action, **raw: Any) -> ActionParams:
    p = action.params_model.model_validate(raw)
    action.validate(p)
    return p


async def kill(action: Action, p: AzureProvider, target: str, prm: ActionParams) -> dict[str, Any]:
    """What the executor does: snapshot (journaled), execute, merge (snapshot wins)."""
    snap = await action.snapshot(p, target, prm)
    prior = await action.execute(p, target, prm, actx())
    merged = {**prior, **(snap or {})}
    json.dumps(merged)  # it is journaled
    return merged


# ---- azure.disable-local-auth --------------------------------------------------------------


@pytest.mark.parametrize(("before", "restored"), [(None, False), (False, False)])
async def test_disable_local_auth_round_trip_with_lro(
    arm: FakeArm, before: bool | None, restored: bool
) -> None:
    arm.add_account(ACCOUNT, disable_local_auth=before)
    p = make_provider(arm)
    a = DisableLocalAuth()
    prm = params(a, accounts=[ACCOUNT])
    prior = await kill(a, p, ACCOUNT, prm)
    assert prior == {"disable_local_auth": before}
    assert arm.local_auth() is True
    (patch,) = arm.matching("PATCH", "accounts/aoai$")
    assert patch.path == ACCOUNT
    assert patch.api_version == API["cognitive"]
    assert patch.body == {"properties": {"disableLocalAuth": True}}
    polls = arm.matching("GET", "operationResults")
    assert len(polls) == 2 and all(c.api_version == API["cognitive"] for c in polls)

    arm.calls.clear()
    await a.undo(p, ACCOUNT, prm, prior, actx())
    assert arm.local_auth() is restored
    (patch,) = arm.matching("PATCH", "accounts/aoai$")
    assert patch.body == {"properties": {"disableLocalAuth": False}}
    await p.aclose()


async def test_already_disabled_account_is_left_alone_and_stays_disabled(arm: FakeArm) -> None:
    arm.add_account(ACCOUNT, disable_local_auth=True)
    p = make_provider(arm)
    a = DisableLocalAuth()
    prm = params(a, accounts=[ACCOUNT])
    prior = await kill(a, p, ACCOUNT, prm)
    await a.undo(p, ACCOUNT, prm, prior, actx())
    assert prior == {"disable_local_auth": True}
    assert arm.writes() == [] and arm.local_auth() is True
    await p.aclose()


async def test_replay_after_crash_keeps_the_snapshot_as_prior(arm: FakeArm) -> None:
    """The daemon died after the PATCH: the replayed execute reads our own change."""
    p = make_provider(arm)
    a = DisableLocalAuth()
    prm = params(a, accounts=[ACCOUNT])
    snap = await a.snapshot(p, ACCOUNT, prm)
    await a.execute(p, ACCOUNT, prm, actx())
    replay = await a.execute(p, ACCOUNT, prm, actx())
    assert replay == {"disable_local_auth": True}  # our own change...
    prior = {**replay, **snap}  # ...but the journaled snapshot wins
    await a.undo(p, ACCOUNT, prm, prior, actx())
    assert arm.local_auth() is False
    assert len(arm.matching("PATCH", "accounts/aoai$")) == 2  # one kill, one undo
    await p.aclose()


async def test_synchronous_200_patch_works_too(arm: FakeArm) -> None:
    arm.lro = False
    p = make_provider(arm)
    a = DisableLocalAuth()
    await kill(a, p, ACCOUNT, params(a, accounts=[ACCOUNT]))
    assert arm.local_auth() is True and arm.matching("GET", "operationResults") == []
    await p.aclose()


async def test_failed_operation_is_a_retryable_error(arm: FakeArm) -> None:
    arm.lro_status = "Failed"
    p = make_provider(arm)
    a = DisableLocalAuth()
    with pytest.raises(ActionError, match=r"PATCH account .* disableLocalAuth=true") as ei:
        await a.execute(p, ACCOUNT, params(a, accounts=[ACCOUNT]), actx())
    assert ei.value.retryable
    await p.aclose()


async def test_patch_accepted_but_not_applied_is_an_error(arm: FakeArm) -> None:
    arm.lro = False
    arm.overrides[("PATCH", "accounts/aoai$")] = lambda c: (200, arm.accounts[ACCOUNT.lower()], {})
    p = make_provider(arm)
    a = DisableLocalAuth()
    with pytest.raises(ActionError, match="reports disableLocalAuth=None"):
        await a.execute(p, ACCOUNT, params(a, accounts=[ACCOUNT]), actx())
    await p.aclose()


async def test_forbidden_patch_is_not_retryable_and_names_the_operation(arm: FakeArm) -> None:
    arm.overrides[("PATCH", "accounts/aoai$")] = lambda c: error(
        403,
        "AuthorizationFailed",
        "The client 'k' with object id 'o' does not have authorization to perform action "
        "'Microsoft.CognitiveServices/accounts/write' over scope '/x'.",
    )
    p = make_provider(arm)
    a = DisableLocalAuth()
    with pytest.raises(ActionError) as ei:
        await a.execute(p, ACCOUNT, params(a, accounts=[ACCOUNT]), actx())
    assert not ei.value.retryable
    assert "HTTP 403 AuthorizationFailed" in str(ei.value)
    assert "Microsoft.CognitiveServices/accounts/write" in str(ei.value)
    assert "fake-arm-token" not in str(ei.value)
    await p.aclose()


@pytest.mark.parametrize("bad", ["yes", 1, {"x": 1}])
async def test_unreadable_prior_state_refuses_to_act(arm: FakeArm, bad: Any) -> None:
    arm.accounts[ACCOUNT.lower()]["properties"]["disableLocalAuth"] = bad
    p = make_provider(arm)
    a = DisableLocalAuth()
    # The SDK's own deserializer or our shape check, whichever trips first: no action either way.
    with pytest.raises(ActionError, match=r"disableLocalAuth is not a boolean|deserialize"):
        await a.snapshot(p, ACCOUNT, params(a, accounts=[ACCOUNT]))
    assert arm.writes() == []
    await p.aclose()


async def test_missing_account_is_not_retryable(arm: FakeArm) -> None:
    p = make_provider(arm)
    a = DisableLocalAuth()
    with pytest.raises(ActionError, match="HTTP 404 ResourceNotFound") as ei:
        await a.snapshot(p, OTHER, params(a, accounts=[OTHER]))
    assert not ei.value.retryable
    await p.aclose()


def test_targets_and_describe_name_exactly_the_accounts() -> None:
    a = DisableLocalAuth()
    prm = params(
        a, accounts=[ACCOUNT, OTHER, ACCOUNT.upper().replace("SUBSCRIPTIONS", "subscriptions")]
    )
    req = TargetRequest("*", None, {"budget": ("ai-monthly",)})
    assert a.targets(prm, req) == [ACCOUNT, OTHER]  # the same account twice counts once
    text = a.describe(ACCOUNT, prm)
    assert ACCOUNT in text and "disableLocalAuth=true" in text and "aoai" in text


@pytest.mark.parametrize(
    "bad",
    [
        [],
        ["aoai"],
        [f"/subscriptions/{SUB}/resourceGroups/ai"],
        [f"/subscriptions/{SUB}/resourceGroups/ai/providers/Microsoft.Storage/storageAccounts/x"],
    ],
)
def test_params_reject_anything_but_account_ids(bad: list[str]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        DisableLocalAuth.params_model.model_validate({"accounts": bad})


async def test_accounts_in_another_subscription_use_their_own_client(arm: FakeArm) -> None:
    other_sub = "11111111-2222-3333-4444-555555555555"
    rid = ACCOUNT.replace(SUB, other_sub)
    arm.add_account(rid)
    p = make_provider(arm)
    a = DisableLocalAuth()
    await kill(a, p, rid, params(a, accounts=[rid]))
    assert arm.local_auth(rid) is True and arm.local_auth() is None
    assert arm.matching("PATCH", "accounts/aoai$")[0].path.startswith(
        f"/subscriptions/{other_sub}/"
    )
    await p.aclose()


# ---- azure.regenerate-keys -----------------------------------------------------------------


async def test_regenerate_keys_rotates_both_and_journals_no_key(arm: FakeArm) -> None:
    old = dict(arm.keys[ACCOUNT.lower()])
    p = make_provider(arm)
    a = RegenerateKeys()
    assert a.irreversible and not a.reversible
    prior = await kill(a, p, ACCOUNT, params(a, accounts=[ACCOUNT]))
    assert prior == {"regenerated": ["Key1", "Key2"]}
    new = arm.keys[ACCOUNT.lower()]
    assert new["key1"] != old["key1"] and new["key2"] != old["key2"]
    posts = arm.matching("POST", "regenerateKey$")
    assert [c.body for c in posts] == [{"keyName": "Key1"}, {"keyName": "Key2"}]
    assert {c.api_version for c in posts} == {API["cognitive"]}
    assert {c.path for c in posts} == {f"{ACCOUNT}/regenerateKey"}
    text = json.dumps(prior)
    assert all(k not in text for k in (*old.values(), *new.values()))
    await p.aclose()


async def test_regenerate_accepted_202_counts_as_done(arm: FakeArm) -> None:
    arm.overrides[("POST", "regenerateKey$")] = lambda c: (202, b"", {})
    p = make_provider(arm)
    a = RegenerateKeys()
    assert await a.execute(p, ACCOUNT, params(a, accounts=[ACCOUNT]), actx()) == {
        "regenerated": ["Key1", "Key2"]
    }
    await p.aclose()


def test_regenerate_keys_needs_allow_irreversible() -> None:
    from killswitch.config import parse
    from killswitch.errors import ConfigError

    budget = {
        "name": "b",
        "provider": "azure",
        "limit_usd": 10,
        "window": "monthly",
        "actions": [{"type": "azure.regenerate-keys", "accounts": [ACCOUNT]}],
    }
    providers = {"azure": {"type": "azure", "subscription_id": SUB}}
    with pytest.raises(ConfigError, match="irreversible"):
        parse({"providers": providers, "budgets": [budget]})
    parse({"providers": providers, "budgets": [{**budget, "allow_irreversible": True}]})


# ---- azure.deployment-capacity -------------------------------------------------------------


async def test_deployment_capacity_round_trip(arm: FakeArm) -> None:
    p = make_provider(arm)
    a = DeploymentCapacity()
    prm = params(a, deployments=[DEPLOYMENT])
    prior = await kill(a, p, DEPLOYMENT, prm)
    assert prior == {"sku_name": "Standard", "capacity": 120}
    assert arm.capacity() == 1
    (patch,) = arm.matching("PATCH", "deployments/gpt-4o$")
    assert (patch.path, patch.api_version) == (DEPLOYMENT, API["cognitive"])
    assert patch.body == {"sku": {"name": "Standard", "capacity": 1}}  # the swagger example
    arm.calls.clear()
    await a.undo(p, DEPLOYMENT, prm, prior, actx())
    assert arm.capacity() == 120
    (patch,) = arm.matching("PATCH", "deployments/gpt-4o$")
    assert patch.body == {"sku": {"name": "Standard", "capacity": 120}}
    await a.undo(p, DEPLOYMENT, prm, prior, actx())  # again: nothing left to do
    assert len(arm.matching("PATCH", ".")) == 1
    await p.aclose()


async def test_capacity_never_raised(arm: FakeArm) -> None:
    arm.add_deployment(DEPLOYMENT, capacity=5)
    p = make_provider(arm)
    a = DeploymentCapacity()
    prm = params(a, deployments=[DEPLOYMENT], capacity=10)
    prior = await kill(a, p, DEPLOYMENT, prm)
    await a.undo(p, DEPLOYMENT, prm, prior, actx())
    assert arm.writes() == [] and arm.capacity() == 5
    await p.aclose()


async def test_undo_refuses_to_overwrite_a_human_change(arm: FakeArm) -> None:
    p = make_provider(arm)
    a = DeploymentCapacity()
    prm = params(a, deployments=[DEPLOYMENT])
    prior = await kill(a, p, DEPLOYMENT, prm)
    arm.deployments[DEPLOYMENT.lower()]["sku"]["capacity"] = 30  # someone chose 30 since
    with pytest.raises(RefusedAction, match="someone changed it"):
        await a.undo(p, DEPLOYMENT, prm, prior, actx())
    assert arm.capacity() == 30
    await p.aclose()


@pytest.mark.parametrize("sku", [{"name": "Standard"}, {"name": "Standard", "capacity": "1"}, None])
async def test_unreadable_deployment_sku_refuses_to_act(arm: FakeArm, sku: Any) -> None:
    arm.deployments[DEPLOYMENT.lower()]["sku"] = sku
    p = make_provider(arm)
    a = DeploymentCapacity()
    with pytest.raises(ActionError, match="sku"):
        await a.snapshot(p, DEPLOYMENT, params(a, deployments=[DEPLOYMENT]))
    await p.aclose()


def test_capacity_params_validated() -> None:
    from pydantic import ValidationError

    m = DeploymentCapacity.params_model
    for bad in ({"deployments": [ACCOUNT]}, {"deployments": [DEPLOYMENT], "capacity": 0}):
        with pytest.raises(ValidationError):
            m.model_validate(bad)
    a = DeploymentCapacity()
    prm = params(a, deployments=[DEPLOYMENT], capacity=2)
    assert a.targets(prm, TargetRequest("*", None, {})) == [DEPLOYMENT]
    assert "sku.capacity=2" in a.describe(DEPLOYMENT, prm) and DEPLOYMENT in a.describe(
        DEPLOYMENT, prm
    )
