"""The real daemon (subprocess) against a loopback ARM stand-in, with a real credential chain.

``DefaultAzureCredential`` gets its token from a stand-in App Service managed-identity endpoint
(see ``standin.py``); every ARM call must carry it. The daemon's clock is shifted by
``clockshim/sitecustomize.py`` so the test can move it into the next month: Azure budget periods
are calendar months, so a short ``interval:`` window would never match a budget's figure.

Breach -> azure.disable-local-auth with the prior value journaled (``killswitch history
--json``) -> restore when December's own figure arrives. ``doctor`` runs against the same
stand-in with the same credential.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from killswitch.testing import DaemonProcess
from tests.providers.azure.arm import ACCOUNT, SUB, TOKEN, budget
from tests.providers.azure.standin import ArmStandIn
from tests.providers.azure.test_doctor import CONTRIBUTOR, COST_READER

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
BUDGETS_GET = r"/providers/Microsoft\.Consumption/budgets$"


@pytest.fixture
def azure() -> Iterator[ArmStandIn]:
    s = ArmStandIn().start()
    s.arm.add_account(ACCOUNT, disable_local_auth=False)
    yield s
    s.stop()


class ShiftedClock:
    """Writes the offset the daemon's clock shim reads on every tick."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, when: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str((when - datetime.now(UTC)).total_seconds()))
        tmp.replace(self.path)  # atomic: the daemon never reads half a number


def config(s: ArmStandIn) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},  # these assertions read the series of ok groups too
        "providers": {
            "azure": {
                "type": "azure",
                "subscription_id": SUB,
                # added keys only: the sample entry's keys are unchanged
                "base_url": s.url,
                "poll_interval": "1s",
                "timeout": "5s",
                "polling_interval": "0.2s",  # the stand-in's Retry-After: 0 means "default"
                "budgets": {"min_interval": "1s"},
                "doctor_resources": [ACCOUNT],
            }
        },
        "budgets": [
            {
                "name": "aoai-monthly",
                "provider": "azure",
                "source": "azure.budgets",
                "scope": {"budgets": ["ai-monthly"]},
                "window": "monthly",
                "limit_usd": 800,
                "actions": [{"type": "azure.disable-local-auth", "accounts": [ACCOUNT]}],
            }
        ],
    }


def env(s: ArmStandIn, clock: ShiftedClock, tmp: Path) -> dict[str, str]:
    return {
        **s.env(tmp),
        "KILLSWITCH_TEST_CLOCK_FILE": str(clock.path),
        "PYTHONPATH": os.pathsep.join(
            [str(HERE / "clockshim"), str(HERE.parents[2]), os.environ.get("PYTHONPATH", "")]
        ),
    }


def months() -> tuple[datetime, datetime]:
    """A mid-month instant not before the real now, and the first of the month after it.

    Relative to the real date so the budgets' own dates never expire under the test; the clock
    only ever moves forward.
    """
    real = datetime.now(UTC)
    t0 = max(real + timedelta(seconds=1), real.replace(day=3, hour=12, minute=0, second=0))
    nxt = (t0.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0)
    return t0, nxt.replace(microsecond=0)


def ops(d: DaemonProcess, op: str) -> list[dict[str, Any]]:
    return [r for r in d.history() if r["op"] == op]


def test_breach_disable_local_auth_journal_restore_next_month(
    azure: ArmStandIn, tmp_path: Path
) -> None:
    arm = azure.arm
    b = budget("ai-monthly", 550.0, start="2020-01-01T00:00:00Z", end=None)
    arm.add_budgets(f"/subscriptions/{SUB}", b)
    clock = ShiftedClock(tmp_path / "clock-offset")
    t0, next_month = months()
    d = DaemonProcess(config(azure), tmp_path / "d", env=env(azure, clock, tmp_path))
    clock.set(t0)
    with d:
        d.start()
        d.wait_for(
            lambda: d.metric("killswitch_budget_state", budget="aoai-monthly", state="ok") == 1.0
        )
        assert arm.writes() == []

        b["properties"]["currentSpend"]["amount"] = 812.5
        d.wait_for(lambda: arm.local_auth() is True)
        d.wait_for(lambda: [r["status"] for r in ops(d, "kill")] == ["done"])
        (kill,) = ops(d, "kill")
        assert (kill["target"], kill["action"]) == (ACCOUNT, "azure.disable-local-auth")
        assert kill["prior"] == {"disable_local_auth": False}
        d.wait_for(
            lambda: (
                d.metric("killswitch_budget_state", budget="aoai-monthly", state="killed") == 1.0
            )
        )

        # 02:00 on the 1st of the next month: Azure still shows the old month's total; no
        # restore (and no new kill) on it.
        clock.set(next_month + timedelta(hours=2))
        seen = len(arm.matching("GET", BUDGETS_GET))
        d.wait_for(lambda: len(arm.matching("GET", BUDGETS_GET)) >= seen + 3)
        assert arm.local_auth() is True and ops(d, "restore") == []

        b["properties"]["currentSpend"]["amount"] = 3.2  # the new month's own figure
        clock.set(next_month + timedelta(hours=9))
        d.wait_for(lambda: arm.local_auth() is False)
        d.wait_for(lambda: [r["status"] for r in ops(d, "restore")] == ["done"])
        d.wait_for(
            lambda: d.metric("killswitch_budget_state", budget="aoai-monthly", state="ok") == 1.0
        )
        assert d.stop() == 0

    patches = [c.body for c in arm.matching("PATCH", "accounts/aoai$")]
    assert patches == [
        {"properties": {"disableLocalAuth": True}},
        {"properties": {"disableLocalAuth": False}},
    ]
    assert all(c.headers.get("authorization") == f"Bearer {TOKEN}" for c in arm.calls)
    assert azure.token_requests  # the token came from the managed-identity endpoint
    assert TOKEN not in d.logs()


def test_doctor_and_plan_with_the_same_credential(azure: ArmStandIn, tmp_path: Path) -> None:
    arm = azure.arm
    arm.add_budgets(f"/subscriptions/{SUB}", budget("ai-monthly", 10.0, end=None))
    arm.allow(f"/subscriptions/{SUB}", COST_READER)
    arm.allow(ACCOUNT, CONTRIBUTOR)
    clock = ShiftedClock(tmp_path / "clock-offset")
    d = DaemonProcess(config(azure), tmp_path / "d", env=env(azure, clock, tmp_path))
    out = d.cli("doctor", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[ok] credentials" in out.stdout
    assert f"[ok] azure.disable-local-auth permissions on {ACCOUNT}" in out.stdout
    assert "[FAIL]" not in out.stdout
    plan = d.cli("plan", check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "aoai-monthly" in plan.stdout
    assert arm.matching("PATCH", ".") == []  # neither touched anything
