"""Notifiers deliver outbox events: Slack, signed webhooks, PagerDuty Events v2."""

from __future__ import annotations

from typing import Protocol, cast

import httpx

from killswitch.notifiers.events import Event


class Notifier(Protocol):
    name: str

    async def send(self, event: Event) -> None:
        """Deliver or raise; the outbox retries with backoff."""


def build_notifiers(
    configs: object, transport: httpx.AsyncBaseTransport | None = None
) -> list[Notifier]:
    from killswitch.notifiers.pagerduty import PagerDutyNotifier
    from killswitch.notifiers.slack import SlackNotifier
    from killswitch.notifiers.webhook import WebhookNotifier

    out: list[Notifier] = []
    counts: dict[str, int] = {}
    for cfg in configs:  # type: ignore[attr-defined]
        counts[cfg.type] = counts.get(cfg.type, 0) + 1
        name = cfg.name or (cfg.type if counts[cfg.type] == 1 else f"{cfg.type}-{counts[cfg.type]}")
        cls = {"webhook": WebhookNotifier, "slack": SlackNotifier, "pagerduty": PagerDutyNotifier}[
            cfg.type
        ]
        out.append(cast(Notifier, cls(name, cfg, transport)))
    return out


__all__ = ["Event", "Notifier", "build_notifiers"]
