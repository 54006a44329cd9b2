"""The real daemon (subprocess) against loopback Google stand-ins, with real ADC.

Credentials come from Application Default Credentials via a stand-in GCE metadata server
(``GCE_METADATA_HOST``): project ``ops`` (so the daemon knows its own project) and a bearer token
that every Google call must carry. Pub/Sub and Cloud Billing are REST stand-ins; Cloud Billing
requests are checked against the Discovery doc. The daemon's clock is shifted by
``clockshim/sitecustomize.py`` so the test can move it into the next billing month.

Breach -> gcp.detach-billing with the prior account journaled (``killswitch history --json``) ->
restore (re-link) when the new month's notification arrives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from killswitch.testing import DaemonProcess, free_port
from tests.providers.gcp.fakes import FakeSubscription, notification
from tests.providers.gcp.standin import TOKEN, FakeGcp

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
ACCOUNT = "billingAccounts/01D4EE-079462-DFD6EC"


@pytest.fixture
def gcp(shared: Path) -> Iterator[FakeGcp]:
    f = FakeGcp(shared, sub=FakeSubscription())
    f.billing.update({"my-sandbox": ACCOUNT, "ops": ACCOUNT})
    f.start()
    yield f
    f.stop()


class ShiftedClock:
    """Writes the offset the daemon's clock shim reads on every tick."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, when: datetime) -> None:
        offset = (when - datetime.now(UTC)).total_seconds()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(offset))
        tmp.replace(self.path)  # atomic: the daemon never reads half a number


def daemon_env(gcp: FakeGcp, clock_file: Path, tmp_path: Path) -> dict[str, str]:
    host = gcp.metadata.url.removeprefix("http://")
    env = {
        # google-auth looks up the service account's Regional Access Boundary at
        # https://iamcredentials.googleapis.com in the background; a dead proxy keeps that (and
        # any other accidental call to Google) on loopback. The stand-ins are reached directly.
        "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}",
        "HTTP_PROXY": f"http://127.0.0.1:{free_port()}",
        "NO_PROXY": "127.0.0.1,localhost",
        "GCE_METADATA_HOST": host,
        "GCE_METADATA_IP": host,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),  # no developer ADC file can leak in
        "KILLSWITCH_TEST_CLOCK_FILE": str(clock_file),
        "PYTHONPATH": os.pathsep.join(
            [str(HERE / "clockshim"), str(HERE.parents[2]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    return env


def config(gcp: FakeGcp) -> dict[str, Any]:
    return {
        "providers": {
            "gcp": {
                "type": "gcp",
                "subscription": "projects/ops/subscriptions/budget-alerts",
                "poll_interval": "1s",
                "timeout": "5s",
                "endpoints": gcp.endpoints(),
                "doctor_projects": ["my-sandbox"],
            }
        },
        "budgets": [
            {
                "name": "sandbox-monthly",
                "provider": "gcp",
                "scope": {"budgets": ["0a1b2c3d-budget-id"]},
                "window": "monthly",
                "limit": {"amount": 1000, "currency": "EUR"},
                "allow_irreversible": True,
                "actions": [{"type": "gcp.detach-billing", "projects": ["my-sandbox"]}],
            }
        ],
    }


def test_breach_detach_journal_restore_next_month(gcp: FakeGcp, tmp_path: Path) -> None:
    os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    clock = ShiftedClock(tmp_path / "clock-offset")
    clock.set(datetime(2026, 11, 23, 12, tzinfo=UTC))
    sub = gcp.sub
    sub.publish(
        *notification(650.0, threshold=0.5), publish_time=datetime(2026, 11, 21, tzinfo=UTC)
    )
    d = DaemonProcess(config(gcp), tmp_path / "d", env=daemon_env(gcp, clock.path, tmp_path))
    with d:
        d.start()
        d.wait_for(lambda: sub.extended)  # pulled and held, not yet acknowledged
        d.wait_for(lambda: sub.acked == ["1"])  # acknowledged by the next poll, after storing
        assert gcp.billing["my-sandbox"] == ACCOUNT

        sub.publish(
            *notification(1020.0, threshold=1.0),
            publish_time=datetime(2026, 11, 22, 18, tzinfo=UTC),
        )
        d.wait_for(lambda: gcp.billing["my-sandbox"] == "")
        d.wait_for(lambda: [r["status"] for r in d.history() if r["op"] == "kill"] == ["done"])
        (kill,) = [r for r in d.history() if r["op"] == "kill"]
        assert (kill["target"], kill["action"]) == ("my-sandbox", "gcp.detach-billing")
        assert kill["prior"] == {"billing_account_name": ACCOUNT, "billing_enabled": True}
        d.wait_for(
            lambda: (
                d.metric("killswitch_budget_state", budget="sandbox-monthly", state="killed") == 1.0
            )
        )

        # 1 December 03:00 UTC: a new UTC window but still Google's November (Pacific): no
        # December figure, so no restore on "no data" however many cycles pass.
        clock.set(datetime(2026, 12, 1, 3, tzinfo=UTC))
        pulls = len(gcp.pubsub.matching("POST", r".*:pull"))
        d.wait_for(lambda: len(gcp.pubsub.matching("POST", r".*:pull")) >= pulls + 3)
        assert gcp.billing["my-sandbox"] == ""
        # Google's December starts at 08:00 UTC; its first total arrives.
        clock.set(datetime(2026, 12, 1, 10, tzinfo=UTC))
        sub.publish(
            *notification(3.2, start="2026-12-01T08:00:00Z"),
            publish_time=datetime(2026, 12, 1, 9, tzinfo=UTC),
        )
        d.wait_for(lambda: gcp.billing["my-sandbox"] == ACCOUNT)
        d.wait_for(lambda: [r["status"] for r in d.history() if r["op"] == "restore"] == ["done"])
        d.wait_for(lambda: sorted(sub.acked) == ["1", "2", "3"])
        assert d.stop() == 0

    puts = gcp.cloudbilling.matching("PUT", r"/v1/projects/my-sandbox/billingInfo")
    assert [p.json().get("billingAccountName", "") for p in puts] == ["", ACCOUNT]
    assert gcp.violations == []
    every = [r for s in (gcp.cloudbilling, gcp.pubsub) for r in s.requests]
    assert every and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in every)
    assert not gcp.cloudbilling.matching("PUT", r"/v1/projects/ops/billingInfo")
    assert TOKEN not in d.logs()


def test_doctor_cli_checks_permissions_without_pulling(gcp: FakeGcp, tmp_path: Path) -> None:
    from tests.providers.gcp.test_doctor import ALL

    gcp.granted |= ALL - {"billing.resourceAssociations.create"}
    clock = ShiftedClock(tmp_path / "clock-offset")
    clock.set(datetime.now(UTC))
    d = DaemonProcess(config(gcp), tmp_path / "d", env=daemon_env(gcp, clock.path, tmp_path))
    res = d.cli("doctor", check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    assert (
        "[ok] credentials: application default credentials "
        "(killswitch@ops.iam.gserviceaccount.com)" in out
    )
    assert "[ok] own project: ops (from ADC) and ops are protected" in out
    assert "[ok] read projects/ops/subscriptions/budget-alerts: ok" in out
    assert (
        "[FAIL] permissions for gcp.detach-billing on my-sandbox: missing: "
        "billing.resourceAssociations.create" in out
    )
    assert not gcp.pubsub.matching("POST", r".*:pull")
    gcp.granted.add("billing.resourceAssociations.create")
    assert d.cli("doctor", check=False).returncode == 0
