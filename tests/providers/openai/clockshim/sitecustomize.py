"""Test-only virtual time for the daemon subprocess (put this directory on PYTHONPATH).

With ``KILLSWITCH_TEST_CLOCK_FILE`` set, the engine's default clock becomes the real time plus
the offset (seconds) in that file, re-read on every call, so the OpenAI end-to-end test can put
the daemon at noon on a fixed date and later move it past midnight (a daily window reset) while
it runs. Only the engine clock moves; the scheduler keeps real time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

_FILE = os.environ.get("KILLSWITCH_TEST_CLOCK_FILE")


def shifted_clock() -> datetime:
    assert _FILE is not None
    try:
        with open(_FILE) as f:
            offset = float(f.read().strip() or 0)
    except OSError:
        offset = 0.0
    return datetime.now(UTC) + timedelta(seconds=offset)


if _FILE:
    import killswitch.daemon as _daemon

    _daemon.system_clock = shifted_clock
    _daemon.build.__kwdefaults__["clock"] = shifted_clock
