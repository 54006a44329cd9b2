"""The real daemon reads a loopback JSON API with http-json and kills through the webhook action;
then the API changes shape and the source goes stale instead of reading $0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from killswitch.testing import DaemonProcess, Request, StandIn

pytestmark = pytest.mark.e2e
TOKEN = "e2e-vendor-token-value"


class FakeBilling:
    def __init__(self) -> None:
        self.spend = {"victim": 1.0, "bystander": 2.0}
        self.broken = False
        self.kills: list[Request] = []
        self.server = StandIn()
        self.server.route("GET", "/v1/usage")(self.usage)
        self.server.route("POST", "/kill")(lambda r: self.kills.append(r) or (200, {}))

    def usage(self, r: Request) -> tuple[int, Any]:
        if r.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"error": "bad token"}
        if self.broken:  # a 200 that is not the agreed shape (e.g. a maintenance page in JSON)
            return 200, {"message": "billing is under maintenance"}
        rows = [{"key_id": k, "usd": f"{v:.2f}", "team": "search"} for k, v in self.spend.items()]
        return 200, {"object": "list", "data": rows}


def config(fake: FakeBilling) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "outbox_interval": 0.5,
        "providers": {
            "vendor": {
                "type": "http-json",
                "poll_interval": "1s",
                "headers": {"Authorization": "Bearer ${env:VENDOR_TOKEN}"},
                "requests": [
                    {
                        "name": "usage",
                        "url": f"{fake.server.url}/v1/usage",
                        "rows": "$.data",
                        "amount": "$.usd",
                        "dims": {"key": "$.key_id", "team": "$.team"},
                        "kind": "to_date",
                        "period": "monthly",
                    }
                ],
            }
        },
        "budgets": [
            {
                "name": "per-key-monthly",
                "provider": "vendor",
                "scope": {"each": "key"},
                "window": "monthly",
                "limit_usd": 10,
                "restore": "manual",
                "actions": [{"type": "webhook", "url": f"{fake.server.url}/kill"}],
            }
        ],
    }


def test_budget_on_a_json_api_trips_a_kill_and_a_changed_shape_is_stale(tmp_path: Path) -> None:
    fake = FakeBilling()
    fake.server.start()
    d = DaemonProcess(config(fake), tmp_path, env={"VENDOR_TOKEN": TOKEN})
    try:
        with d:
            d.start()
            state = "killswitch_budget_state"
            assert d.metric(state, budget="per-key-monthly", target="victim", state="ok") == 1.0
            fake.spend["victim"] = 12.5
            d.wait_for(lambda: fake.kills)
            d.wait_for(
                lambda: (
                    d.metric(state, budget="per-key-monthly", target="victim", state="killed")
                    == 1.0
                )
            )
            assert (
                d.metric("killswitch_spend_usd", budget="per-key-monthly", target="victim") == 12.5
            )

            fake.broken = True
            d.wait_for(
                lambda: (
                    d.metric("killswitch_source_stale", provider="vendor", source="usage") == 1.0
                )
            )
            # the last good reading stands; nothing was read as $0
            assert (
                d.metric("killswitch_spend_usd", budget="per-key-monthly", target="bystander")
                == 2.0
            )
            assert d.get_status("/readyz") == 503
            assert d.stop() == 0
    finally:
        fake.server.stop()
    (kill,) = fake.kills
    body = json.loads(kill.body)
    assert (body["op"], body["target"], body["spend"]) == ("kill", "victim", "12.50")
    assert [(r["target"], r["status"]) for r in d.history()] == [("victim", "done")]
    logs = d.logs()
    assert "request usage: rows: $.data matched nothing" in logs
    assert TOKEN not in logs
