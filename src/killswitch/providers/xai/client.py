"""Management API calls killswitch makes, on top of ProviderHTTP; shapes come from shapes.py."""

from __future__ import annotations

from typing import Any

import httpx

from killswitch.errors import SourceError
from killswitch.http import ProviderHTTP
from killswitch.providers.xai import shapes
from killswitch.providers.xai.config import XaiConfig

MAX_PAGES = 100


class ManagementAPI:
    def __init__(self, cfg: XaiConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.team = cfg.team_id
        self.http = ProviderHTTP(
            cfg.base_url,
            headers={"authorization": f"Bearer {cfg.management_key.get_secret_value()}"},
            timeout=cfg.timeout.total_seconds(),
            transport=transport,
        )

    async def invoice_preview(self) -> shapes.InvoicePreview:
        path = shapes.INVOICE_PREVIEW.format(team_id=self.team)
        return shapes.invoice_preview(await self.http.json("GET", path), f"GET {path}")

    async def keys(self) -> list[shapes.ApiKey]:
        path = shapes.LIST_KEYS.format(team_id=self.team)
        out: list[shapes.ApiKey] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            params = {shapes.PAGE_TOKEN_PARAM: token} if token else None
            page, nxt = shapes.key_page(
                await self.http.json("GET", path, params=params), f"GET {path}"
            )
            out += page
            if nxt is None:
                return out
            if nxt == token:
                raise SourceError(f"GET {path}: the page token did not advance")
            token = nxt
        raise SourceError(f"GET {path}: more than {MAX_PAGES} pages")

    async def update_key(self, key: shapes.ApiKey, changes: dict[str, Any]) -> None:
        method, path, body = shapes.update_key_request(key, changes)
        await self.http.request(method, path, json=body)

    async def validate(self) -> None:
        await self.http.request("GET", shapes.VALIDATE_KEY)

    async def aclose(self) -> None:
        await self.http.aclose()
