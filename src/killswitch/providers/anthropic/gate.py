"""A sustained-rate limiter for Anthropic Admin API polls.

Anthropic documents the Usage & Cost Admin API as supporting one poll per minute sustained, with
short bursts (pagination) allowed. ``RateGate`` is a token bucket per endpoint: it refills one
token per ``interval`` up to ``burst`` tokens, so scheduler jitter (a cycle firing a few
milliseconds early) never turns into a refused poll, while any number of attempts over a long
span stays at one per interval. A poll is one token no matter how many pages it reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateGate:
    interval: float  # seconds per token; 0 disables the gate
    burst: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def acquire(self, key: str) -> bool:
        """Take a token for ``key`` if one is available; False means: do not call now."""
        if self.interval <= 0:
            return True
        now = self.clock()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.at) / self.interval)
        b.at = now
        if b.tokens < 1:
            return False
        b.tokens -= 1
        return True

    def wait_seconds(self, key: str) -> float:
        """How long until ``acquire(key)`` would succeed (for messages)."""
        b = self._buckets.get(key)
        if b is None or self.interval <= 0:
            return 0.0
        tokens = min(self.burst, b.tokens + (self.clock() - b.at) / self.interval)
        return max(0.0, (1 - tokens) * self.interval)
