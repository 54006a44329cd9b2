"""Test-only time shift for the daemon subprocess (put this directory first on PYTHONPATH).

The engine's clock is ``killswitch.daemon.build(clock=system_clock)``. With
``KILLSWITCH_TEST_CLOCK_FILE`` set, that default becomes the real time plus the offset (seconds)
in the file, re-read on every call, so a test can move the running daemon into the next month.
Only the engine's clock moves: the scheduler, token expiry and HTTP keep real time. Azure budget
periods are calendar months, so a short ``interval:`` window cannot stand in for "the next
period" the way it can for bucket sources.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

_FILE = os.environ.get("KILLSWITCH_TEST_CLOCK_FILE")


def shifted_clock() -> datetime:
    offset = 0.0
    if _FILE:
        try:
            with open(_FILE) as f:
                offset = float(f.read().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
    return datetime.now(UTC) + timedelta(seconds=offset)


if _FILE:
    import killswitch.daemon as _daemon

    defaults = _daemon.build.__kwdefaults__
    if not defaults or "clock" not in defaults:
        raise RuntimeError("killswitch.daemon.build no longer takes clock=: update the shim")
    defaults["clock"] = shifted_clock
    _daemon.system_clock = shifted_clock
