"""Actions on Cognitive Services accounts: turn key auth off (reversible), regenerate keys (not).

``azure.disable-local-auth`` PATCHes ``properties.disableLocalAuth = true``: every API key of the
account stops working at once, while Entra ID (token) callers keep working, so the daemon's own
management access and keyless workloads are untouched. The prior value is read before anything
changes (``snapshot``, journaled with the intent) and undo writes exactly it back.

``azure.regenerate-keys`` regenerates Key1 and Key2: whoever holds the old keys is out, and
nothing can give them back (``irreversible``; the budget must set ``allow_irreversible``). The new
keys come back in the response; they are dropped unread and never journaled.
"""

from __future__ import annotations

from killswitch.plugins import Action, ActionContext, Prior, State, registry
from killswitch.providers._kit.actions import NamedTargets
from killswitch.providers.azure.ids import AccountId
from killswitch.providers.azure.params import AccountsParams
from killswitch.providers.azure.permissions import DISABLE_LOCAL_AUTH, REGENERATE_KEYS
from killswitch.providers.azure.provider import AzureProvider

KEYS = ("Key1", "Key2")


@registry.action
class DisableLocalAuth(NamedTargets, Action[AzureProvider, AccountsParams]):
    name = "azure.disable-local-auth"
    targets_field = "accounts"
    permissions = DISABLE_LOCAL_AUTH
    summary = (
        "PATCH the Cognitive Services account properties.disableLocalAuth=true: its API keys "
        "stop working at once; Entra ID callers keep working"
    )
    undo_summary = "PATCH properties.disableLocalAuth=<journaled prior value> (false if unset)"

    def describe(self, target: str, params: AccountsParams) -> str:
        a = AccountId.parse(target)
        return (
            f"disable key auth on Cognitive Services account {a.account} ({target}): PATCH "
            "properties.disableLocalAuth=true; its API keys stop working, Entra ID tokens still do"
        )

    async def snapshot(self, provider: AzureProvider, target: str, params: AccountsParams) -> State:
        return {
            "disable_local_auth": await provider.arm.local_auth_disabled(AccountId.parse(target))
        }

    async def execute(
        self, provider: AzureProvider, target: str, params: AccountsParams, ctx: ActionContext
    ) -> State:
        arm = provider.arm
        a = AccountId.parse(target)
        prior = await arm.local_auth_disabled(a)
        if prior is not True:  # already off: the goal holds (and a replay finds it so)
            await arm.set_local_auth_disabled(a, True)
        return {"disable_local_auth": prior}

    async def undo(
        self,
        provider: AzureProvider,
        target: str,
        params: AccountsParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        arm = provider.arm
        a = AccountId.parse(target)
        want = bool(prior.get("disable_local_auth"))  # unset before the kill means keys allowed
        if bool(await arm.local_auth_disabled(a)) is not want:
            await arm.set_local_auth_disabled(a, want)


@registry.action
class RegenerateKeys(NamedTargets, Action[AzureProvider, AccountsParams]):
    name = "azure.regenerate-keys"
    targets_field = "accounts"
    permissions = REGENERATE_KEYS
    summary = (
        "POST regenerateKey Key1 then Key2 on the Cognitive Services account: everyone holding "
        "the old keys is cut off for good (needs allow_irreversible); new keys are not kept"
    )

    def describe(self, target: str, params: AccountsParams) -> str:
        a = AccountId.parse(target)
        return (
            f"regenerate Key1 and Key2 of Cognitive Services account {a.account} ({target}): "
            "every client using the current keys loses access; irreversible"
        )

    async def execute(
        self, provider: AzureProvider, target: str, params: AccountsParams, ctx: ActionContext
    ) -> State:
        arm = provider.arm
        a = AccountId.parse(target)
        for key in KEYS:  # a replay regenerates again: the old keys stay revoked either way
            await arm.regenerate(a, key)
        return {"regenerated": list(KEYS)}
