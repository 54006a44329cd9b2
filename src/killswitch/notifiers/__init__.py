"""Notifiers deliver outbox events: Slack, signed webhooks, PagerDuty Events v2."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, cast

from killswitch.config import NotifierConfig
from killswitch.notifiers.events import Event

if TYPE_CHECKING:
    import httpx

# Each notifier's module is imported when a config names it: a daemon without notifiers (the
# demo) never loads the HTTP stack, which is a sixth of its idle memory.
_CLASSES = {
    "slack": "killswitch.notifiers.slack:SlackNotifier",
    "pagerduty": "killswitch.notifiers.pagerduty:PagerDutyNotifier",
    "webhook": "killswitch.notifiers.webhook:WebhookNotifier",
}


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
    module, cls = _CLASSES[cfg.type].split(":")
    return cast("Notifier", getattr(importlib.import_module(module), cls)(name, cfg, transport))


__all__ = ["Event", "Notifier", "build_notifiers"]
