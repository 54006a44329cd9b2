"""``gcp.disable-service``: disable services (e.g. ``aiplatform.googleapis.com``) in projects.

Reversible: undo enables again exactly the services that were enabled before the kill. The usage
check is skipped on purpose (``checkIfServiceHasUsage: SKIP``): recent usage is the reason we
disable. Dependent services are not disabled implicitly (undo could not know to re-enable them):
list them explicitly, dependents first; Google refuses otherwise and the error names them.
"""

from __future__ import annotations

from typing import Any

from killswitch.plugins import Action, ActionContext, Prior, State, registry
from killswitch.providers._kit.actions import NamedTargets
from killswitch.providers.gcp.guard import refuse_own
from killswitch.providers.gcp.params import DisableServiceParams
from killswitch.providers.gcp.permissions import DISABLE_SERVICE, flat
from killswitch.providers.gcp.provider import GcpProvider

# Disabling these would take away the API that undo itself needs.
UNDO_NEEDS = frozenset({"serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com"})
ENABLED, DISABLED = "ENABLED", "DISABLED"


async def service_state(p: GcpProvider, project: str, service: str) -> str:
    name = f"projects/{project}/services/{service}"

    def get() -> Any:
        return p.clients.service_usage().get_service(request={"name": name}, **p.clients.opts)

    svc = await p.clients.action_call(f"serviceusage get {name}", get)
    return str(getattr(svc.state, "name", svc.state))


async def switch(p: GcpProvider, project: str, service: str, enable: bool) -> None:
    from google.cloud import service_usage_v1

    name = f"projects/{project}/services/{service}"
    su = service_usage_v1

    def run() -> Any:
        client = p.clients.service_usage()
        opts = p.clients.opts
        if enable:
            op = client.enable_service(request={"name": name}, **opts)
        else:
            skip = su.DisableServiceRequest.CheckIfServiceHasUsage.SKIP
            op = client.disable_service(
                request={
                    "name": name,
                    "disable_dependent_services": False,
                    "check_if_service_has_usage": skip,
                },
                **opts,
            )
        return op.result(timeout=p.cfg.operation_timeout.total_seconds())

    verb = "enable" if enable else "disable"
    await p.clients.action_call(f"serviceusage {verb} {name}", run)


@registry.action
class DisableService(NamedTargets, Action[GcpProvider, DisableServiceParams]):
    name = "gcp.disable-service"
    targets_field = "projects"
    permissions = flat(DISABLE_SERVICE)
    summary = (
        "Service Usage services.disable of each listed service in each listed project (usage "
        "check skipped, dependents not touched); refuses the daemon's own project"
    )
    undo_summary = "services.enable of the services that were enabled before the kill"

    def validate(self, params: DisableServiceParams) -> None:
        bad = sorted(UNDO_NEEDS & set(params.services))
        if bad:
            raise ValueError(
                f"services: disabling {', '.join(bad)} would make the undo impossible; "
                "use gcp.detach-billing to stop a whole project"
            )

    def describe(self, target: str, params: DisableServiceParams) -> str:
        return f"disable {', '.join(params.services)} in GCP project {target} (Service Usage)"

    async def snapshot(
        self, provider: GcpProvider, target: str, params: DisableServiceParams
    ) -> State:
        p = provider
        return {"services": {s: await service_state(p, target, s) for s in params.services}}

    async def execute(
        self, provider: GcpProvider, target: str, params: DisableServiceParams, ctx: ActionContext
    ) -> State:
        p = provider
        await refuse_own(p.cfg, p.clients, target, "disabling its services")
        prior: dict[str, str] = {}
        for s in params.services:
            prior[s] = await service_state(p, target, s)
            if prior[s] != DISABLED:  # already off: the goal holds (replay-safe)
                await switch(p, target, s, enable=False)
        return {"services": prior}

    async def undo(
        self,
        provider: GcpProvider,
        target: str,
        params: DisableServiceParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        p = provider
        services = prior.get("services") or {}
        for s in reversed(list(services)):
            if services[s] == ENABLED and await service_state(p, target, s) != ENABLED:
                await switch(p, target, s, enable=True)
