"""Test-only time shift for the daemon subprocess (put this directory on PYTHONPATH).

The engine's clock is ``build(clock=system_clock)``. With ``KILLSWITCH_TEST_CLOCK_FILE`` set, that
default becomes the real time plus the offset (seconds) in the file, re-read on every call, so a
test can move the daemon into the next billing month while it runs. Only the engine clock moves:
the scheduler, Google's auth library (token expiry) and everything else keep real time.
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
    defaults = _daemon.build.__kwdefaults__
    assert defaults is not None and "clock" in defaults, "killswitch.daemon.build lost clock="
    defaults["clock"] = shifted_clock
