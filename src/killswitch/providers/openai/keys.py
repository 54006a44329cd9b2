"""Capped keys on demand for OpenAI: one project service account per managed key.

OpenAI has no per-key spend cap, so the cap is the daemon's: the key's usage (``api_key_id``)
is watched by a built-in budget and the service account is deleted when it breaches. Creating
the service account returns its one API key unredacted (``api_key.value``); that value is the
secret ``killswitch keys create`` prints once.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from killswitch.errors import MalformedResponse, RefusedAction
from killswitch.http import HTTPStatusError
from killswitch.plugins import IssuedKey, KeyRequest, ManagedKey
from killswitch.providers._admin_api.shapes import obj
from killswitch.providers.openai.client import PROJECTS_PATH, AdminAPI


def service_accounts_path(project: str) -> str:
    return f"{PROJECTS_PATH}/{project}/service_accounts"


async def create(api: AdminAPI, project: str | None, request: KeyRequest) -> IssuedKey:
    """``POST .../service_accounts``: the account and its key, in the configured project."""
    if not project:
        raise RefusedAction(
            "keys_project: not set on this openai provider; set it to the project "
            "(proj_...) managed keys are created in"
        )
    path = service_accounts_path(project)
    answer = await api.http.json("POST", path, json={"name": request.name}, attempts=1)
    body = obj(answer, f"POST {path}")
    account = body.get("id")
    key = body.get("api_key")
    key = key if isinstance(key, dict) else {}
    key_id, value = key.get("id"), key.get("value")
    if not all(isinstance(v, str) and v for v in (account, key_id, value)):
        raise MalformedResponse(f"POST {path}: no id, api_key.id or api_key.value in the answer")
    ref = {"project": project, "service_account": str(account)}
    return IssuedKey(str(key_id), SecretStr(str(value)), native_cap=False, ref=ref)


async def revoke(api: AdminAPI, key: ManagedKey) -> dict[str, Any]:
    """``DELETE .../service_accounts/{id}``: the account and its key go; 404 is already gone."""
    path = f"{service_accounts_path(key.ref['project'])}/{key.ref['service_account']}"
    try:
        return obj(await api.http.json("DELETE", path), f"DELETE {path}")
    except HTTPStatusError as exc:
        if exc.status != 404:
            raise
        return {"already_deleted": True}
