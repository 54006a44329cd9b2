"""The HTTP side both admin APIs share: a paced client and ``page=<next_page>`` report paging.

OpenAI's usage/costs reports and Anthropic's usage/cost reports take the same ``page`` query
parameter and answer the same envelope, so one :class:`ReportClient` reads every page of either;
each provider's ``AdminAPI`` adds its auth headers and whatever else it needs (Anthropic's gate,
OpenAI's ``{object: list}`` paging).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import httpx

from killswitch.http import Pacer, ProviderHTTP
from killswitch.providers._admin_api.pages import follow
from killswitch.providers._admin_api.shapes import Page

T = TypeVar("T")
Params = Sequence[tuple[str, str | int]]


class ReportClient:
    """A :class:`ProviderHTTP` with auth ``headers`` and a pause between requests, and paging."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout: timedelta,
        page_interval: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.http = ProviderHTTP(
            base_url,
            headers=headers,
            timeout=timeout.total_seconds(),
            pacer=Pacer(page_interval),
            transport=transport,
        )

    async def pages(
        self, path: str, params: Params, page: Callable[[Any, str], Page[T]], max_pages: int
    ) -> list[Page[T]]:
        """Every page of a report: ``page(body, where)`` checks one; follow ``next_page``."""

        async def one(cursor: str | None) -> tuple[Page[T], bool, str | None]:
            q = list(params) + ([("page", cursor)] if cursor else [])
            p = page(await self.http.json("GET", path, params=q), f"GET {path}")
            return p, p.has_more, p.cursor

        return await follow(one, f"GET {path}", max_pages, "next_page")

    async def aclose(self) -> None:
        await self.http.aclose()
