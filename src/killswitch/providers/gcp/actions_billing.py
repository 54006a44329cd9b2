"""``gcp.detach-billing``: unlink a project from its billing account; undo re-links it.

Google: with billing disabled "any billable activity of your in-use services will stop, and your
application could stop functioning"; resources of a project without billing may be deleted after
a grace period. That is why the action is ``irreversible`` (the budget must set
``allow_irreversible``) although undo exists: re-linking restores billing, not deleted resources.

The prior billing account is read before anything changes (``snapshot``, journaled with the
intent), so a replay after a crash never records "no account" (our own change) as the prior state.
"""

from __future__ import annotations

from killswitch.errors import ActionError
from killswitch.plugins import (
    Action,
    ActionContext,
    Prior,
    Reversibility,
    State,
    registry,
)
from killswitch.providers._kit.actions import NamedTargets
from killswitch.providers.gcp.billing import billing_info, set_billing_account
from killswitch.providers.gcp.guard import refuse_own
from killswitch.providers.gcp.params import ProjectsParams
from killswitch.providers.gcp.permissions import DETACH_BILLING, flat
from killswitch.providers.gcp.provider import GcpProvider


class DetachBillingParams(ProjectsParams):
    pass


@registry.action
class DetachBilling(NamedTargets, Action[GcpProvider, DetachBillingParams]):
    name = "gcp.detach-billing"
    reversibility = Reversibility.ACCESS_ONLY
    targets_field = "projects"
    permissions = flat(DETACH_BILLING)
    summary = (
        "PUT v1/projects/{project}/billingInfo with an empty billingAccountName: the project "
        "loses its billing account, billable services stop and Google may delete resources "
        "(needs allow_irreversible); refuses the daemon's own project"
    )
    undo_summary = (
        "PUT billingInfo billingAccountName=<journaled prior account> (re-link); refuses when "
        "someone linked another account since; deleted resources do not come back"
    )

    def describe(self, target: str, params: DetachBillingParams) -> str:
        return (
            f"detach the billing account of GCP project {target} (PUT projects/{target}/"
            f"billingInfo billingAccountName=''): billable services in {target} stop"
        )

    async def snapshot(
        self, provider: GcpProvider, target: str, params: DetachBillingParams
    ) -> State:
        return await billing_info(provider.clients, target)

    async def execute(
        self, provider: GcpProvider, target: str, params: DetachBillingParams, ctx: ActionContext
    ) -> State:
        p = provider
        await refuse_own(p.cfg, p.clients, target, "detaching its billing")
        prior = await billing_info(p.clients, target)
        # PUT even when already detached: idempotent, and a replay must not skip it.
        await set_billing_account(p.clients, target, "")
        return prior

    async def undo(
        self,
        provider: GcpProvider,
        target: str,
        params: DetachBillingParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        p = provider
        account = str(prior.get("billing_account_name") or "")
        if not account:
            return  # it had no billing account before the kill: nothing to give back
        now = (await billing_info(p.clients, target))["billing_account_name"]
        if now == account:
            return
        if now:
            raise ActionError(
                f"projects/{target} is linked to {now} now, not to {account} as before the "
                "kill: someone changed it since; not overriding (re-link by hand if intended)",
                retryable=False,
            )
        await set_billing_account(p.clients, target, account)
