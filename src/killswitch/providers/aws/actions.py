"""AWS actions: deny policies, access-key deactivation, session revocation, SCPs. All reversible.

Each action names its targets explicitly in its params (principals, users, roles, accounts/OUs),
refuses to touch the daemon's own identity (:class:`RefusedAction`), records what it changed as
the prior state, and is idempotent in both directions so a replay after a crash is harmless.

Ownership is recorded *at AWS*, not only in the journal, because a crash between the AWS call and
the journal write leaves the journal without the prior state:

* ``aws.deny-policy`` and ``aws.revoke-role-sessions`` use policy names that carry the budget
  (``policies.py``): whatever carries that name was put there by that budget;
* ``aws.deactivate-access-keys`` tags the user (``killswitch:keys:<budget>``) with the keys it
  holds inactive *before* deactivating them;
* ``aws.scp`` tags the account/OU (``killswitch:scp:<policy>:<budget>``) before attaching.

Tags also let several budgets share one effect: a key or SCP is only given back when no other
budget still holds it, and keys or SCPs that were already in place without killswitch are never
touched by an undo.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from killswitch.errors import ActionError, RefusedAction
from killswitch.plugins import (
    Action,
    ActionContext,
    ActionParams,
    Prior,
    State,
    registry,
)
from killswitch.providers._kit.actions import NamedTargets
from killswitch.providers._kit.validators import checked_by, matching
from killswitch.providers.aws import policies
from killswitch.providers.aws.arns import (
    ACCOUNT_ID,
    IAM_ACTION,
    OU_ID,
    ROOT_ID,
    SCP_ID,
    Principal,
    parse_principal,
    role_name,
    user_name,
)
from killswitch.providers.aws.provider import AwsProvider
from killswitch.providers.aws.session import AwsSession

NO_ENTITY = frozenset({"NoSuchEntity"})


class ActingSession:
    """The provider's session as the actions call it: every call is made ``for_action``.

    Acting calls fail as ActionError (retryable or not, which the runner journals) rather than
    SourceError; saying ``for_action=True`` at each call site was repetition that one forgotten
    site would have turned into a wrong error kind.
    """

    def __init__(self, session: AwsSession) -> None:
        self.session = session

    async def call(
        self, service: str, op: str, *, ok_codes: frozenset[str] = frozenset(), **params: Any
    ) -> dict[str, Any]:
        return await self.session.call(service, op, for_action=True, ok_codes=ok_codes, **params)

    async def pages(self, service: str, op: str, **params: Any) -> list[dict[str, Any]]:
        return await self.session.pages(service, op, for_action=True, **params)

    async def identity(self) -> Principal:
        return await self.session.identity(for_action=True)

    async def own_principals(self) -> list[Principal]:
        return await self.session.own_principals(for_action=True)

    async def access_key_ids(self) -> set[str]:
        """The access keys the daemon runs on (read in a thread: it may resolve credentials)."""
        return await asyncio.to_thread(self.session.access_key_ids)


def _session(provider: AwsProvider) -> ActingSession:
    """The provider's session (one seam, so a test can hand the actions a fake organisation)."""
    return ActingSession(provider.session)


async def _own(provider: AwsProvider) -> list[Principal]:
    return await _session(provider).own_principals()


def _attach(principal: Principal, policy_arn: str) -> dict[str, Any]:
    """Parameters of Attach/Detach{User,Role,Group}Policy."""
    return {"PolicyArn": policy_arn, f"{principal.kind.capitalize()}Name": principal.name}


# ---- aws.deny-policy --------------------------------------------------------------------------
# Each item is checked on its own, so a bad one is reported at its index (principals.2).
PrincipalArn = Annotated[str, checked_by(parse_principal)]
UserRef = Annotated[str, checked_by(user_name)]
RoleRef = Annotated[str, checked_by(role_name)]
IamAction = Annotated[
    str, matching(IAM_ACTION, "{value!r} is not an IAM action like bedrock:* or s3:GetObject")
]


class DenyPolicyParams(ActionParams):
    principals: list[PrincipalArn] = Field(min_length=1, description="IAM user, role or group ARNs")
    deny: list[IamAction] = Field(min_length=1, description='IAM actions to deny, e.g. "bedrock:*"')
    resources: list[str] = Field(default_factory=lambda: ["*"], min_length=1)


@registry.action
class DenyPolicy(NamedTargets, Action[AwsProvider, DenyPolicyParams]):
    name = "aws.deny-policy"
    targets_field = "principals"
    permissions = (
        "sts:GetCallerIdentity",
        "iam:GetPolicy",
        "iam:CreatePolicy",
        "iam:GetGroup",
        "iam:AttachRolePolicy",
        "iam:AttachUserPolicy",
        "iam:AttachGroupPolicy",
        "iam:DetachRolePolicy",
        "iam:DetachUserPolicy",
        "iam:DetachGroupPolicy",
    )
    summary = (
        "attach a managed policy killswitch-deny-<budget>-<hash> (path /killswitch/) that denies "
        "the listed actions to each principal; refuses the daemon's own principal"
    )
    undo_summary = (
        "detach that policy from each principal; the (unattached, harmless) policy is left in "
        "place for the next kill"
    )

    def permissions_for(self, params: DenyPolicyParams) -> tuple[str, ...]:
        """Attach/Detach only for the kinds of principal listed; GetGroup only for groups."""
        kinds = {Principal.parse(arn).kind for arn in params.principals}
        unused = {k for k in ("user", "role", "group") if k not in kinds}
        per_kind = {
            p
            for k in unused
            for p in (f"iam:Attach{k.capitalize()}Policy", f"iam:Detach{k.capitalize()}Policy")
        }
        if "group" in unused:
            per_kind.add("iam:GetGroup")
        return tuple(p for p in self.permissions if p not in per_kind)

    def describe(self, target: str, params: DenyPolicyParams) -> str:
        p = Principal.parse(target)
        return (
            f"attach IAM policy killswitch-deny-<budget>-"
            f"{policies.deny_hash(params.deny, params.resources)} (Deny {', '.join(params.deny)} "
            f"on {', '.join(params.resources)}) to {p.kind} {target}"
        )

    async def execute(
        self, provider: AwsProvider, target: str, params: DenyPolicyParams, ctx: ActionContext
    ) -> State:
        s = _session(provider)
        principal = parse_principal(target)
        me = await self._refuse_own(provider, s, principal)
        if principal.account != me.account:
            raise ActionError(
                f"{target} is in account {principal.account} but the credentials are for "
                f"{me.account}: add a provider entry with role_arn into that account",
                retryable=False,
            )
        name = policies.deny_policy_name(ctx.budget, params.deny, params.resources)
        arn = f"arn:{principal.partition}:iam::{me.account}:policy{policies.PATH}{name}"
        created = await self._ensure_policy(s, arn, name, params, ctx.budget)
        await s.call("iam", f"attach_{principal.kind}_policy", **_attach(principal, arn))
        return {"principal": target, "policy_arn": arn, "policy_created": created}

    async def _refuse_own(
        self, provider: AwsProvider, s: ActingSession, target: Principal
    ) -> Principal:
        own = await _own(provider)
        for me in own:
            if target.same_as(me):
                raise RefusedAction(
                    f"{target.arn} is the daemon's own {me.kind} ({me.arn}): denying it would "
                    "stop killswitch itself; remove it from principals"
                )
        if target.kind == "group":
            users = {me.name for me in own if me.kind == "user" and me.account == target.account}
            if users:
                pages = await s.pages("iam", "get_group", GroupName=target.name)
                members = {u.get("UserName") for p in pages for u in p.get("Users", [])}
                if users & members:
                    raise RefusedAction(
                        f"the daemon's own user is a member of {target.arn}: denying the group "
                        "would stop killswitch itself"
                    )
        return own[0]

    async def _ensure_policy(
        self, s: ActingSession, arn: str, name: str, params: DenyPolicyParams, budget: str
    ) -> bool:
        found = await s.call("iam", "get_policy", ok_codes=NO_ENTITY, PolicyArn=arn)
        if found:
            return False
        doc = json.dumps(policies.deny_document(params.deny, params.resources))
        await s.call(
            "iam",
            "create_policy",
            ok_codes=frozenset({"EntityAlreadyExists"}),
            PolicyName=name,
            Path=policies.PATH,
            PolicyDocument=doc,
            Description=f"killswitch: budget {budget} breached"[:1000],
        )
        return True

    async def undo(
        self,
        provider: AwsProvider,
        target: str,
        params: DenyPolicyParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        s = _session(provider)
        principal = parse_principal(target)
        arn = prior.get("policy_arn")
        if not isinstance(arn, str):
            me = await s.identity()
            name = policies.deny_policy_name(ctx.budget, params.deny, params.resources)
            arn = f"arn:{principal.partition}:iam::{me.account}:policy{policies.PATH}{name}"
        await s.call(
            "iam",
            f"detach_{principal.kind}_policy",
            ok_codes=NO_ENTITY,
            **_attach(principal, arn),
        )


# ---- aws.deactivate-access-keys ---------------------------------------------------------------
class DeactivateKeysParams(ActionParams):
    users: list[UserRef] = Field(min_length=1, description="IAM user names (or user ARNs)")


def _held(tags: Mapping[str, str], key: str) -> set[str]:
    return set(tags.get(key, "").split())


def _held_by_others(tags: Mapping[str, str], mine: str) -> set[str]:
    prefix = policies.keys_tag("")
    out: set[str] = set()
    for k, v in tags.items():
        if k.startswith(prefix) and k != mine:
            out |= set(v.split())
    return out


@registry.action
class DeactivateAccessKeys(NamedTargets, Action[AwsProvider, DeactivateKeysParams]):
    name = "aws.deactivate-access-keys"
    targets_field = "users"
    permissions = (
        "sts:GetCallerIdentity",
        "iam:ListAccessKeys",
        "iam:UpdateAccessKey",
        "iam:ListUserTags",
        "iam:TagUser",
        "iam:UntagUser",
    )
    summary = (
        "set every Active access key of each user to Inactive (tagging the user "
        "killswitch:keys:<budget> with the keys first); refuses the daemon's own user and keys"
    )
    undo_summary = (
        "reactivate exactly the keys this budget deactivated (unless another budget still holds "
        "them) and remove the tag; keys that were already inactive stay inactive"
    )

    def target_of(self, value: str) -> str:
        return user_name(value)

    def describe(self, target: str, params: DeactivateKeysParams) -> str:
        return f"set every Active access key of IAM user {target} to Inactive"

    async def _tags(self, s: ActingSession, user: str) -> dict[str, str]:
        pages = await s.pages("iam", "list_user_tags", UserName=user)
        return {t["Key"]: t["Value"] for p in pages for t in p.get("Tags", [])}

    async def _keys(self, s: ActingSession, user: str) -> dict[str, str]:
        pages = await s.pages("iam", "list_access_keys", UserName=user)
        return {
            str(k["AccessKeyId"]): str(k["Status"])
            for p in pages
            for k in p.get("AccessKeyMetadata", [])
        }

    async def snapshot(
        self, provider: AwsProvider, target: str, params: DeactivateKeysParams
    ) -> State:
        """Which keys are Active before the kill: journaled with the intent, so it is exact
        even if the daemon dies between deactivating and recording the outcome."""
        user = user_name(target)
        keys = await self._keys(_session(provider), user)
        return {
            "user": user,
            "active_before": sorted(k for k, st in keys.items() if st == "Active"),
            "inactive_before": sorted(k for k, st in keys.items() if st != "Active"),
        }

    async def execute(
        self, provider: AwsProvider, target: str, params: DeactivateKeysParams, ctx: ActionContext
    ) -> State:
        s = _session(provider)
        user = user_name(target)
        own = await _own(provider)
        if any(me.kind == "user" and me.name == user for me in own):
            raise RefusedAction(
                f"IAM user {user} is the daemon's own user; refusing to "
                "deactivate the keys killswitch runs on"
            )
        keys = await self._keys(s, user)
        mine_in_use = set(keys) & await s.access_key_ids()
        if mine_in_use:
            raise RefusedAction(f"IAM user {user} owns the access key killswitch runs on")
        tag = policies.keys_tag(ctx.budget)
        tags = await self._tags(s, user)
        before = _held(tags, tag) & set(keys)  # left by an interrupted earlier attempt
        others = _held_by_others(tags, tag)
        active = {k for k, st in keys.items() if st == "Active"}
        co_held = {k for k in keys if k in others and k not in active and k not in before}
        hold = active | before | co_held
        if hold and _held(tags, tag) != hold:
            await s.call(
                "iam",
                "tag_user",
                UserName=user,
                Tags=[{"Key": tag, "Value": " ".join(sorted(hold))}],
            )
        for k in sorted(active):
            await s.call(
                "iam",
                "update_access_key",
                UserName=user,
                AccessKeyId=k,
                Status="Inactive",
            )
        return {
            "user": user,
            "deactivated": sorted(active | before),
            "co_held": sorted(co_held),
            "already_inactive": sorted(set(keys) - hold),
        }

    async def undo(
        self,
        provider: AwsProvider,
        target: str,
        params: DeactivateKeysParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        s = _session(provider)
        user = user_name(target)
        tag = policies.keys_tag(ctx.budget)
        tags = await self._tags(s, user)
        mine = _held(tags, tag)
        for field in ("deactivated", "co_held", "active_before"):
            mine |= {str(k) for k in prior.get(field, []) or []}
        give_back = mine - _held_by_others(tags, tag)
        keys = await self._keys(s, user)
        for k in sorted(give_back):
            if keys.get(k) == "Inactive":
                await s.call(
                    "iam",
                    "update_access_key",
                    ok_codes=NO_ENTITY,
                    UserName=user,
                    AccessKeyId=k,
                    Status="Active",
                )
        if tag in tags:
            await s.call("iam", "untag_user", UserName=user, TagKeys=[tag])


# ---- aws.revoke-role-sessions -----------------------------------------------------------------
class RevokeSessionsParams(ActionParams):
    roles: list[RoleRef] = Field(min_length=1, description="IAM role names or ARNs")


@registry.action
class RevokeRoleSessions(NamedTargets, Action[AwsProvider, RevokeSessionsParams]):
    name = "aws.revoke-role-sessions"
    targets_field = "roles"
    permissions = ("sts:GetCallerIdentity", "iam:PutRolePolicy", "iam:DeleteRolePolicy")
    summary = (
        "put an inline policy killswitch-revoke-sessions-<budget> on each role denying every "
        "action to sessions issued before now (aws:TokenIssueTime): ends sessions a deny policy "
        "alone would not; refuses the daemon's own role"
    )
    undo_summary = "delete that inline policy (sessions issued before it are usable again)"

    def describe(self, target: str, params: RevokeSessionsParams) -> str:
        return (
            f"put inline policy killswitch-revoke-sessions-<budget> on role "
            f"{role_name(target)}: deny * to sessions issued before the kill"
        )

    async def execute(
        self, provider: AwsProvider, target: str, params: RevokeSessionsParams, ctx: ActionContext
    ) -> State:
        s = _session(provider)
        role = role_name(target)
        for me in await _own(provider):
            if me.kind == "role" and me.name == role:
                raise RefusedAction(
                    f"role {role} is the daemon's own role ({me.arn}); revoking "
                    "its sessions would stop killswitch itself"
                )
        # Wall-clock now, not the cycle's time: sessions issued while the cycle ran are revoked.
        issued_before = max(datetime.now(UTC), ctx.now)
        name = policies.revoke_policy_name(ctx.budget)
        await s.call(
            "iam",
            "put_role_policy",
            RoleName=role,
            PolicyName=name,
            PolicyDocument=json.dumps(policies.revoke_document(issued_before)),
        )
        return {"role": role, "policy_name": name, "issued_before": issued_before.isoformat()}

    async def undo(
        self,
        provider: AwsProvider,
        target: str,
        params: RevokeSessionsParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        s = _session(provider)
        name = prior.get("policy_name") or policies.revoke_policy_name(ctx.budget)
        await s.call(
            "iam",
            "delete_role_policy",
            ok_codes=NO_ENTITY,
            RoleName=role_name(target),
            PolicyName=str(name),
        )


# ---- aws.scp ----------------------------------------------------------------------------------
class ScpParams(ActionParams):
    policy_id: str = Field(description="the SCP to attach, e.g. p-abcd1234 (create it first)")
    target_ids: list[str] = Field(
        min_length=1, description="account ids (12 digits), OU ids (ou-...) or the root (r-...)"
    )

    @field_validator("policy_id")
    @classmethod
    def _policy(cls, v: str) -> str:
        if not SCP_ID.match(v):
            raise ValueError(f"{v!r} is not an Organizations policy id like p-abcd1234")
        if v == "p-FullAWSAccess":
            raise ValueError("p-FullAWSAccess allows everything: attach a deny SCP instead")
        return v

    @field_validator("target_ids")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        for t in v:
            if not (ACCOUNT_ID.match(t) or OU_ID.match(t) or ROOT_ID.match(t)):
                raise ValueError(f"{t!r} is not an account id, OU id (ou-...) or root id (r-...)")
        return v


SCP = "SERVICE_CONTROL_POLICY"


@registry.action
class AttachScp(NamedTargets, Action[AwsProvider, ScpParams]):
    name = "aws.scp"
    targets_field = "target_ids"
    permissions = (
        "sts:GetCallerIdentity",
        "organizations:DescribeOrganization",
        "organizations:ListParents",
        "organizations:ListPoliciesForTarget",
        "organizations:AttachPolicy",
        "organizations:DetachPolicy",
        "organizations:ListTagsForResource",
        "organizations:TagResource",
        "organizations:UntagResource",
    )
    summary = (
        "from the management account, attach the SCP policy_id to each account/OU/root "
        "(Organizations AttachPolicy; tagged killswitch:scp:<policy>:<budget>); refuses the "
        "daemon's own account or an OU above it"
    )
    undo_summary = (
        "detach the SCP unless another budget still holds it there or it was attached before "
        "killswitch"
    )

    def describe(self, target: str, params: ScpParams) -> str:
        kind = "account" if ACCOUNT_ID.match(target) else "OU" if OU_ID.match(target) else "root"
        return f"attach SCP {params.policy_id} to {kind} {target}"

    async def _refuse_own(self, provider: AwsProvider, s: ActingSession, target: str) -> None:
        me = (await _own(provider))[0]
        org = await s.call("organizations", "describe_organization")
        mgmt = org.get("Organization", {}).get("MasterAccountId")
        if me.account == mgmt:
            return  # SCPs never restrict the management account
        if target == me.account:
            raise RefusedAction(f"account {target} is the daemon's own account")
        child = me.account
        for _ in range(10):  # OUs nest at most 5 deep under the root
            pages = await s.pages("organizations", "list_parents", ChildId=child)
            parents = [p for page in pages for p in page.get("Parents", [])]
            if not parents:
                return
            child = str(parents[0].get("Id"))
            if child == target:
                raise RefusedAction(f"{target} contains the daemon's own account {me.account}")

    async def _state(
        self, s: ActingSession, target: str, policy_id: str
    ) -> tuple[bool, dict[str, str]]:
        pages = await s.pages(
            "organizations",
            "list_policies_for_target",
            TargetId=target,
            Filter=SCP,
        )
        attached = any(p.get("Id") == policy_id for page in pages for p in page.get("Policies", []))
        tpages = await s.pages("organizations", "list_tags_for_resource", ResourceId=target)
        tags = {t["Key"]: t["Value"] for page in tpages for t in page.get("Tags", [])}
        return attached, tags

    async def snapshot(self, provider: AwsProvider, target: str, params: ScpParams) -> State:
        """Was the SCP attached before, by someone other than killswitch? Journaled with the
        intent, so a replay never mistakes our own attachment for a pre-existing one."""
        attached, tags = await self._state(_session(provider), target, params.policy_id)
        prefix = policies.scp_tag_prefix(params.policy_id)
        return {
            "target": target,
            "policy_id": params.policy_id,
            "preexisting": attached and not any(k.startswith(prefix) for k in tags),
        }

    async def execute(
        self, provider: AwsProvider, target: str, params: ScpParams, ctx: ActionContext
    ) -> State:
        s = _session(provider)
        await self._refuse_own(provider, s, target)
        attached, tags = await self._state(s, target, params.policy_id)
        mine = policies.scp_tag(params.policy_id, ctx.budget)
        holders = [k for k in tags if k.startswith(policies.scp_tag_prefix(params.policy_id))]
        prior = {"target": target, "policy_id": params.policy_id}
        if attached and not holders:
            return {**prior, "preexisting": True}  # someone else's attachment: leave it be
        if mine not in tags:
            await s.call(
                "organizations",
                "tag_resource",
                ResourceId=target,
                Tags=[{"Key": mine, "Value": "held"}],
            )
        if not attached:
            await s.call(
                "organizations",
                "attach_policy",
                ok_codes=frozenset({"DuplicatePolicyAttachmentException"}),
                PolicyId=params.policy_id,
                TargetId=target,
            )
        return {**prior, "preexisting": False}

    async def undo(
        self,
        provider: AwsProvider,
        target: str,
        params: ScpParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        s = _session(provider)
        policy_id = str(prior.get("policy_id") or params.policy_id)
        mine = policies.scp_tag(policy_id, ctx.budget)
        attached, tags = await self._state(s, target, policy_id)
        # Ours if the journal says it was not there before, or our tag is on the target (which
        # only execute puts there). A pre-existing attachment without our tag is never touched.
        owned = prior.get("preexisting") is False or mine in tags
        if mine in tags:
            await s.call(
                "organizations",
                "untag_resource",
                ResourceId=target,
                TagKeys=[mine],
            )
        others = [k for k in tags if k.startswith(policies.scp_tag_prefix(policy_id)) and k != mine]
        if owned and attached and not others:
            await s.call(
                "organizations",
                "detach_policy",
                ok_codes=frozenset({"PolicyNotAttachedException"}),
                PolicyId=policy_id,
                TargetId=target,
            )
