"""Test-only time shift for the daemon subprocess (put this directory first on PYTHONPATH).

The daemon reads its clock through ``killswitch.daemon.system_clock`` -> ``datetime.now(UTC)``.
With ``KILLSWITCH_TEST_CLOCK_FILE`` set, that module's ``datetime`` becomes one whose ``now()`` is
the real time plus the offset (seconds) in the file, re-read on every call, so a test can move
the running daemon into the next month. Nothing else is shifted: token expiry and HTTP stay on
real time. Azure's budget periods are calendar months, so a short ``interval:`` window cannot
stand in for "the next period" the way it can for bucket sources.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, tzinfo

_FILE = os.environ.get("KILLSWITCH_TEST_CLOCK_FILE")

if _FILE:
    import killswitch.daemon as _daemon

    _PATH: str = _FILE

    class _ShiftedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            try:
                with open(_PATH) as f:
                    offset = float(f.read().strip() or 0)
            except (OSError, ValueError):
                offset = 0.0
            return datetime.now(tz) + timedelta(seconds=offset)

    setattr(_daemon, "datetime", _ShiftedDatetime)  # noqa: B010 - a module global, on purpose
