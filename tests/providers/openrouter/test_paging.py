"""``GET /keys`` paging: the next page is fetched while the caller works on the current one,
never more than one request at a time, and a caller that stops early leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime
from typing import Any

import httpx

from killswitch.plugins import ProviderContext
from killswitch.providers.openrouter.provider import (
    PAGE_SIZE,
    OpenRouterConfig,
    OpenRouterProvider,
    OpenRouterSource,
)


def key(i: int) -> dict[str, Any]:
    amounts = dict.fromkeys(("usage", "usage_daily", "usage_weekly", "usage_monthly"), 1.5)
    return {"hash": f"{i:064x}", "name": f"k{i}", "disabled": False, **amounts}


class Listing:
    """Serves ``n`` keys a page at a time and records what it saw, and when."""

    def __init__(self, n: int, fail_from: int | None = None) -> None:
        self.n, self.fail_from = n, fail_from
        self.events: list[str] = []
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        self.events.append(f"request {offset}")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.005)  # a little network time, so overlaps would show
        self.in_flight -= 1
        if self.fail_from is not None and offset >= self.fail_from:
            return httpx.Response(401, json={"error": {"message": "bad key"}})
        page = [key(i) for i in range(offset, min(offset + PAGE_SIZE, self.n))]
        return httpx.Response(200, json={"data": page})


def source(listing: Listing) -> OpenRouterSource:
    cfg = OpenRouterConfig(type="openrouter", api_key="sk-or-test")
    p = OpenRouterProvider("or", cfg, ProviderContext(http_transport=httpx.MockTransport(listing)))
    return OpenRouterSource(p)


async def test_the_next_page_is_on_its_way_while_the_caller_works() -> None:
    listing = Listing(250)
    pages = source(listing).pages()
    seen = 0
    async for page in pages:
        await asyncio.sleep(0.02)  # the caller's work on this page
        listing.events.append(f"done {seen}")
        seen += len(page)
    assert seen == 250
    assert listing.events == [
        "request 0",
        "request 100",  # asked for before the caller is done with page 0
        "done 0",
        "request 200",
        "done 100",
        "done 200",  # a short page is the last: nothing more is asked for
    ]
    assert listing.most_in_flight == 1  # the API still sees one read at a time


async def test_a_full_last_page_is_confirmed_by_an_empty_one() -> None:
    listing = Listing(200)
    assert len(await source(listing).list_keys()) == 200
    assert [e for e in listing.events if e.startswith("request")] == [
        "request 0",
        "request 100",
        "request 200",
    ]


async def test_a_caller_that_stops_early_leaves_no_request_and_no_unread_error() -> None:
    unread: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: unread.append(ctx))
    listing = Listing(1000, fail_from=100)  # the prefetched page fails
    pages = source(listing).pages()
    first = await anext(pages)
    await asyncio.sleep(0.02)  # the prefetch has failed by now
    await pages.aclose()
    gc.collect()
    await asyncio.sleep(0)
    assert len(first) == PAGE_SIZE
    assert listing.events == ["request 0", "request 100"]
    assert unread == []


async def test_an_error_on_a_later_page_reaches_the_poll() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    result = await source(Listing(1000, fail_from=200)).poll(now, now)
    assert not result.ok and "401" in (result.error or "")
