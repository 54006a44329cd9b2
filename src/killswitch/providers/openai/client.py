"""The Admin API client: bearer auth, polite pacing, and the two pagination styles.

Every request goes through :class:`killswitch.http.ProviderHTTP` (retries with backoff, 429
``Retry-After``, safe error messages). Query arrays are sent as repeated keys
(``group_by=project_id&group_by=model``): the spec declares them ``form``/``explode``, and that is
what OpenAI accepts (providers.md section 1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from killswitch.providers._admin_api.client import Params, ReportClient
from killswitch.providers._admin_api.pages import follow
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.providers.openai.shapes import Page, list_page, page

MAX_PAGES = 500
USAGE_PATH = "/organization/usage/{}"
COSTS_PATH = "/organization/costs"
PROJECTS_PATH = "/organization/projects"


def unix(t: datetime) -> int:
    return int(t.timestamp())


class AdminAPI(ReportClient):
    def __init__(
        self, cfg: OpenAIConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        headers = {"authorization": f"Bearer {cfg.admin_key.get_secret_value()}"}
        super().__init__(cfg.base_url, headers, cfg.timeout, cfg.page_interval, transport)

    async def report(self, path: str, params: Params) -> list[Page]:
        """Every page of a usage or costs report: follow ``next_page`` while ``has_more``."""
        return await self.pages(path, params, page, MAX_PAGES)

    async def list_all(self, path: str, params: Params = ()) -> list[dict[str, Any]]:
        """Every item of an ``{object: list}`` endpoint: follow ``after=last_id``."""

        async def one(after: str | None) -> tuple[list[dict[str, Any]], bool, str | None]:
            q = list(params) + ([("after", after)] if after else [])
            lp = list_page(await self.http.json("GET", path, params=q), f"GET {path}")
            return lp.data, lp.has_more, lp.cursor

        pages = await follow(one, f"GET {path}", MAX_PAGES, "last_id")
        return [item for data in pages for item in data]
