"""Cursor pagination: follow a cursor until the API says there is no more, within a bound.

A cursor that does not advance would loop forever, and stopping at the page limit would silently
drop spend; both are errors, so a poll fails loudly instead of reporting less than was spent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from killswitch.errors import SourceError

T = TypeVar("T")
# One page: (what it holds, whether there is more, the cursor of the next page).
Fetch = Callable[[str | None], Awaitable[tuple[T, bool, str | None]]]


async def follow(fetch: Fetch[T], where: str, max_pages: int, cursor_name: str) -> list[T]:
    """Every page ``fetch(cursor)`` returns, starting with no cursor."""
    out: list[T] = []
    cursor: str | None = None
    for _ in range(max_pages):
        item, more, nxt = await fetch(cursor)
        out.append(item)
        if not more:
            return out
        if nxt == cursor:
            raise SourceError(f"{where}: {cursor_name} did not advance; refusing to loop")
        cursor = nxt
    raise SourceError(f"{where}: more than {max_pages} pages; refusing to guess the rest")
