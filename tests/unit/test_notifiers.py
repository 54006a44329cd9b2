"""Notifiers: what on-call receives, and that PagerDuty's resolve closes the kill's incident."""

from __future__ import annotations

import json

import httpx

from killswitch.config import PagerDutyNotifierConfig, SlackNotifierConfig
from killswitch.notifiers.events import Event
from killswitch.notifiers.pagerduty import PagerDutyNotifier
from killswitch.notifiers.slack import SlackNotifier, blocks

KILL = Event(
    "kill",
    "kill:b:key1:2026-11-23T00:00:00+00:00",
    "spend 12.50 USD of 10.00 USD is at or above the kill line",
    "2026-11-23T10:00:00+00:00",
    budget="per-key-daily",
    group="key1",
    provider="openrouter",
    spend="12.50",
    limit="10",
    currency="USD",
    window_start="2026-11-23T00:00:00+00:00",
    window_end="2026-11-24T00:00:00+00:00",
    actions=[{"action": "openrouter.disable-key", "target": "key1", "result": "success"}],
    restore_hint="killswitch restore -c /etc/killswitch/config.yaml per-key-daily --target key1",
)


def test_slack_message_reads_at_a_glance() -> None:
    msg = blocks(KILL)
    text = json.dumps(msg)
    assert msg["blocks"][0]["text"]["text"].endswith("KILLED: per-key-daily")
    for must in (
        "12.50 / 10 USD",
        "`key1`",
        "openrouter.disable-key",
        "*success*",
        "killswitch restore -c /etc/killswitch/config.yaml per-key-daily",
    ):
        assert must in text


async def test_slack_posts_to_the_secret_url() -> None:
    seen: list[httpx.Request] = []
    cfg = SlackNotifierConfig(type="slack", webhook_url="https://hooks.slack.test/T/B/x")
    n = SlackNotifier(
        "slack",
        cfg,
        httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, text="ok")),
    )
    await n.send(KILL)
    assert str(seen[0].url) == "https://hooks.slack.test/T/B/x"


async def test_pagerduty_trigger_and_resolve_share_a_dedup_key() -> None:
    seen: list[dict[str, object]] = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append(json.loads(r.content))
        return httpx.Response(202, json={"status": "success"})

    cfg = PagerDutyNotifierConfig(type="pagerduty", routing_key="R0UT1NGKEY")
    pd = PagerDutyNotifier("pd", cfg, httpx.MockTransport(handler))
    await pd.send(KILL)
    restore = Event(
        "restore",
        "restore:b:key1:2026-11-24T00:00:00+00:00",
        "new window",
        "2026-11-24T00:01:00+00:00",
        budget="per-key-daily",
        group="key1",
        window_start="2026-11-24T00:00:00+00:00",
        details={"kill_window_start": "2026-11-23T00:00:00+00:00"},
    )
    await pd.send(restore)
    await pd.send(Event("warning", "w", "80%", "2026-11-23T09:00:00+00:00", budget="b"))
    assert [s["event_action"] for s in seen] == ["trigger", "resolve"]  # warnings don't page
    assert seen[0]["dedup_key"] == seen[1]["dedup_key"]
    assert seen[0]["payload"]["severity"] == "critical"  # type: ignore[index]
