"""The generic ``webhook`` action: POST the decision to your own endpoint for custom kill logic."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import AnyHttpUrl, Field, SecretStr

from killswitch.http import ProviderHTTP
from killswitch.plugins import (
    GENERIC,
    Action,
    ActionContext,
    ActionParams,
    Prior,
    Provider,
    State,
    registry,
)
from killswitch.signing import signed_headers


class WebhookParams(ActionParams):
    url: AnyHttpUrl
    secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 signing secret")
    timeout: float = Field(default=10.0, gt=0)


@registry.action
class WebhookAction(Action[Provider[Any], WebhookParams]):
    name = "webhook"
    provider_type = GENERIC
    params_model = WebhookParams
    target_dim = None
    summary = "POST the kill decision (JSON, signed) to a URL that carries out custom logic"
    undo_summary = "POST the same payload with op=restore"

    async def _post(
        self,
        op: str,
        provider: Provider[Any],
        target: str,
        params: WebhookParams,
        ctx: ActionContext,
    ) -> int:
        payload = {
            "op": op,
            "budget": ctx.budget,
            "group": ctx.group,
            "target": target,
            "provider": provider.name,
            "spend": str(ctx.spend.amount) if ctx.spend else None,
            "limit": str(ctx.limit.amount),
            "currency": ctx.limit.currency,
            "window_start": ctx.window.start.isoformat(),
            "window_end": ctx.window.end.isoformat(),
            "at": ctx.now.isoformat(),
            "manual": ctx.manual,
        }
        body = json.dumps(payload, sort_keys=True).encode()
        ts = str(int(ctx.now.timestamp()))
        secret = params.secret.get_secret_value() if params.secret else None
        transport: httpx.AsyncBaseTransport | None = provider.context.http_transport
        # To the URL as configured: joining the base URL with "" would POST to url + "/".
        # Errors name the path only; the query (which may carry a token) goes as params.
        parts = urlsplit(str(params.url))
        origin = f"{parts.scheme}://{parts.netloc}"
        client = ProviderHTTP(origin, timeout=params.timeout, transport=transport)
        try:
            resp = await client.request(
                "POST",
                parts.path or "/",
                params=dict(parse_qsl(parts.query)),
                content=body,
                headers=signed_headers(secret, ts, body),
            )
            return resp.status_code
        finally:
            await client.aclose()

    async def execute(
        self, provider: Provider[Any], target: str, params: WebhookParams, ctx: ActionContext
    ) -> State:
        status = await self._post("kill", provider, target, params, ctx)
        return {"status": status}

    async def undo(
        self,
        provider: Provider[Any],
        target: str,
        params: WebhookParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        await self._post("restore", provider, target, params, ctx)
