"""Actions through the real client libraries (REST transport) against loopback stand-ins.

Every Cloud Billing request is checked against ``shared/specs/gcp/cloudbilling.v1.json`` by the
stand-in; ``fake.violations`` must stay empty.
"""

from __future__ import annotations

import pytest

from killswitch.errors import ActionError, RefusedAction
from killswitch.plugins import TargetRequest, registry
from killswitch.providers.gcp.actions_billing import DetachBilling, DetachBillingParams
from killswitch.providers.gcp.actions_services import DisableService
from killswitch.providers.gcp.params import DisableServiceParams
from tests.providers.gcp.helpers import actx, provider
from tests.providers.gcp.standin import FakeGcp

ACCOUNT = "billingAccounts/01D4EE-079462-DFD6EC"
REQ = TargetRequest("*", None, {"budget": ("0a1b2c3d-budget-id",)})


def detach(*projects: str) -> DetachBillingParams:
    return DetachBillingParams(projects=list(projects))


def services(*names: str, projects: tuple[str, ...] = ("my-sandbox",)) -> DisableServiceParams:
    return DisableServiceParams(projects=list(projects), services=list(names))


def test_registered_with_contract_fields() -> None:
    reg = registry.load()
    for name in ("gcp.detach-billing", "gcp.disable-service"):
        cls = reg.actions[name]
        assert cls.provider_type == "gcp" and cls.permissions and cls.summary
        assert cls.undo_summary and cls().reversible
    assert reg.actions["gcp.detach-billing"].irreversible  # needs allow_irreversible
    assert not reg.actions["gcp.disable-service"].irreversible


def test_targets_and_describe_name_exactly_the_projects() -> None:
    a = DetachBilling()
    params = detach("my-sandbox", "other-sandbox", "my-sandbox")
    assert a.targets(params, REQ) == ["my-sandbox", "other-sandbox"]
    assert "GCP project my-sandbox" in a.describe("my-sandbox", params)
    assert "billingAccountName=''" in a.describe("my-sandbox", params)
    d = DisableService()
    sp = services("aiplatform.googleapis.com")
    assert d.targets(sp, REQ) == ["my-sandbox"]
    assert d.describe("my-sandbox", sp) == (
        "disable aiplatform.googleapis.com in GCP project my-sandbox (Service Usage)"
    )


async def test_detach_billing_records_prior_account_and_undo_relinks(fake: FakeGcp) -> None:
    p = provider(fake)
    a = DetachBilling()
    snap = await a.snapshot(p, "my-sandbox", detach("my-sandbox"))
    assert snap == {"billing_account_name": ACCOUNT, "billing_enabled": True}
    prior = await a.execute(p, "my-sandbox", detach("my-sandbox"), actx())
    assert prior["billing_account_name"] == ACCOUNT
    assert fake.billing["my-sandbox"] == ""
    (put,) = fake.cloudbilling.matching("PUT", r"/v1/projects/my-sandbox/billingInfo")
    # proto3 JSON leaves the empty string out: {} IS billingAccountName "" on the server.
    assert put.json().get("billingAccountName", "") == ""
    # Replay after a crash: harmless, same outcome, and the journaled snapshot stays the truth.
    await a.execute(p, "my-sandbox", detach("my-sandbox"), actx())
    assert fake.billing["my-sandbox"] == ""
    await a.undo(p, "my-sandbox", detach("my-sandbox"), snap, actx())
    assert fake.billing["my-sandbox"] == ACCOUNT
    assert fake.applied[-1] == ("billing", "my-sandbox", ACCOUNT)
    await a.undo(p, "my-sandbox", detach("my-sandbox"), snap, actx())  # idempotent: no write
    assert len(fake.cloudbilling.matching("PUT", r".*")) == 3
    assert fake.violations == []
    await p.aclose()


async def test_undo_does_not_override_a_human_relink(fake: FakeGcp) -> None:
    p = provider(fake)
    a = DetachBilling()
    snap = await a.snapshot(p, "my-sandbox", detach("my-sandbox"))
    await a.execute(p, "my-sandbox", detach("my-sandbox"), actx())
    fake.billing["my-sandbox"] = "billingAccounts/0000AA-BBBBBB-CCCCCC"  # finance moved it
    with pytest.raises(ActionError, match="someone changed it since") as err:
        await a.undo(p, "my-sandbox", detach("my-sandbox"), snap, actx())
    assert not err.value.retryable
    assert fake.billing["my-sandbox"] == "billingAccounts/0000AA-BBBBBB-CCCCCC"


async def test_undo_of_a_project_that_had_no_billing_does_nothing(fake: FakeGcp) -> None:
    p = provider(fake)
    a = DetachBilling()
    snap = await a.snapshot(p, "no-billing", detach("no-billing"))
    assert snap == {"billing_account_name": "", "billing_enabled": False}
    await a.undo(p, "no-billing", detach("no-billing"), snap, actx())
    assert fake.cloudbilling.matching("PUT", r".*") == []


@pytest.mark.parametrize(
    ("entry", "adc_project", "victim"),
    [
        ({}, "ops", "ops"),  # the ADC project
        ({"own_project": "my-sandbox"}, None, "my-sandbox"),  # configured
        ({}, None, "ops"),  # the subscription's project, even without ADC project
    ],
)
async def test_refuses_the_daemons_own_project(
    fake: FakeGcp, entry: dict[str, str], adc_project: str | None, victim: str
) -> None:
    fake.billing.setdefault(victim, ACCOUNT)
    p = provider(fake, project=adc_project, **entry)
    for action, params in (
        (DetachBilling(), detach(victim)),
        (DisableService(), services("aiplatform.googleapis.com", projects=(victim,))),
    ):
        with pytest.raises(RefusedAction, match="daemon's own project"):
            await action.execute(p, victim, params, actx())
    assert fake.applied == []


async def test_allow_own_project_lifts_the_refusal(fake: FakeGcp) -> None:
    p = provider(fake, allow_own_project=True)
    await DetachBilling().execute(p, "ops", detach("ops"), actx())
    assert fake.billing["ops"] == ""


async def test_permission_denied_is_a_permanent_action_error(fake: FakeGcp) -> None:
    fake.fail["cloudbilling.projects.updateBillingInfo"] = (
        403,
        "The caller does not have permission",
    )
    p = provider(fake)
    with pytest.raises(ActionError) as err:
        await DetachBilling().execute(p, "my-sandbox", detach("my-sandbox"), actx())
    assert not err.value.retryable
    assert "PERMISSION_DENIED: The caller does not have permission" in str(err.value)
    assert "updateBillingInfo projects/my-sandbox" in str(err.value)
    assert fake.billing["my-sandbox"] == ACCOUNT


async def test_unavailable_is_retryable(fake: FakeGcp) -> None:
    fake.fail["cloudbilling.projects.getBillingInfo"] = (503, "backend unavailable")
    p = provider(fake)
    with pytest.raises(ActionError) as err:
        await DetachBilling().snapshot(p, "my-sandbox", detach("my-sandbox"))
    assert err.value.retryable


async def test_disable_service_prior_state_and_undo_enables_only_what_was_on(
    fake: FakeGcp,
) -> None:
    p = provider(fake)
    d = DisableService()
    params = services("aiplatform.googleapis.com", "generativelanguage.googleapis.com")
    snap = await d.snapshot(p, "my-sandbox", params)
    assert snap == {
        "services": {
            "aiplatform.googleapis.com": "ENABLED",
            "generativelanguage.googleapis.com": "DISABLED",
        }
    }
    prior = await d.execute(p, "my-sandbox", params, actx())
    assert prior == snap
    assert fake.services[("my-sandbox", "aiplatform.googleapis.com")] == "DISABLED"
    (call,) = fake.serviceusage.matching(
        "POST", r"/v1/projects/my-sandbox/services/aiplatform.googleapis.com:disable"
    )
    # Usage check skipped (SKIP = 1 in the int enum encoding the SDK uses); no dependents.
    assert call.json() == {"checkIfServiceHasUsage": 1}
    assert fake.serviceusage.matching("POST", r".*generativelanguage.*") == []  # already off
    await d.execute(p, "my-sandbox", params, actx())  # replay: nothing left to disable
    assert len(fake.serviceusage.matching("POST", r".*:disable")) == 1
    await d.undo(p, "my-sandbox", params, snap, actx())
    assert fake.services[("my-sandbox", "aiplatform.googleapis.com")] == "ENABLED"
    assert fake.services[("my-sandbox", "generativelanguage.googleapis.com")] == "DISABLED"
    await d.undo(p, "my-sandbox", params, snap, actx())  # idempotent
    assert len(fake.serviceusage.matching("POST", r".*:enable")) == 1
    assert fake.violations == []


async def test_disable_failure_names_googles_reason(fake: FakeGcp) -> None:
    fake.fail["serviceusage.services.disable"] = (
        400,
        "Service aiplatform.googleapis.com is depended on by notebooks.googleapis.com",
    )
    p = provider(fake)
    with pytest.raises(ActionError, match="depended on by notebooks") as err:
        await DisableService().execute(
            p, "my-sandbox", services("aiplatform.googleapis.com"), actx()
        )
    assert not err.value.retryable


def test_refuses_services_the_undo_needs() -> None:
    with pytest.raises(ValueError, match="undo impossible"):
        DisableService().validate(services("serviceusage.googleapis.com"))


async def test_unknown_project_is_not_found(fake: FakeGcp) -> None:
    p = provider(fake)
    with pytest.raises(ActionError, match="NOT_FOUND") as err:
        await DetachBilling().snapshot(p, "ghost-project", detach("ghost-project"))
    assert not err.value.retryable
