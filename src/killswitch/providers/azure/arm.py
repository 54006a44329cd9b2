"""The Cognitive Services calls the actions make, through the real SDK clients.

Every call returns or checks the raw JSON ARM sent (``cls=raw``), validated in ``shapes``, so a
prior state is recorded exactly as Azure reported it. PATCHes are long-running operations (200,
or 202 + ``Azure-AsyncOperation``); ``finish`` waits at most ``operation_timeout`` and otherwise
raises a retryable error, so the next cycle re-applies the (idempotent) change.
"""

from __future__ import annotations

from typing import Any

from killswitch.errors import ActionError
from killswitch.providers.azure.clients import AzureClients
from killswitch.providers.azure.config import AzureConfig
from killswitch.providers.azure.ids import AccountId, DeploymentId
from killswitch.providers.azure.shapes import (
    DeploymentSku,
    deployment_sku,
    disable_local_auth,
)


def raw(pipeline_response: Any, deserialized: Any, headers: Any) -> Any:
    """``cls=`` hook: the JSON body ARM sent, instead of the SDK's lenient model."""
    body = pipeline_response.http_response.text()
    return pipeline_response.http_response.json() if body.strip() else None


def nothing(pipeline_response: Any, deserialized: Any, headers: Any) -> None:
    """``cls=`` hook that drops the answer (regenerateKey returns the new keys: never kept)."""
    return None


def finish(poller: Any, timeout: float, what: str) -> Any:
    result = poller.result(timeout=timeout)
    if not poller.done():
        raise ActionError(f"{what}: still running after {timeout:.0f} s; retried next cycle")
    return result


class CognitiveArm:
    """Reads and writes of accounts and deployments for one provider entry."""

    def __init__(self, cfg: AzureConfig, clients: AzureClients) -> None:
        self.cfg = cfg
        self.clients = clients

    @property
    def _timeout(self) -> float:
        return self.cfg.operation_timeout.total_seconds()

    async def local_auth_disabled(self, a: AccountId) -> bool | None:
        client = self.clients.cognitive(a.subscription)
        what = f"GET account {a.id}"
        return await self.clients.action_call(  # parsed in the call: bad shape = ActionError
            what,
            lambda: disable_local_auth(
                client.accounts.get(a.resource_group, a.account, cls=raw), what
            ),
        )

    async def set_local_auth_disabled(self, a: AccountId, value: bool) -> None:
        from azure.mgmt.cognitiveservices.models import Account, AccountProperties

        client = self.clients.cognitive(a.subscription)
        what = f"PATCH account {a.id} disableLocalAuth={str(value).lower()}"
        body = Account(properties=AccountProperties(disable_local_auth=value))

        def patch() -> Any:
            poller = client.accounts.begin_update(a.resource_group, a.account, body, cls=raw)
            return finish(poller, self._timeout, what)

        await self.clients.action_call(what, patch)
        now = await self.local_auth_disabled(a)  # read back: ARM said yes; does the account?
        if bool(now) is not value:
            raise ActionError(f"{what}: accepted, but the account reports disableLocalAuth={now}")

    async def regenerate(self, a: AccountId, key_name: str) -> None:
        client = self.clients.cognitive(a.subscription)
        what = f"POST regenerateKey {key_name} on {a.id}"

        def post() -> None:
            from azure.core.exceptions import HttpResponseError

            try:
                client.accounts.regenerate_key(a.resource_group, a.account, key_name, cls=nothing)
            except HttpResponseError as exc:
                # The SDK expects 200; ARM may answer 202 Accepted (regeneration in progress):
                # the old key is revoked either way.
                if exc.status_code != 202:
                    raise

        await self.clients.action_call(what, post)

    async def deployment(self, d: DeploymentId) -> DeploymentSku:
        a = d.account
        client = self.clients.cognitive(a.subscription)
        what = f"GET deployment {d.id}"
        return await self.clients.action_call(
            what,
            lambda: deployment_sku(
                client.deployments.get(a.resource_group, a.account, d.deployment, cls=raw), what
            ),
        )

    async def set_capacity(self, d: DeploymentId, sku: DeploymentSku) -> None:
        from azure.mgmt.cognitiveservices.models import PatchResourceTagsAndSku, Sku

        a = d.account
        client = self.clients.cognitive(a.subscription)
        what = f"PATCH deployment {d.id} sku.capacity={sku.capacity}"
        body = PatchResourceTagsAndSku(sku=Sku(name=sku.name, capacity=sku.capacity))

        def patch() -> Any:
            poller = client.deployments.begin_update(
                a.resource_group, a.account, d.deployment, body, cls=raw
            )
            return finish(poller, self._timeout, what)

        await self.clients.action_call(what, patch)
        now = await self.deployment(d)
        if now.capacity != sku.capacity:
            raise ActionError(f"{what}: accepted, but the deployment reports {now.capacity}")
