"""``azure.deployment-capacity``: throttle a model deployment to (near) nothing, with undo.

A deployment's ``sku.capacity`` is its rate limit (for Standard deployments, units of 1,000
tokens per minute); PATCHing it down to ``capacity`` (default 1) leaves the deployment in place
but starves it. The prior sku is read before anything changes (``snapshot``, journaled with the
intent); undo writes that capacity back. It never raises a capacity: a deployment already at or
below the target is left alone. If someone changed the capacity after the kill, undo refuses
rather than overwrite their decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from killswitch.errors import MalformedResponse, RefusedAction
from killswitch.plugins import Action, ActionContext, Prior, State, registry
from killswitch.providers._kit.actions import NamedTargets
from killswitch.providers.azure.ids import DeploymentId
from killswitch.providers.azure.params import DeploymentCapacityParams
from killswitch.providers.azure.permissions import DEPLOYMENT_CAPACITY
from killswitch.providers.azure.provider import AzureProvider
from killswitch.providers.azure.shapes import DeploymentSku


def _prior(prior: Mapping[str, Any]) -> DeploymentSku:
    name, cap = prior.get("sku_name"), prior.get("capacity")
    if not isinstance(name, str) or not isinstance(cap, int) or isinstance(cap, bool):
        raise MalformedResponse("journaled prior state has no sku_name/capacity")
    return DeploymentSku(name, cap)


@registry.action
class DeploymentCapacity(NamedTargets, Action[AzureProvider, DeploymentCapacityParams]):
    name = "azure.deployment-capacity"
    targets_field = "deployments"
    permissions = DEPLOYMENT_CAPACITY
    summary = (
        "PATCH the deployment's sku.capacity down to `capacity` (default 1): it keeps serving "
        "at a trickle; never raises a capacity"
    )
    undo_summary = (
        "PATCH sku.capacity=<journaled prior capacity>; refuses if someone changed it since"
    )

    def describe(self, target: str, params: DeploymentCapacityParams) -> str:
        d = DeploymentId.parse(target)
        return (
            f"scale deployment {d.deployment} of Cognitive Services account {d.account.account} "
            f"({target}) down to sku.capacity={params.capacity}"
        )

    async def snapshot(
        self, provider: AzureProvider, target: str, params: DeploymentCapacityParams
    ) -> State:
        sku = await provider.arm.deployment(DeploymentId.parse(target))
        return {"sku_name": sku.name, "capacity": sku.capacity}

    async def execute(
        self,
        provider: AzureProvider,
        target: str,
        params: DeploymentCapacityParams,
        ctx: ActionContext,
    ) -> State:
        arm = provider.arm
        d = DeploymentId.parse(target)
        prior = await arm.deployment(d)
        want = params.capacity
        if prior.capacity > want:
            await arm.set_capacity(d, DeploymentSku(prior.name, want))
        return {"sku_name": prior.name, "capacity": prior.capacity}

    async def undo(
        self,
        provider: AzureProvider,
        target: str,
        params: DeploymentCapacityParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        arm = provider.arm
        d = DeploymentId.parse(target)
        before = _prior(prior)
        now = await arm.deployment(d)
        if now.capacity == before.capacity:
            return
        if now.capacity != params.capacity:
            raise RefusedAction(
                f"deployment {target} has sku.capacity {now.capacity}, neither the "
                f"{params.capacity} killswitch set nor the prior {before.capacity}: someone "
                "changed it; not overwriting"
            )
        await arm.set_capacity(d, DeploymentSku(now.name, before.capacity))
