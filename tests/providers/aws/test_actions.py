"""Every AWS action with undo, on moto in-process: effect, prior state, idempotency, refusals."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from killswitch.errors import ActionError, RefusedAction
from killswitch.plugins import TargetRequest, registry
from killswitch.providers.aws.actions import (
    AttachScp,
    DeactivateAccessKeys,
    DeactivateKeysParams,
    DenyPolicy,
    DenyPolicyParams,
    RevokeRoleSessions,
    RevokeSessionsParams,
    ScpParams,
)
from killswitch.providers.aws.provider import AwsProvider

from .conftest import ACCOUNT, actx, client, make_provider

pytestmark = pytest.mark.usefixtures("aws")
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
APP = f"arn:aws:iam::{ACCOUNT}:role/app"
REQ = TargetRequest("*", None, {})


def role(name: str, path: str = "/") -> str:
    return str(
        client("iam").create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)["Role"][
            "Arn"
        ]
    )


def attached(kind: str, name: str) -> list[str]:
    iam = client("iam")
    resp = getattr(iam, f"list_attached_{kind}_policies")(**{f"{kind.capitalize()}Name": name})
    return sorted(p["PolicyName"] for p in resp["AttachedPolicies"])


def deny(*principals: str, actions: tuple[str, ...] = ("bedrock:*",)) -> DenyPolicyParams:
    return DenyPolicyParams(principals=list(principals), deny=list(actions))


# ---- aws.deny-policy ----------------------------------------------------------------------
async def test_deny_policy_attaches_once_and_undo_detaches() -> None:
    role("app")
    p, a, params = make_provider(), DenyPolicy(), deny(APP)
    assert a.targets(params, REQ) == [APP]
    assert "bedrock:*" in a.describe(APP, params) and APP in a.describe(APP, params)
    prior = await a.execute(p, APP, params, actx())
    assert prior["policy_created"] is True
    arn = prior["policy_arn"]
    suffix = a.describe(APP, params).split("killswitch-deny-<budget>-")[1].split(" ")[0]
    assert arn.endswith(f"killswitch-deny-bedrock-daily-{suffix}")  # plan names the policy
    assert arn.startswith(
        f"arn:aws:iam::{ACCOUNT}:policy/killswitch/killswitch-deny-bedrock-daily-"
    )
    iam = client("iam")
    pol = iam.get_policy(PolicyArn=arn)["Policy"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])["PolicyVersion"][
        "Document"
    ]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc["Statement"] == [
        {"Sid": "KillswitchDeny", "Effect": "Deny", "Action": ["bedrock:*"], "Resource": ["*"]}
    ]
    again = await a.execute(p, APP, params, actx())  # idempotent (journal replay)
    assert again["policy_created"] is False and again["policy_arn"] == arn
    assert attached("role", "app") == [pol["PolicyName"]]
    await a.undo(p, APP, params, prior, actx())
    assert attached("role", "app") == []
    await a.undo(p, APP, params, prior, actx())  # idempotent
    await a.undo(p, APP, params, {}, actx())  # prior lost: recomputed from budget and params
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Arn"] == arn  # left in place, unattached


async def test_deny_policy_on_users_groups_and_role_paths() -> None:
    iam = client("iam")
    iam.create_user(UserName="dev")
    iam.create_group(GroupName="devs")
    path_role = role("svc", path="/team/")
    targets = [f"arn:aws:iam::{ACCOUNT}:user/dev", f"arn:aws:iam::{ACCOUNT}:group/devs", path_role]
    p, a, params = make_provider(), DenyPolicy(), deny(*targets)
    priors = {t: await a.execute(p, t, params, actx()) for t in targets}
    assert len(attached("user", "dev")) == len(attached("group", "devs")) == 1
    assert len(attached("role", "svc")) == 1
    for t in targets:
        await a.undo(p, t, params, priors[t], actx())
    assert attached("user", "dev") == attached("group", "devs") == attached("role", "svc") == []


async def test_two_budgets_on_one_role_restore_independently() -> None:
    role("app")
    p, a, params = make_provider(), DenyPolicy(), deny(APP)
    first = await a.execute(p, APP, params, actx("bedrock-daily"))
    await a.execute(p, APP, params, actx("account-monthly"))
    assert len(attached("role", "app")) == 2
    await a.undo(p, APP, params, first, actx("bedrock-daily"))
    (left,) = attached("role", "app")
    assert left.startswith("killswitch-deny-account-monthly-")


async def test_a_changed_deny_list_is_a_new_policy() -> None:
    role("app")
    p, a = make_provider(), DenyPolicy()
    one = await a.execute(p, APP, deny(APP), actx())
    two = await a.execute(p, APP, deny(APP, actions=("bedrock:*", "sagemaker:*")), actx())
    assert one["policy_arn"] != two["policy_arn"]


async def test_deny_policy_refuses_the_daemons_own_role() -> None:
    own = role("killswitch")
    p = make_provider(role_arn=own)
    with pytest.raises(RefusedAction, match="own"):
        await DenyPolicy().execute(p, own, deny(own), actx())
    # the base identity that assumes the role is protected too (moto's default caller)
    base = f"arn:aws:iam::{ACCOUNT}:user/moto"
    client("iam").create_user(UserName="moto")
    with pytest.raises(RefusedAction):
        await DenyPolicy().execute(p, base, deny(base), actx())


async def test_deny_policy_refuses_a_group_the_daemon_is_in() -> None:
    iam = client("iam")
    iam.create_user(UserName="moto")  # moto reports this user as the caller
    iam.create_group(GroupName="ops")
    iam.add_user_to_group(GroupName="ops", UserName="moto")
    grp = f"arn:aws:iam::{ACCOUNT}:group/ops"
    with pytest.raises(RefusedAction, match="member"):
        await DenyPolicy().execute(make_provider(), grp, deny(grp), actx())


async def test_deny_policy_in_another_account_is_a_permanent_error() -> None:
    other = "arn:aws:iam::111122223333:role/app"
    with pytest.raises(ActionError) as err:
        await DenyPolicy().execute(make_provider(), other, deny(other), actx())
    assert not err.value.retryable and "role_arn" in str(err.value)


async def test_missing_role_is_a_permanent_action_error() -> None:
    with pytest.raises(ActionError) as err:
        await DenyPolicy().execute(make_provider(), APP, deny(APP), actx())
    assert "NoSuchEntity" in str(err.value) and not err.value.retryable


# ---- aws.deactivate-access-keys ------------------------------------------------------------
def user_with_keys(name: str = "ci-bot") -> tuple[str, str]:
    iam = client("iam")
    iam.create_user(UserName=name)
    k1 = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    k2 = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=name, AccessKeyId=k2, Status="Inactive")  # off already
    return k1, k2


def statuses(name: str = "ci-bot") -> dict[str, str]:
    md = client("iam").list_access_keys(UserName=name)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in md}


def user_tags(name: str = "ci-bot") -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client("iam").list_user_tags(UserName=name)["Tags"]}


async def run_kill(a: Any, p: AwsProvider, target: str, params: Any, budget: str) -> dict[str, Any]:
    """What the executor does: snapshot journaled first, merged over execute's result."""
    snap = await a.snapshot(p, target, params)
    prior = await a.execute(p, target, params, actx(budget))
    return {**prior, **(snap or {})}


async def test_keys_deactivated_and_undo_reactivates_only_those() -> None:
    k1, k2 = user_with_keys()
    p, a = make_provider(), DeactivateAccessKeys()
    params = DeactivateKeysParams(users=[f"arn:aws:iam::{ACCOUNT}:user/ci-bot"])
    assert a.targets(params, REQ) == ["ci-bot"]
    prior = await run_kill(a, p, "ci-bot", params, "account-monthly")
    assert prior["active_before"] == [k1] and prior["deactivated"] == [k1]
    assert prior["already_inactive"] == [k2]
    assert statuses() == {k1: "Inactive", k2: "Inactive"}
    assert user_tags() == {"killswitch:keys:account-monthly": k1}
    await a.undo(p, "ci-bot", params, prior, actx("account-monthly"))
    assert statuses() == {k1: "Active", k2: "Inactive"}
    assert user_tags() == {}
    await a.undo(p, "ci-bot", params, prior, actx("account-monthly"))  # idempotent
    assert statuses() == {k1: "Active", k2: "Inactive"}


async def test_keys_replay_after_crash_still_restores() -> None:
    k1, _ = user_with_keys()
    p, a = make_provider(), DeactivateAccessKeys()
    params = DeactivateKeysParams(users=["ci-bot"])
    snap = await a.snapshot(p, "ci-bot", params)  # journaled with the intent
    await a.execute(p, "ci-bot", params, actx("b"))  # ... crash before the outcome is written
    replay = await a.execute(p, "ci-bot", params, actx("b"))  # journal replays it
    assert replay["deactivated"] == [k1]  # our own change is not mistaken for prior state
    await a.undo(p, "ci-bot", params, {**replay, **(snap or {})}, actx("b"))
    assert statuses()[k1] == "Active"


async def test_keys_held_by_two_budgets_come_back_after_both_restore() -> None:
    k1, _ = user_with_keys()
    p, a = make_provider(), DeactivateAccessKeys()
    params = DeactivateKeysParams(users=["ci-bot"])
    pa = await run_kill(a, p, "ci-bot", params, "a")
    pb = await run_kill(a, p, "ci-bot", params, "b")
    assert pb["co_held"] == [k1] and pb["deactivated"] == []
    await a.undo(p, "ci-bot", params, pa, actx("a"))
    assert statuses()[k1] == "Inactive"  # budget b still holds it
    await a.undo(p, "ci-bot", params, pb, actx("b"))
    assert statuses()[k1] == "Active"


async def test_keys_refuse_the_daemons_own_user() -> None:
    iam = client("iam")
    iam.create_user(UserName="runner")
    key = iam.create_access_key(UserName="runner")["AccessKey"]
    sess = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="us-east-1",
    )
    from killswitch.config import parse
    from killswitch.plugins import ProviderContext
    from killswitch.providers.aws.session import AwsHooks

    cfg = parse({"providers": {"aws": {"type": "aws"}}}).providers["aws"]
    p = AwsProvider("aws", cfg, ProviderContext(hooks=(AwsHooks(lambda: sess),)))
    with pytest.raises(RefusedAction, match="own user"):
        await DeactivateAccessKeys().execute(
            p, "runner", DeactivateKeysParams(users=["runner"]), actx()
        )
    assert statuses("runner") == {key["AccessKeyId"]: "Active"}


# ---- aws.revoke-role-sessions ---------------------------------------------------------------
async def test_revoke_sessions_puts_token_issue_time_deny_and_undo_deletes() -> None:
    role("app")
    p, a = make_provider(), RevokeRoleSessions()
    params = RevokeSessionsParams(roles=[APP])
    ctx = actx("bedrock-daily")
    prior = await a.execute(p, APP, params, ctx)
    iam = client("iam")
    doc = iam.get_role_policy(RoleName="app", PolicyName=prior["policy_name"])["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    (st,) = doc["Statement"]
    assert st["Effect"] == "Deny" and st["Action"] == "*"
    stamp = st["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert stamp >= ctx.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    await a.execute(p, APP, params, ctx)  # idempotent
    await a.undo(p, APP, params, prior, ctx)
    assert iam.list_role_policies(RoleName="app")["PolicyNames"] == []
    await a.undo(p, APP, params, prior, ctx)  # idempotent


async def test_revoke_sessions_refuses_own_role() -> None:
    own = role("killswitch")
    p = make_provider(role_arn=own)
    with pytest.raises(RefusedAction):
        await RevokeRoleSessions().execute(
            p, "killswitch", RevokeSessionsParams(roles=["killswitch"]), actx()
        )


# ---- aws.scp ------------------------------------------------------------------------------
def org() -> tuple[str, str, str]:
    o = client("organizations")
    o.create_organization(FeatureSet="ALL")
    root = o.list_roots()["Roots"][0]["Id"]
    ou = o.create_organizational_unit(ParentId=root, Name="ml")["OrganizationalUnit"]["Id"]
    pol = o.create_policy(
        Name="deny-bedrock",
        Type="SERVICE_CONTROL_POLICY",
        Description="",
        Content=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}],
            }
        ),
    )["Policy"]["PolicySummary"]["Id"]
    return root, ou, pol


def scps(target: str) -> list[str]:
    o = client("organizations")
    ps = o.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    return sorted(p["Id"] for p in ps)


async def test_scp_attach_and_detach() -> None:
    _, ou, pol = org()
    p, a = make_provider(), AttachScp()
    params = ScpParams(policy_id=pol, target_ids=[ou])
    assert (
        a.targets(params, REQ) == [ou] and a.describe(ou, params) == f"attach SCP {pol} to OU {ou}"
    )
    prior = await run_kill(a, p, ou, params, "b")
    assert prior["preexisting"] is False and pol in scps(ou)
    await a.execute(p, ou, params, actx("b"))  # idempotent
    await a.undo(p, ou, params, prior, actx("b"))
    assert pol not in scps(ou)
    await a.undo(p, ou, params, prior, actx("b"))  # idempotent


async def test_scp_preexisting_attachment_is_left_alone() -> None:
    _, ou, pol = org()
    client("organizations").attach_policy(PolicyId=pol, TargetId=ou)
    p, a = make_provider(), AttachScp()
    params = ScpParams(policy_id=pol, target_ids=[ou])
    prior = await run_kill(a, p, ou, params, "b")
    assert prior["preexisting"] is True
    await a.undo(p, ou, params, prior, actx("b"))
    assert pol in scps(ou)


async def test_scp_replay_after_crash_is_not_mistaken_for_preexisting() -> None:
    _, ou, pol = org()
    p, a = make_provider(), AttachScp()
    params = ScpParams(policy_id=pol, target_ids=[ou])
    snap = await a.snapshot(p, ou, params)
    await a.execute(p, ou, params, actx("b"))  # crash here; the journal replays execute
    replay = await a.execute(p, ou, params, actx("b"))
    assert replay["preexisting"] is False
    await a.undo(p, ou, params, {**replay, **(snap or {})}, actx("b"))
    assert pol not in scps(ou)


async def test_scp_shared_by_two_budgets() -> None:
    _, ou, pol = org()
    p, a = make_provider(), AttachScp()
    params = ScpParams(policy_id=pol, target_ids=[ou])
    pa = await run_kill(a, p, ou, params, "a")
    pb = await run_kill(a, p, ou, params, "b")
    await a.undo(p, ou, params, pa, actx("a"))
    assert pol in scps(ou)
    await a.undo(p, ou, params, pb, actx("b"))
    assert pol not in scps(ou)


class FakeOrgSession:
    """The daemon in a member account (moto keeps one organization per account)."""

    def __init__(self, account: str, parents: dict[str, str]) -> None:
        self.account, self.parents = account, parents

    async def own_principals(self, **_: Any) -> list[Any]:
        from killswitch.providers.aws.arns import Principal

        return [Principal.parse(f"arn:aws:sts::{self.account}:assumed-role/ks/s")]

    async def call(self, service: str, op: str, **_: Any) -> dict[str, Any]:
        assert op == "describe_organization"
        return {"Organization": {"MasterAccountId": "999999999999"}}

    async def pages(self, service: str, op: str, ChildId: str, **_: Any) -> list[dict[str, Any]]:
        parent = self.parents.get(ChildId)
        return [{"Parents": [{"Id": parent}] if parent else []}]


async def test_scp_refuses_own_account_and_the_ous_above_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = "111122223333"
    fake = FakeOrgSession(me, {me: "ou-ab12-cdefgh12", "ou-ab12-cdefgh12": "r-ab12"})
    import killswitch.providers.aws.actions as actions

    monkeypatch.setattr(actions, "_session", lambda provider: fake)
    monkeypatch.setattr(actions, "_own", lambda provider: fake.own_principals())
    a = AttachScp()
    for target in (me, "ou-ab12-cdefgh12", "r-ab12"):
        with pytest.raises(RefusedAction):
            await a._refuse_own(make_provider(), fake, target)  # type: ignore[arg-type]
    await a._refuse_own(make_provider(), fake, "ou-zz99-otherou1")  # type: ignore[arg-type]


def test_every_action_is_registered_for_aws() -> None:
    assert set(registry.load().actions_for("aws")) == {
        "aws.deny-policy",
        "aws.deactivate-access-keys",
        "aws.revoke-role-sessions",
        "aws.scp",
    }
