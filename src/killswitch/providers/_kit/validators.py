"""Config validators the providers share: id patterns, parsed ids, de-duplicated lists.

Each provider config used to write one ``field_validator`` per id list, looping over the items
and raising for the first bad one; the error then named the whole field. These are pydantic
``AfterValidator``s instead, meant for the *item* type (``tuple[Annotated[str, matching(...)],
...]``), so pydantic reports a bad item at its index (``doctor_projects.2``) and the loop goes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from pydantic import AfterValidator

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)


def matching(pattern: str | re.Pattern[str], message: str) -> AfterValidator:
    """Accept a string ``pattern`` matches (from its start); else ``message``.

    ``message`` may name the value as ``{value!r}``; it is formatted only on failure.
    """
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(message.format(value=value))
        return value

    return AfterValidator(check)


def parsed_by(parse: Callable[[T], T]) -> AfterValidator:
    """Replace the value by ``parse(value)``; ``parse`` raises ValueError naming the right form.

    For parsers that also normalise (an ARM scope gains its leading slash), so the config holds
    the form the provider compares against.
    """
    return AfterValidator(parse)


def checked_by(check: Callable[[T], object]) -> AfterValidator:
    """Accept a value ``check`` accepts (it raises ValueError naming the right form), unchanged.

    For parsers whose result is not what the config should keep: ``user_name`` accepts a name
    or a user ARN, and the params keep what the budget wrote (which the journal records).
    """

    def run(value: T) -> T:
        check(value)
        return value

    return AfterValidator(run)


def one_of(choices: Sequence[H], message: str) -> AfterValidator:
    """Accept only a value in ``choices``; else ``message`` (which should list them)."""

    def check(value: H) -> H:
        if value not in choices:
            raise ValueError(message)
        return value

    return AfterValidator(check)


def _unique(values: Sequence[H]) -> tuple[H, ...]:
    """The items once each, first occurrence first."""
    return tuple(dict.fromkeys(values))


unique = AfterValidator(_unique)
"""A tuple field without repeats (order kept): listing a zone or project twice is harmless."""


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback IP: a test stand-in or proxy on this host, not the real API."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
