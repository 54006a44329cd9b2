"""Notifiers deliver outbox events: Slack, signed webhooks, PagerDuty Events v2."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import httpx

from killswitch.config import NotifierConfig, PagerDutyNotifierConfig, SlackNotifierConfig
from killswitch.notifiers.events import Event
from killswitch.notifiers.pagerduty import PagerDutyNotifier
from killswitch.notifiers.slack import SlackNotifier
from killswitch.notifiers.webhook import WebhookNotifier


class Notifier(Protocol):
    name: str

    async def send(self, event: Event) -> None:
        """Deliver or raise; the outbox retries with backoff."""


def build_notifiers(
    configs: Iterable[NotifierConfig], transport: httpx.AsyncBaseTransport | None = None
) -> list[Notifier]:
    """One notifier per entry; unnamed ones are called by their type (slack, slack-2, ...)."""
    out: list[Notifier] = []
    counts: dict[str, int] = {}
    for cfg in configs:
        counts[cfg.type] = counts.get(cfg.type, 0) + 1
        name = cfg.name or (cfg.type if counts[cfg.type] == 1 else f"{cfg.type}-{counts[cfg.type]}")
        out.append(_notifier(name, cfg, transport))
    return out


def _notifier(
    name: str, cfg: NotifierConfig, transport: httpx.AsyncBaseTransport | None
) -> Notifier:
    if isinstance(cfg, SlackNotifierConfig):
        return SlackNotifier(name, cfg, transport)
    if isinstance(cfg, PagerDutyNotifierConfig):
        return PagerDutyNotifier(name, cfg, transport)
    return WebhookNotifier(name, cfg, transport)


__all__ = ["Event", "Notifier", "build_notifiers"]
