"""The real engine in-process (FakeClock) on the fake Management API: the team crosses its monthly
cap -> every key but the excluded one is disabled, priors journaled -> next month restores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.testing import FakeClock

from .fake import TEAM, FakeXai, key


def runtime(tmp_path: Path, clock: FakeClock, fake: FakeXai) -> daemon.Runtime:
    data: dict[str, Any] = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "xai": {
                "type": "xai",
                "management_key": fake.token,
                "team_id": TEAM,
                "poll_interval": "60s",
            }
        },
        "budgets": [
            {
                "name": "xai-monthly",
                "provider": "xai",
                "scope": {"all": True},
                "window": "monthly",
                "limit_usd": 50,
                "actions": [{"type": "xai.disable-key", "exclude": ["key-0001"]}],
                "restore": "on_reset",
            }
        ],
    }
    return daemon.build(cfgmod.parse(data), clock=clock, transport=fake.transport(), identity="t")


async def test_team_over_its_monthly_cap_disables_keys_and_the_next_month_restores(
    tmp_path: Path,
) -> None:
    fake = FakeXai()
    for i in range(1, 5):
        fake.keys[f"key-{i:04d}"] = key(i)
    fake.keys["key-0004"]["disabled"] = True
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    rt = runtime(tmp_path, clock, fake)
    fake.spend_cents = 4000
    await rt.engine.cycle("xai")
    assert rt.store.journal_rows() == []

    fake.spend_cents = 5012
    clock.advance(minutes=1)
    await rt.engine.cycle("xai")
    (kill,) = rt.store.journal_rows()
    assert (kill.op, kill.target, kill.status) == ("kill", f"team:{TEAM}", "done")
    assert kill.prior == {
        "keys": {
            "key-0002": {"disabled": False},
            "key-0003": {"disabled": False},
            "key-0004": {"disabled": True},
        },
        "changed": {"key-0002": {"disabled": False}, "key-0003": {"disabled": False}},
    }
    assert {k: v["disabled"] for k, v in fake.keys.items()} == {
        "key-0001": False,  # excluded
        "key-0002": True,
        "key-0003": True,
        "key-0004": True,
    }
    (status,) = rt.metrics.snapshot.statuses["xai-monthly"]
    assert status.state.value == "killed" and status.spend is not None
    assert str(status.spend.amount) == "50.12"

    clock.now = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    fake.year_month, fake.spend_cents = (2026, 12), 3
    await rt.engine.cycle("xai")
    assert sorted((r.op, r.status) for r in rt.store.journal_rows()) == [
        ("kill", "done"),
        ("restore", "done"),
    ]
    assert {k: v["disabled"] for k, v in fake.keys.items()} == {
        "key-0001": False,
        "key-0002": False,
        "key-0003": False,
        "key-0004": True,  # it was off before the kill
    }
    await rt.aclose()
