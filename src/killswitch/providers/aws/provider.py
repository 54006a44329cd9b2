"""The ``aws`` provider: three spend sources over one boto3 session, and doctor checks."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from killswitch.errors import KillswitchError
from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.aws.arns import Principal
from killswitch.providers.aws.config import AwsConfig
from killswitch.providers.aws.session import AwsHooks, AwsSession, SessionSettings
from killswitch.providers.aws.source_bedrock import BedrockSource
from killswitch.providers.aws.source_budgets import BudgetsSource
from killswitch.providers.aws.source_cost_explorer import CostExplorerSource

SOURCE_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    "aws.budgets": ("budgets:ViewBudget", "sts:GetCallerIdentity"),
    "aws.cost-explorer": ("ce:GetCostAndUsage",),
    "aws.bedrock": ("cloudwatch:ListMetrics", "cloudwatch:GetMetricData"),
}
DOCTOR_PERMISSIONS = ("iam:SimulatePrincipalPolicy", "iam:GetRole")
SIMULATE_BATCH = 100


@registry.provider
class AwsProvider(BuiltProvider[AwsConfig]):
    type = "aws"
    config_model = AwsConfig
    source_names = ("aws.budgets", "aws.cost-explorer", "aws.bedrock")
    capabilities = Capabilities(
        reads=[
            "aws.budgets: actual spend of each AWS Budget in its current period (+ forecast)",
            "aws.cost-explorer: billed cost per day, month to date, per service/account/tag",
            "aws.bedrock: Bedrock token metrics (CloudWatch) x genai-prices, per model",
        ],
        granularity="budgets: budget period; cost-explorer: 1 day; bedrock: 1 minute",
        latency="budgets 8-12 h; cost-explorer up to 24 h; bedrock ~1-2 min",
        scopes=["all", "budgets", "accounts", "services", "models", "regions"],
        notes=[
            "aws.budgets matches windows equal to the AWS budget's UTC calendar period",
            "Cost Explorer requests cost $0.01 each: cached for cost_explorer.min_interval (1 h)",
            "the daemon's own role/user must be outside what it denies (refused otherwise)",
            "stopping EC2 inside an Auto Scaling group does not stick: deny or suspend instead",
        ],
    )

    def setup(self) -> None:
        cfg, hooks = self.cfg, self.context.hook(AwsHooks)
        self.session = AwsSession(
            SessionSettings(
                region=cfg.region,
                role_arn=cfg.role_arn,
                external_id=cfg.external_id,
                role_session_name=cfg.role_session_name,
                endpoint_url=cfg.endpoint_url,
                timeout_seconds=cfg.timeout.total_seconds(),
            ),
            session_factory=hooks.session_factory if hooks else None,
        )

    def build_sources(self) -> Mapping[str, Source]:
        cfg, session = self.cfg, self.session
        return {
            "aws.budgets": BudgetsSource(session, cfg.budgets, cfg.account_id),
            "aws.cost-explorer": CostExplorerSource(session, cfg.cost_explorer),
            "aws.bedrock": BedrockSource(session, cfg.bedrock, cfg.region, self.context),
        }

    async def aclose(self) -> None:
        await asyncio.to_thread(self.session.close)

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        """Identity, one cheap read per source, and IAM policy simulation where possible.

        Cost Explorer is not called (each request costs $0.01): its permission is simulated.
        Simulation needs ``iam:SimulatePrincipalPolicy`` and an endpoint that implements it; when
        either is missing the finding says the permissions were not verified.
        """
        try:
            me = await self.session.identity()
        except KillswitchError as exc:
            return [DoctorFinding("credentials", False, str(exc))]
        findings = [DoctorFinding("credentials", True, f"running as {me.arn}")]
        findings += await self._reads()
        findings += await self._simulate(me, actions)
        return findings

    async def _reads(self) -> list[DoctorFinding]:
        out = []
        checks: list[tuple[str, str, str, dict[str, Any]]] = [
            ("read aws.budgets", "budgets", "describe_budgets", {"MaxResults": 1}),
            ("read aws.bedrock", "cloudwatch", "list_metrics", {"Namespace": "AWS/Bedrock"}),
        ]
        for label, service, op, params in checks:
            try:
                if service == "budgets":
                    account = self.cfg.account_id or (await self.session.identity()).account
                    params = {**params, "AccountId": account}
                await self.session.call(service, op, **params)
                out.append(DoctorFinding(label, True, "ok"))
            except KillswitchError as exc:
                out.append(DoctorFinding(label, False, str(exc)))
        return out

    async def _policy_source(self, me: Principal) -> str | None:
        if me.kind == "user":
            return me.arn
        if me.kind != "role":
            return None
        if self.cfg.role_arn and Principal.parse(self.cfg.role_arn).same_as(me):
            return self.cfg.role_arn
        try:  # the assumed-role ARN lacks the role's path; GetRole has the real ARN
            resp = await self.session.call("iam", "get_role", RoleName=me.name)
            return str(resp["Role"]["Arn"])
        except (KillswitchError, KeyError):
            return me.role_arn

    async def _simulate(self, me: Principal, actions: Sequence[str]) -> list[DoctorFinding]:
        wanted: dict[str, tuple[str, ...]] = {
            f"permissions for {s}": p for s, p in SOURCE_PERMISSIONS.items()
        }
        for name in actions:
            cls = registry.actions.get(name)
            if cls is not None and cls.provider_type == self.type:
                wanted[f"permissions for {name}"] = tuple(cls.permissions)
        source_arn = await self._policy_source(me)
        if source_arn is None:
            return [
                DoctorFinding(
                    "permission simulation",
                    False,
                    f"not verified: cannot simulate policies of a {me.kind} principal",
                )
            ]
        every = sorted({a for perms in wanted.values() for a in perms})
        decisions: dict[str, str] = {}
        try:
            for i in range(0, len(every), SIMULATE_BATCH):
                pages = await self.session.pages(
                    "iam",
                    "simulate_principal_policy",
                    PolicySourceArn=source_arn,
                    ActionNames=every[i : i + SIMULATE_BATCH],
                )
                for page in pages:
                    for r in page.get("EvaluationResults", []):
                        decisions[str(r.get("EvalActionName"))] = str(r.get("EvalDecision"))
        except Exception as exc:  # moto raises NotImplementedError, not a ClientError
            return [
                DoctorFinding(
                    "permission simulation",
                    False,
                    f"not verified ({exc}); grant iam:SimulatePrincipalPolicy, or compare with "
                    "deploy/permissions/aws-iam-policy.json by hand",
                )
            ]
        out = []
        for label, perms in wanted.items():
            denied = [p for p in perms if decisions.get(p) != "allowed"]
            out.append(
                DoctorFinding(
                    label, not denied, "ok" if not denied else "not allowed: " + ", ".join(denied)
                )
            )
        return out
