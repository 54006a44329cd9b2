"""The real daemon against a loopback LiteLLM proxy stand-in (shapes from the proxy's own OpenAPI
document): a per-key daily budget blocks the key, a team budget blocks the team, every request
fits the contract, and a manual restore undoes exactly what was done."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.providers.litellm.conftest import check_exchanges
from tests.providers.litellm.contract import load_contract
from tests.providers.litellm.fake import MASTER, FakeLiteLLM

from killswitch.testing import DaemonProcess

pytestmark = pytest.mark.e2e
VICTIM, BYSTANDER, PROTECTED = (f"{i:064x}" for i in (1, 2, 3))
MODEL = "groq/llama-3.1-70b-versatile"


@pytest.fixture
def fake() -> Any:
    f = FakeLiteLLM()
    f.add_team("team-groq", team_alias="groq apps")
    f.add_team("team-other")
    f.add_key(VICTIM, key_alias="chatbot", team_id="team-groq")
    f.add_key(BYSTANDER, key_alias="batch", team_id="team-other")
    f.add_key(PROTECTED, key_alias="on-call", team_id="team-other")
    today = datetime.now(UTC).date()
    for k in (VICTIM, BYSTANDER, PROTECTED):
        f.spend(k, MODEL, 5.0, today)
    server = f.serve()
    f.url = server.url  # type: ignore[attr-defined]
    yield f
    server.stop()


def config(fake: Any) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "protect": [PROTECTED],
        "providers": {
            "gateway": {
                "type": "litellm",
                "base_url": fake.url,
                "master_key": "${env:LITELLM_MASTER_KEY}",
                "poll_interval": "1s",
            }
        },
        "budgets": [
            {
                "name": "groq-per-key-daily",
                "provider": "gateway",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 20,
                "actions": ["litellm.block-key"],
                "restore": "manual",
            },
            {
                "name": "team-daily",
                "provider": "gateway",
                "scope": {"each": "team"},
                "window": "daily",
                "limit_usd": 60,
                "actions": ["litellm.block-team"],
                "restore": "manual",
            },
        ],
    }


def test_budgets_block_key_and_team_then_restore_undoes(fake: FakeLiteLLM, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    with DaemonProcess(config(fake), tmp_path, env={"LITELLM_MASTER_KEY": MASTER}) as d:
        d.start()
        labels = {"budget": "groq-per-key-daily", "target": VICTIM}
        assert d.metric("killswitch_spend_usd", **labels) == 5.0
        assert d.metric("killswitch_budget_state", **labels, state="ok") == 1.0

        fake.spend(VICTIM, MODEL, 18.0, today)  # $23 today: over the $20 cap
        fake.spend(PROTECTED, MODEL, 30.0, today)  # over too, but protected
        d.wait_for(lambda: fake.keys[VICTIM]["blocked"] is True)
        d.wait_for(lambda: d.metric("killswitch_budget_state", **labels, state="killed") == 1.0)
        assert d.metric("killswitch_spend_usd", **labels) == 23.0

        fake.spend(BYSTANDER, "mistral/mistral-large-latest", 14.0, today)  # $19: under its cap
        fake.spend(PROTECTED, None, 7.0, today)  # under no model, still counted: team-other $61
        d.wait_for(lambda: fake.teams["team-other"]["blocked"] is True)
        d.wait_for(
            lambda: (
                d.metric("killswitch_spend_usd", budget="team-daily", target="team-other") == 61.0
            )
        )
        assert fake.keys[PROTECTED]["blocked"] is None and fake.keys[BYSTANDER]["blocked"] is None
        assert fake.teams["team-groq"]["blocked"] is False
        assert d.metric("killswitch_source_stale", provider="gateway", source="litellm.daily") == 0
        assert d.stop() == 0

    kills = {(r["budget"], r["target"]): r for r in d.history() if r["op"] == "kill"}
    assert set(kills) == {("groq-per-key-daily", VICTIM), ("team-daily", "team-other")}
    assert kills[("groq-per-key-daily", VICTIM)]["prior"] == {"blocked": False}
    assert all(r["status"] == "done" for r in kills.values())
    assert [w for w in fake.writes if w[0].endswith("/block")] == [
        ("/key/block", {"key": VICTIM}),
        ("/team/block", {"team_id": "team-other"}),
    ]
    logs = d.logs()
    assert MASTER not in logs and MASTER not in json.dumps(d.history())

    res = d.cli("restore", "groq-per-key-daily", "--target", VICTIM)
    assert res.returncode == 0, res.stderr
    res = d.cli("restore", "team-daily", "--target", "team-other")
    assert res.returncode == 0, res.stderr
    assert fake.keys[VICTIM]["blocked"] is False
    assert fake.teams["team-other"]["blocked"] is False
    assert fake.writes[-2:] == [
        ("/key/unblock", {"key": VICTIM}),
        ("/team/unblock", {"team_id": "team-other"}),
    ]
    assert check_exchanges(load_contract(), fake) > 10  # the daemon's requests fit the contract
