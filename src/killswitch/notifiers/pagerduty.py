"""PagerDuty Events API v2: trigger on kill, resolve on restore, one incident per budget+target+window.

The dedup key of a restore must equal its kill's, so it is built from the kill's window start,
which the engine carries in the restore event.
"""

from __future__ import annotations

import json

from killswitch.config import PagerDutyNotifierConfig
from killswitch.notifiers._post import HttpNotifier, post
from killswitch.notifiers.events import Event

RESOLVES = {"restore"}
SEVERITY = {
    "kill": "critical",
    "forecast_kill": "critical",
    "kill_failed": "critical",
    "blast_radius": "critical",
    "restore_failed": "error",
    "source_stale": "warning",
    "kill_dry_run": "info",
}


def incident_key(event: Event) -> str:
    return f"killswitch/{event.budget}/{event.group}/{event.details.get('kill_window_start') or event.window_start}"


class PagerDutyNotifier(HttpNotifier[PagerDutyNotifierConfig]):
    def wants(self, event: Event) -> bool:
        return event.kind in self.cfg.page_on or event.kind in RESOLVES

    async def send(self, event: Event) -> None:
        if not self.wants(event):
            return
        payload: dict[str, object] = {
            "routing_key": self.cfg.routing_key.get_secret_value(),
            "event_action": "resolve" if event.kind in RESOLVES else "trigger",
            "dedup_key": incident_key(event) if event.budget else event.dedup_key,
        }
        if event.kind not in RESOLVES:
            payload["payload"] = {
                "summary": f"{event.title}: {event.budget or ''} {event.summary}"[:1024],
                "source": "killswitch",
                "severity": SEVERITY.get(event.kind, "warning"),
                "component": event.provider or "killswitch",
                "group": event.budget or "",
                "class": event.kind,
                "custom_details": {k: v for k, v in event.to_json().items() if v},
            }
        await post(
            str(self.cfg.url),
            json.dumps(payload).encode(),
            {"content-type": "application/json"},
            self.cfg.timeout,
            self.transport,
        )
