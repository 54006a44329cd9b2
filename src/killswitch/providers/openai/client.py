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

from killswitch.errors import SourceError
from killswitch.http import Pacer, ProviderHTTP
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.providers.openai.shapes import ListPage, Page, list_page, page

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
        pages: list[Page] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            q = list(params) + ([("page", cursor)] if cursor else [])
            p = page(await self.http.json("GET", path, params=q), f"GET {path}")
            pages.append(p)
            if not p.has_more:
                return pages
            if p.next_page == cursor:
                raise SourceError(f"GET {path}: next_page did not advance; refusing to loop")
            cursor = p.next_page
        raise SourceError(f"GET {path}: more than {MAX_PAGES} pages; refusing to guess the rest")

    async def list_all(self, path: str, params: Params = ()) -> list[dict[str, Any]]:
        """Every item of an ``{object: list}`` endpoint: follow ``after=last_id``."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            q = list(params) + ([("after", after)] if after else [])
            lp: ListPage = list_page(await self.http.json("GET", path, params=q), f"GET {path}")
            items += lp.data
            if not lp.has_more:
                return items
            if lp.last_id == after:
                raise SourceError(f"GET {path}: last_id did not advance; refusing to loop")
            after = lp.last_id
        raise SourceError(f"GET {path}: more than {MAX_PAGES} pages; refusing to guess the rest")

    async def aclose(self) -> None:
        await self.http.aclose()
