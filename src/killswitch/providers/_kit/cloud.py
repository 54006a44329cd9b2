"""Config building blocks the cloud providers (aws, azure, gcp) share.

Each cloud's config had its own ``_dur`` helper plus one ``field_validator`` per model to turn
operator strings such as ``"10m"`` into ``timedelta``; ``Duration`` carries that parsing in the
type itself, so a field only has to be annotated.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

from killswitch.durations import parse_duration


def _parse(v: Any) -> Any:
    """Parse operator duration text; leave ``None`` (and anything else) for pydantic to judge."""
    return None if v is None else parse_duration(v)


Duration = Annotated[timedelta, BeforeValidator(_parse)]
"""A ``timedelta`` config field that also accepts duration text (``"90s"``, ``"1h"``)."""


def injected_clients(hooks: Any, *names: str) -> dict[str, Any]:
    """The ready clients a hooks dataclass carries under ``names``, by name.

    Tests and embedders inject fakes this way; a client left unset (``None``) is built lazily
    from the credentials on first use instead.
    """
    return {name: client for name in names if (client := getattr(hooks, name)) is not None}
