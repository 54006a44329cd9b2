"""The real daemon reads spend from a real Prometheus and kills through the webhook action.

A LiteLLM-style counter (``litellm_spend_metric_total{hashed_api_key, team}``) is exported by a
prometheus_client registry, scraped every second; the budget is per key, and the action POSTs
the kill to a loopback endpoint. A second, broken query shows a stale source beside a healthy one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter

from killswitch.testing import DaemonProcess, Request, StandIn
from tests.providers.prometheus.stack import PromStack

pytestmark = pytest.mark.e2e
TOKEN = "e2e-prometheus-bearer-token"


def config(prom: PromStack, hook: StandIn) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "outbox_interval": 0.5,
        "providers": {
            "prom": {
                "type": "prometheus",
                "url": prom.url,
                "headers": {"Authorization": "Bearer ${env:PROM_TOKEN}"},
                "poll_interval": "1s",
                "queries": [
                    {
                        "name": "litellm-spend",
                        "promql": "sum by (hashed_api_key, team) "
                        "(increase(e2e_litellm_spend_metric_total[$__range]))",
                        "kind": "to_date",
                        "period": "rolling:1h",
                        "dims": {"hashed_api_key": "key", "team": "team"},
                    },
                    {"name": "broken", "promql": "sum(e2e_litellm_spend", "kind": "counter"},
                ],
            }
        },
        "budgets": [
            {
                "name": "per-key",
                "provider": "prom",
                "source": "litellm-spend",
                "scope": {"each": "key"},
                "window": "rolling:1h",
                "limit_usd": 10,
                "warn_at": [0.5],
                "restore": "manual",
                "actions": [{"type": "webhook", "url": f"{hook.url}/kill"}],
            },
            {
                "name": "watch-broken",
                "provider": "prom",
                "source": "broken",
                "limit_usd": 10,
                "mode": "alert-only",
            },
        ],
    }


def test_budget_on_prometheus_spend_trips_a_kill(prom: PromStack, tmp_path: Path) -> None:
    spend = Counter(
        "e2e_litellm_spend_metric", "spend", ["hashed_api_key", "team"], registry=prom.exporter
    )
    spend.labels("victim", "search").inc(0)
    spend.labels("bystander", "search").inc(0)
    prom.wait_samples("e2e_litellm_spend_metric_total")
    kills: list[Request] = []
    hook = StandIn()
    # the webhook action posts to the URL with a trailing slash (httpx joins base_url + "")
    hook.route("POST", "/kill")(lambda r: kills.append(r) or (200, {}))
    hook.start()
    d = DaemonProcess(config(prom, hook), tmp_path, env={"PROM_TOKEN": TOKEN})
    try:
        with d:
            d.start(wait_ready=False)
            d.wait_for(
                lambda: (
                    d.metric(
                        "killswitch_budget_state", budget="per-key", target="victim", state="ok"
                    )
                    == 1.0
                )
            )
            spend.labels("victim", "search").inc(12)
            spend.labels("bystander", "search").inc(2)
            d.wait_for(lambda: kills, timeout=30)
            d.wait_for(
                lambda: (
                    d.metric(
                        "killswitch_budget_state", budget="per-key", target="victim", state="killed"
                    )
                    == 1.0
                )
            )
            spent = d.metric("killswitch_spend_usd", budget="per-key", target="victim")
            # increase() extrapolates to the range end: over a few seconds of history it reads
            # up to a scrape interval's share high, never lower than what was counted
            assert spent is not None and 12 <= spent < 18
            bystander = d.metric("killswitch_spend_usd", budget="per-key", target="bystander")
            assert bystander is not None and 2 <= bystander < 3
            assert d.metric("killswitch_source_stale", provider="prom", source="broken") == 1.0
            assert (
                d.metric("killswitch_source_stale", provider="prom", source="litellm-spend") == 0.0
            )
            # no data from the broken query: its budget is no_data, never $0
            assert d.metric("killswitch_spend_usd", budget="watch-broken", target="*") is None
            assert d.stop() == 0
    finally:
        hook.stop()
    (kill,) = kills
    body = json.loads(kill.body)
    assert (body["op"], body["budget"], body["target"]) == ("kill", "per-key", "victim")
    history = d.history()
    assert [(r["target"], r["op"], r["status"]) for r in history] == [("victim", "kill", "done")]
    assert TOKEN not in d.logs()
    assert "parse error" in d.logs()  # the broken query's reason is logged, once per failure
