"""Small validators for admin-API responses: a response we cannot read never becomes $0.

Each raises :class:`MalformedResponse` naming the field (``where``), never echoing the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from killswitch.errors import MalformedResponse


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


def opt_str(v: Any, where: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise MalformedResponse(f"{where} is not a string or null")
    return v


@dataclass(frozen=True, slots=True)
class Envelope:
    """``{data: [...], has_more, next_page}``: the report envelope of both admin APIs."""

    data: list[Any]
    has_more: bool
    next_page: str | None


def envelope(b: dict[str, Any], where: str, *, next_required: bool = False) -> Envelope:
    """Check the envelope; ``has_more`` without a cursor would make us stop early and miss spend."""
    data = b.get("data")
    if not isinstance(data, list):
        raise MalformedResponse(f"{where}: no 'data' list")
    has_more = b.get("has_more")
    if not isinstance(has_more, bool):
        raise MalformedResponse(f"{where}: 'has_more' is not a boolean")
    if next_required and "next_page" not in b:
        raise MalformedResponse(f"{where}: no 'next_page'")
    nxt = opt_str(b.get("next_page"), f"{where}.next_page")
    if has_more and not nxt:
        raise MalformedResponse(f"{where}: has_more is true but next_page is empty")
    return Envelope(data, has_more, nxt)
