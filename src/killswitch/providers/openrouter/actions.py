"""OpenRouter actions. Disabling is reversible (PATCH disabled); deleting is not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from killswitch.errors import MalformedResponse
from killswitch.http import HTTPStatusError
from killswitch.plugins import Action, ActionContext, ActionParams, Provider, registry
from killswitch.providers.openrouter.provider import OpenRouterProvider


def _p(provider: Provider) -> OpenRouterProvider:
    assert isinstance(provider, OpenRouterProvider)
    return provider


@registry.action
class DisableKey(Action):
    name = "openrouter.disable-key"
    provider_type = "openrouter"
    permissions = ("management key",)
    summary = "PATCH /keys/{hash} disabled=true: the key stops working at once"
    undo_summary = "PATCH /keys/{hash} disabled=<prior value> (false unless it was already off)"

    async def snapshot(
        self, provider: Provider, target: str, params: ActionParams
    ) -> dict[str, Any]:
        body = await _p(provider).http.json("GET", f"/keys/{target}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("disabled"), bool):
            raise MalformedResponse(f"GET /keys/{target}: no boolean data.disabled")
        return {"disabled": data["disabled"]}

    async def execute(
        self, provider: Provider, target: str, params: ActionParams, ctx: ActionContext
    ) -> dict[str, Any]:
        # PATCH unconditionally: idempotent, and a replay after a crash must not skip it.
        await _p(provider).http.request("PATCH", f"/keys/{target}", json={"disabled": True})
        return {}

    async def undo(
        self,
        provider: Provider,
        target: str,
        params: ActionParams,
        prior: Mapping[str, Any],
        ctx: ActionContext,
    ) -> None:
        await _p(provider).http.request(
            "PATCH", f"/keys/{target}", json={"disabled": bool(prior.get("disabled", False))}
        )


@registry.action
class DeleteKey(Action):
    name = "openrouter.delete-key"
    provider_type = "openrouter"
    irreversible = True
    permissions = ("management key",)
    summary = "DELETE /keys/{hash}: irreversible; needs allow_irreversible"

    async def execute(
        self, provider: Provider, target: str, params: ActionParams, ctx: ActionContext
    ) -> dict[str, Any]:
        try:
            await _p(provider).http.request("DELETE", f"/keys/{target}")
        except HTTPStatusError as exc:
            if exc.status != 404:  # already gone: the goal holds
                raise
            return {"already_deleted": True}
        return {}
