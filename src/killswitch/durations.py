"""Parse human durations ("60s", "5m", "1h30m", "7d") used across config and CLI."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> timedelta:
    """Return the duration; bare numbers are seconds. Raises ValueError naming the expected form."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError("duration must be positive")
        return timedelta(seconds=text)
    s = str(text).strip().lower()
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"{text!r} is not a duration: use forms like 30s, 5m, 1h30m, 7d")
    if total <= 0:
        raise ValueError("duration must be positive")
    return timedelta(seconds=total)


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _parse_or_none(v: Any) -> Any:
    """Parse operator duration text; leave ``None`` for pydantic to judge."""
    return None if v is None else parse_duration(v)


Duration = Annotated[timedelta, BeforeValidator(_parse_or_none)]
"""A ``timedelta`` config field that also accepts duration text (``"90s"``, ``"1h"``): the type
carries the parsing, so a provider's config field only has to be annotated."""
