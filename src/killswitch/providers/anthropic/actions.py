"""Anthropic actions: deactivate an API key (reversible) and archive a workspace (not).

Deactivating is ``POST /v1/organizations/api_keys/{id}`` with ``{"status": "inactive"}``; the
prior status is read first (``snapshot``) and undo sets it back, which in practice means
``active``. Keys that are already inactive, archived or expired are left alone, and so is a key
someone archived while it was deactivated: archived keys cannot be reactivated.
"""

from __future__ import annotations

import re

from killswitch.errors import ActionError, RefusedAction
from killswitch.http import HTTPStatusError
from killswitch.plugins import Action, ActionContext, ActionParams, Prior, State, registry
from killswitch.providers.anthropic.client import KEYS_PATH, WORKSPACES_PATH
from killswitch.providers.anthropic.provider import AnthropicProvider
from killswitch.providers.anthropic.shapes import (
    DEFAULT_WORKSPACE,
    WORKBENCH,
    api_key_status,
    workspace_archived,
)

KEY_ID = re.compile(r"^apikey_[A-Za-z0-9]+$")
WORKSPACE_ID = re.compile(r"^wrkspc_[A-Za-z0-9]+$")
ADMIN_KEY = "Admin API key (sk-ant-admin...; only organization admins can create one)"


NoParams = ActionParams  # neither action takes parameters


def _key_path(target: str) -> str:
    if target == WORKBENCH:
        raise RefusedAction(
            "usage from the Console Workbench has no API key to deactivate; limit the "
            "Workbench users' access or archive the workspace instead"
        )
    if not KEY_ID.match(target):
        raise RefusedAction(f"{target!r} is not an Anthropic API key id (apikey_...)")
    return f"{KEYS_PATH}/{target}"


async def _status(provider: AnthropicProvider, path: str) -> str:
    return api_key_status(await provider.api.http.json("GET", path), f"GET {path}")


async def _set_status(provider: AnthropicProvider, path: str, status: str) -> None:
    body = await provider.api.http.json("POST", path, json={"status": status})
    got = api_key_status(body, f"POST {path}")
    if got != status:
        raise ActionError(f"POST {path}: asked for status {status}, the key reports {got}")


@registry.action
class DeactivateKey(Action[AnthropicProvider, NoParams]):
    name = "anthropic.deactivate-key"
    permissions = (ADMIN_KEY,)
    summary = 'POST /v1/organizations/api_keys/{id} {"status":"inactive"}: the key stops working'
    undo_summary = "POST the prior status back (active); archived/expired keys are left alone"

    async def snapshot(self, provider: AnthropicProvider, target: str, params: NoParams) -> State:
        return {"status": await _status(provider, _key_path(target))}

    async def applied(self, provider: AnthropicProvider, target: str, params: NoParams) -> bool:
        # inactive, or archived/expired: nothing can spend, which is what execute leaves alone
        return await _status(provider, _key_path(target)) != "active"

    async def execute(
        self, provider: AnthropicProvider, target: str, params: NoParams, ctx: ActionContext
    ) -> State:
        path = _key_path(target)
        current = await _status(provider, path)
        if current != "active":  # inactive already, or archived/expired: nothing can spend
            return {"status": current}
        await _set_status(provider, path, "inactive")
        return {"status": current}

    async def undo(
        self,
        provider: AnthropicProvider,
        target: str,
        params: NoParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        path = _key_path(target)
        want = prior.get("status")
        if want != "active":
            return  # it was not active before us: leave it as it was
        current = await _status(provider, path)
        if current == "active":
            return
        if current != "inactive":
            raise RefusedAction(
                f"{target} is now {current} (changed by someone else); it cannot be set active"
            )
        await _set_status(provider, path, "active")


@registry.action
class ArchiveWorkspace(Action[AnthropicProvider, NoParams]):
    name = "anthropic.archive-workspace"
    target_dim = "workspace"
    permissions = (ADMIN_KEY,)
    summary = (
        "POST /v1/organizations/workspaces/{id}/archive: irreversible (no unarchive in the "
        "Admin API); needs allow_irreversible"
    )

    async def execute(
        self, provider: AnthropicProvider, target: str, params: NoParams, ctx: ActionContext
    ) -> State:
        if target == DEFAULT_WORKSPACE:
            raise RefusedAction("the default workspace cannot be archived")
        if not WORKSPACE_ID.match(target):
            raise RefusedAction(f"{target!r} is not an Anthropic workspace id (wrkspc_...)")
        path = f"{WORKSPACES_PATH}/{target}"
        http = provider.api.http
        if workspace_archived(await http.json("GET", path), f"GET {path}"):
            return {"already_archived": True}
        try:
            body = await http.json("POST", f"{path}/archive")
        except HTTPStatusError as exc:
            if exc.status == 409:  # archived between our read and our call: the goal holds
                return {"already_archived": True}
            raise
        if not workspace_archived(body, f"POST {path}/archive"):
            raise ActionError(f"POST {path}/archive: the workspace is not reported archived")
        return {"already_archived": False}
