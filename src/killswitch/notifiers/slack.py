"""Slack incoming webhook with Block Kit: readable at 3 a.m. in one glance.

Header: what happened and to which budget. Fields: spend/limit, window, target. Then what was done
(each action and its result) and the exact command that undoes it.
"""

from __future__ import annotations

import json
from typing import Any

from killswitch.config import SlackNotifierConfig
from killswitch.notifiers._post import HttpNotifier, post
from killswitch.notifiers.events import Event

EMOJI = {
    "kill": ":rotating_light:",
    "forecast_kill": ":rotating_light:",
    "forecast_warning": ":chart_with_upwards_trend:",
    "kill_failed": ":x:",
    "warning": ":warning:",
    "restore": ":white_check_mark:",
    "breach": ":warning:",
    "blast_radius": ":no_entry:",
    "source_stale": ":hourglass:",
    "incomplete": ":grey_question:",
    "kill_dry_run": ":test_tube:",
}


def blocks(event: Event) -> dict[str, Any]:
    head = f"{EMOJI.get(event.kind, ':bell:')} {event.title}"
    if event.budget:
        head += f": {event.budget}"
    fields = []
    if event.spend is not None or event.limit is not None:
        fields.append(
            {
                "type": "mrkdwn",
                "text": f"*Spend / limit*\n{event.spend or '?'} / "
                f"{event.limit} {event.currency or ''}",
            }
        )
    if event.group:
        fields.append({"type": "mrkdwn", "text": f"*Target*\n`{event.group}`"})
    if event.window_start:
        fields.append(
            {"type": "mrkdwn", "text": f"*Window*\n{event.window_start} →\n{event.window_end}"}
        )
    if event.provider:
        fields.append({"type": "mrkdwn", "text": f"*Provider*\n{event.provider}"})
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": event.summary[:2900]}},
    ]
    if fields:
        out.append({"type": "section", "fields": fields[:10]})
    if event.actions:
        lines = [
            f"• `{a['action']}` on `{a['target']}`: *{a['result']}*"
            + (f" ({a['error']})" if a.get("error") else "")
            for a in event.actions[:20]
        ]
        out.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Done*\n" + "\n".join(lines)}}
        )
    if event.restore_hint:
        out.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Undo: `{event.restore_hint}`"}],
            }
        )
    return {"text": f"{head}: {event.summary}"[:3000], "blocks": out}


class SlackNotifier(HttpNotifier[SlackNotifierConfig]):
    async def send(self, event: Event) -> None:
        body = json.dumps(blocks(event)).encode()
        await post(
            self.cfg.webhook_url.get_secret_value(),
            body,
            {"content-type": "application/json"},
            self.cfg.timeout,
            self.transport,
        )
