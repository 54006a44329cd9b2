"""Notification events: one per thing on-call must know, each with a stable dedup key.

The dedup key is what makes "one alert per event, never a storm" hold across cycles, restarts and
replicas: the outbox refuses a second row with the same (notifier, key).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TITLES = {
    "warning": "Budget warning",
    "breach": "Budget breached (alert only)",
    "kill": "KILLED",
    "forecast_kill": "KILLED on forecast",
    "forecast_warning": "Budget forecast to breach",
    "kill_dry_run": "Would kill (dry-run)",
    "kill_failed": "Kill FAILED",
    "restore": "Restored",
    "restore_failed": "Restore FAILED",
    "incomplete": "Spend data incomplete",
    "blast_radius": "Kill blocked: blast-radius limit",
    "protected": "Budget breached on a protected target",
    "source_stale": "Spend source stale",
    "source_recovered": "Spend source recovered",
    "estimate_drift": "Estimated vs billed spend drift",
    "native_cap_drift": "Native cap changed outside killswitch",
    "native_cap_failed": "Native cap could not be set",
    "override_set": "Override set (manual restore holds)",
    "override_cleared": "Override cleared",
}


@dataclass(frozen=True)
class Event:
    kind: str
    dedup_key: str
    summary: str
    at: str
    budget: str | None = None
    group: str | None = None
    provider: str | None = None
    spend: str | None = None
    limit: str | None = None
    currency: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    threshold: str | None = None
    reason: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)
    restore_hint: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **{k: v for k, v in asdict(self).items() if k != "kind"}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        d = dict(data)
        d["kind"] = d.pop("event")
        return cls(**d)
