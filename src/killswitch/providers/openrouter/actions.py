"""OpenRouter actions. Disabling is reversible (PATCH disabled); deleting is not."""

from __future__ import annotations

from killswitch.errors import MalformedResponse
from killswitch.http import HTTPStatusError
from killswitch.plugins import Action, ActionContext, ActionParams, Prior, State, registry
from killswitch.providers.openrouter.provider import OpenRouterProvider

Params = ActionParams  # neither action takes parameters


async def _disabled(provider: OpenRouterProvider, target: str) -> bool:
    """The key's ``disabled`` flag as OpenRouter reports it (GET /keys/{hash})."""
    body = await provider.http.json("GET", f"/keys/{target}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("disabled"), bool):
        raise MalformedResponse(f"GET /keys/{target}: no boolean data.disabled")
    return bool(data["disabled"])


@registry.action
class DisableKey(Action[OpenRouterProvider, Params]):
    name = "openrouter.disable-key"
    permissions = ("management key",)
    summary = "PATCH /keys/{hash} disabled=true: the key stops working at once"
    undo_summary = "PATCH /keys/{hash} disabled=<prior value> (false unless it was already off)"

    async def snapshot(self, provider: OpenRouterProvider, target: str, params: Params) -> State:
        return {"disabled": await _disabled(provider, target)}

    async def applied(self, provider: OpenRouterProvider, target: str, params: Params) -> bool:
        return await _disabled(provider, target)

    async def execute(
        self, provider: OpenRouterProvider, target: str, params: Params, ctx: ActionContext
    ) -> State:
        # PATCH unconditionally: idempotent; a replay has asked `applied` (a GET) first.
        await provider.http.request("PATCH", f"/keys/{target}", json={"disabled": True})
        return {}

    async def undo(
        self,
        provider: OpenRouterProvider,
        target: str,
        params: Params,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        await provider.http.request(
            "PATCH", f"/keys/{target}", json={"disabled": bool(prior.get("disabled", False))}
        )


@registry.action
class DeleteKey(Action[OpenRouterProvider, Params]):
    name = "openrouter.delete-key"
    permissions = ("management key",)
    summary = "DELETE /keys/{hash}: irreversible; needs allow_irreversible"

    async def execute(
        self, provider: OpenRouterProvider, target: str, params: Params, ctx: ActionContext
    ) -> State:
        try:
            await provider.http.request("DELETE", f"/keys/{target}")
        except HTTPStatusError as exc:
            if exc.status != 404:  # already gone: the goal holds
                raise
            return {"already_deleted": True}
        return {}
