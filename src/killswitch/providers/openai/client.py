"""The Admin API client: bearer auth, polite pacing, and the two pagination styles.

Every request goes through :class:`killswitch.http.ProviderHTTP` (retries with backoff, 429
``Retry-After``, safe error messages). Query arrays are sent as repeated keys
(``group_by=project_id&group_by=model``): the spec declares them ``form``/``explode``, and that is
what OpenAI accepts (providers.md section 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from killswitch.http import Pacer, ProviderHTTP
from killswitch.providers._admin_api.pages import follow
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.providers.openai.shapes import Page, list_page, page

MAX_PAGES = 500
USAGE_PATH = "/organization/usage/{}"
COSTS_PATH = "/organization/costs"
PROJECTS_PATH = "/organization/projects"

Params = Sequence[tuple[str, str | int]]


def unix(t: datetime) -> int:
    return int(t.timestamp())


class AdminAPI:
    def __init__(
        self, cfg: OpenAIConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = ProviderHTTP(
            cfg.base_url,
            headers={"authorization": f"Bearer {cfg.admin_key.get_secret_value()}"},
            timeout=cfg.timeout.total_seconds(),
            pacer=Pacer(cfg.page_interval),
            transport=transport,
        )

    async def report(self, path: str, params: Params) -> list[Page]:
        """Every page of a usage or costs report: follow ``next_page`` while ``has_more``."""

        async def one(cursor: str | None) -> tuple[Page, bool, str | None]:
            q = list(params) + ([("page", cursor)] if cursor else [])
            p = page(await self.http.json("GET", path, params=q), f"GET {path}")
            return p, p.has_more, p.cursor

        return await follow(one, f"GET {path}", MAX_PAGES, "next_page")

    async def list_all(self, path: str, params: Params = ()) -> list[dict[str, Any]]:
        """Every item of an ``{object: list}`` endpoint: follow ``after=last_id``."""

        async def one(after: str | None) -> tuple[list[dict[str, Any]], bool, str | None]:
            q = list(params) + ([("after", after)] if after else [])
            lp = list_page(await self.http.json("GET", path, params=q), f"GET {path}")
            return lp.data, lp.has_more, lp.cursor

        pages = await follow(one, f"GET {path}", MAX_PAGES, "last_id")
        return [item for data in pages for item in data]

    async def aclose(self) -> None:
        await self.http.aclose()
