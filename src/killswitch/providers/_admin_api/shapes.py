"""Small validators for admin-API responses: a response we cannot read never becomes $0.

Each raises :class:`MalformedResponse` naming the field (``where``), never echoing the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from killswitch.errors import MalformedResponse
from killswitch.model import to_decimal

T = TypeVar("T")
U = TypeVar("U")


def obj(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise MalformedResponse(f"{where} is not an object")
    return v


def count(v: Any, where: str) -> int:
    """A non-negative integer (``bool`` is not one, although Python says it is an int)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise MalformedResponse(f"{where} is not a non-negative integer")
    return v


def opt_count(r: dict[str, Any], name: str, where: str) -> int:
    """An optional count: absent or null is 0; anything else must be a non-negative integer."""
    v = r.get(name)
    return 0 if v is None else count(v, f"{where}.{name}")


def decimal(v: Any, where: str, *, negative: str | None = None) -> Decimal:
    """``v`` (its JSON type already checked by the caller) as a finite Decimal.

    NaN, infinity and unparsable text raise instead of becoming a number. ``negative``, when
    given, is the message (``{where}`` and ``{amount}`` filled in) for an amount below zero:
    spend that would silently reduce spend.
    """
    try:
        amount = to_decimal(v, field_name=where)
    except ValueError as exc:
        raise MalformedResponse(str(exc)) from None
    if negative is not None and amount < 0:
        raise MalformedResponse(negative.format(where=where, amount=amount))
    return amount


def opt_str(v: Any, where: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise MalformedResponse(f"{where} is not a string or null")
    return v


def span(
    b: dict[str, Any], where: str, fields: tuple[str, str], when: Callable[[Any, str], datetime]
) -> tuple[datetime, datetime, list[Any]]:
    """A report bucket's ``[start, end)`` and its ``results`` list.

    ``fields`` name its start and end (``starting_at``/``ending_at``, ``start_time``/
    ``end_time``) and ``when`` parses one; a bucket that does not end after it starts is refused.
    """
    first, last = fields
    start = when(b.get(first), f"{where}.{first}")
    end = when(b.get(last), f"{where}.{last}")
    if end <= start:
        raise MalformedResponse(f"{where}: {last} is not after {first}")
    results = b.get("results")
    if not isinstance(results, list):
        raise MalformedResponse(f"{where}: no 'results' list")
    return start, end, results


@dataclass(frozen=True)  # no slots: a frozen slotted generic breaks when built as Page[X](...)
class Page(Generic[T]):
    """One page of a paged admin-API answer: what it holds, whether more follow, and from where.

    ``cursor`` is the report envelope's ``next_page`` (``{data: [...], has_more, next_page}``,
    both admin APIs) or the ``last_id`` of OpenAI's ``{object: list}`` endpoints; it is set
    whenever ``has_more`` is, so paging never stops early and misses spend.
    """

    data: list[T]
    has_more: bool
    cursor: str | None

    def checked(self, item: Callable[[Any, str], U], where: str) -> Page[U]:
        """The page with each item checked by ``item(value, "<where>.data[i]")``."""
        data = [item(x, f"{where}.data[{i}]") for i, x in enumerate(self.data)]
        return Page(data, self.has_more, self.cursor)


def listing(b: dict[str, Any], where: str) -> tuple[list[Any], bool]:
    """The ``data`` list and ``has_more`` flag every paged admin-API answer carries."""
    data = b.get("data")
    if not isinstance(data, list):
        raise MalformedResponse(f"{where}: no 'data' list")
    has_more = b.get("has_more")
    if not isinstance(has_more, bool):
        raise MalformedResponse(f"{where}: 'has_more' is not a boolean")
    return data, has_more


def envelope(b: dict[str, Any], where: str, *, next_required: bool = False) -> Page[Any]:
    """Check the envelope; ``has_more`` without a cursor would make us stop early and miss spend."""
    data, has_more = listing(b, where)
    if next_required and "next_page" not in b:
        raise MalformedResponse(f"{where}: no 'next_page'")
    nxt = opt_str(b.get("next_page"), f"{where}.next_page")
    if has_more and not nxt:
        raise MalformedResponse(f"{where}: has_more is true but next_page is empty")
    return Page(data, has_more, nxt)
