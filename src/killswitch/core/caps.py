"""Native caps: the provider's own hard limit, kept equal to a budget's limit.

A native cap is the first line of defence (the provider refuses spend past it with no lag of
ours); the poll-and-kill path stays the second. This module holds the value type and the one
decision made about it every cycle, "desired vs actual -> set, alert or nothing", which is pure
so it can be tested without a provider and so ``killswitch caps`` and the daemon agree on it.

Drift is an *episode*: it starts when a cap that was in sync (or that we set) is found changed,
and ends when the cap is back in sync. One episode is announced once, however many cycles it
lasts; a second change to another value during an episode is a new episode.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

CAP_MODES = ("true", "verify", "false")


@dataclass(frozen=True, slots=True)
class NativeCap:
    """A provider-side hard limit: ``amount`` None means no cap is set there at all."""

    amount: Decimal | None
    currency: str = "USD"
    reset: str | None = None  # the provider's period: daily | weekly | monthly | None (never)

    def describe(self) -> str:
        if self.amount is None:
            return "no cap"
        period = f" {self.reset}" if self.reset else " (no reset)"
        return f"{self.amount.normalize():f} {self.currency}{period}"

    def to_json(self) -> dict[str, Any]:
        amount = None if self.amount is None else f"{self.amount.normalize():f}"
        return {"amount": amount, "currency": self.currency, "reset": self.reset}

    @classmethod
    def from_json(cls, data: Any) -> NativeCap | None:
        if not isinstance(data, dict):
            return None
        raw = data.get("amount")
        amount = None if raw is None else Decimal(str(raw))
        return cls(amount, str(data.get("currency") or "USD"), data.get("reset"))

    def matches(self, other: NativeCap) -> bool:
        """Same cap: amounts compared as numbers (10 == 10.0), unset amounts ignore the rest."""
        if self.amount is None or other.amount is None:
            return self.amount is None and other.amount is None
        return (self.amount, self.currency, self.reset) == (
            other.amount,
            other.currency,
            other.reset,
        )


class CapStatus(enum.StrEnum):
    IN_SYNC = "in_sync"
    UNSET = "unset"  # never in sync since we first looked: set it, this is no drift
    DRIFT = "drift"  # was in sync (or set by us) and changed outside killswitch
    UNSUPPORTED = "unsupported"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Drift:
    """An open drift episode: the value found, and when it was first seen."""

    actual: NativeCap
    since: datetime


@dataclass(frozen=True, slots=True)
class CapVerdict:
    status: CapStatus
    write: bool  # set the cap back to the desired value now
    announce: bool  # a new drift episode: raise native_cap_drift
    drift: Drift | None  # the episode open after this check (None: in sync)


def judge(
    desired: NativeCap,
    actual: NativeCap,
    *,
    enforce: bool,
    synced: bool,
    drift: Drift | None,
    now: datetime,
) -> CapVerdict:
    """What to do about one target's cap this cycle.

    ``enforce``: the budget says ``native_cap: true`` (write) rather than ``verify`` or a dry
    run. ``synced``: the cap was in sync, or set by us, at some point (so a difference now was
    made outside killswitch). In verify mode every difference is drift: nothing is ever written,
    so there is no first set to tell it apart from.
    """
    if actual.matches(desired):
        return CapVerdict(CapStatus.IN_SYNC, False, False, None)
    if enforce and not synced:
        return CapVerdict(CapStatus.UNSET, True, False, None)
    same_episode = drift is not None and drift.actual.matches(actual)
    episode = drift if same_episode and drift is not None else Drift(actual, now)
    return CapVerdict(CapStatus.DRIFT, enforce, not same_episode, episode)
