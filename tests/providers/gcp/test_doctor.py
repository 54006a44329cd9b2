"""doctor: credentials, own project, testIamPermissions on subscription, projects, accounts."""

from __future__ import annotations

from killswitch.config import ResolvedAction
from killswitch.providers.gcp.actions_billing import DetachBillingParams
from killswitch.providers.gcp.params import DisableServiceParams
from killswitch.providers.gcp.permissions import DETACH_BILLING, DISABLE_SERVICE, SOURCE, flat
from tests.providers.gcp.helpers import provider
from tests.providers.gcp.standin import FakeGcp

ALL = set(flat(SOURCE)) | set(flat(DETACH_BILLING)) | set(flat(DISABLE_SERVICE))


def resolved() -> list[ResolvedAction]:
    return [
        ResolvedAction("gcp.detach-billing", DetachBillingParams(projects=["my-sandbox"]), True),
        ResolvedAction(
            "gcp.disable-service",
            DisableServiceParams(projects=["my-sandbox"], services=["aiplatform.googleapis.com"]),
            False,
        ),
    ]


async def test_all_granted(fake: FakeGcp) -> None:
    fake.granted |= ALL
    p = provider(fake)
    findings = {f.check: f for f in await p.doctor(resolved())}
    assert all(f.ok for f in findings.values()), findings
    assert findings["own project"].detail == "ops (from ADC) and ops are protected"
    assert "permissions for gcp.detach-billing on my-sandbox" in findings
    assert "permissions for gcp.disable-service on my-sandbox" in findings
    # Never pulls: a doctor run must not take messages away from the daemon.
    assert not fake.pubsub.matching("POST", r".*:pull")
    (sub,) = fake.pubsub.matching("POST", r".*:testIamPermissions")
    assert sub.json() == {"permissions": ["pubsub.subscriptions.consume"]}
    (acct,) = fake.cloudbilling.matching("POST", r".*:testIamPermissions")
    assert acct.path == "/v1/billingAccounts/01D4EE-079462-DFD6EC:testIamPermissions"
    assert fake.violations == []
    await p.aclose()


async def test_missing_permissions_are_named(fake: FakeGcp) -> None:
    fake.granted |= ALL - {"billing.resourceAssociations.create", "serviceusage.services.enable"}
    p = provider(fake)
    findings = {f.check: f for f in await p.doctor(resolved())}
    bill = findings["permissions for gcp.detach-billing on my-sandbox"]
    assert not bill.ok and bill.detail == "missing: billing.resourceAssociations.create"
    svc = findings["permissions for gcp.disable-service on my-sandbox"]
    assert not svc.ok and svc.detail == "missing: serviceusage.services.enable"


async def test_names_only_fall_back_to_doctor_projects(fake: FakeGcp) -> None:
    fake.granted |= ALL
    p = provider(fake)
    (f,) = [x for x in await p.doctor(["gcp.detach-billing"]) if "detach" in x.check]
    assert not f.ok and "doctor_projects" in f.detail
    p2 = provider(fake, doctor_projects=["my-sandbox"])
    (f2,) = [x for x in await p2.doctor(["gcp.detach-billing"]) if "detach" in x.check]
    assert f2.ok and f2.check.endswith("on my-sandbox")


async def test_unknown_own_project_fails(fake: FakeGcp) -> None:
    p = provider(fake, project=None)
    findings = {f.check: f for f in await p.doctor([])}
    assert not findings["own project"].ok and "set own_project" in findings["own project"].detail


async def test_no_adc_is_reported_not_raised(no_adc: None) -> None:
    from killswitch.config import parse
    from killswitch.plugins import ProviderContext
    from killswitch.providers.gcp.provider import GcpProvider

    cfg = parse(
        {"providers": {"gcp": {"type": "gcp", "subscription": "projects/ops/subscriptions/s"}}}
    )
    p = GcpProvider("gcp", cfg.providers["gcp"], ProviderContext())
    (f,) = await p.doctor([])
    assert f.check == "credentials" and not f.ok
    assert "no application default credentials" in f.detail
