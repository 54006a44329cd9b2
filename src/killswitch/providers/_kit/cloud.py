"""Building blocks the cloud providers (aws, azure, gcp) share."""

from __future__ import annotations

from typing import Any


def injected_clients(hooks: Any, *names: str) -> dict[str, Any]:
    """The ready clients a hooks dataclass carries under ``names``, by name.

    Tests and embedders inject fakes this way; a client left unset (``None``) is built lazily
    from the credentials on first use instead.
    """
    return {name: client for name in names if (client := getattr(hooks, name)) is not None}
