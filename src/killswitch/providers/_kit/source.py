"""A source whose read raises :class:`SourceError` for what the provider refused or garbled.

``poll`` must never raise for a provider's failure: the engine records it as the poll's error,
marks the source stale and keeps the last good data. Sources written as one ``_poll`` that
raises share this wrapper instead of each writing the same ``try``/``except``.
"""

from __future__ import annotations

from datetime import datetime

from killswitch.errors import SourceError
from killswitch.model import PollResult


class GuardedSource:
    """``poll`` is ``_poll`` with a :class:`SourceError` turned into the poll's error."""

    name: str

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            return await self._poll(now, since)
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))

    async def _poll(self, now: datetime, since: datetime) -> PollResult:
        raise NotImplementedError
