"""The daemon must not cut off its own project: it would lose the Pub/Sub subscription it reads
and, with billing detached, every API it needs to undo what it did.

"Own" is the ``own_project`` setting or else the ADC project, plus the subscription's project
(whatever it is, the daemon depends on it). ``allow_own_project: true`` lifts the rule.
"""

from __future__ import annotations

from killswitch.errors import ActionError, RefusedAction, SourceError
from killswitch.providers.gcp.clients import GcpClients
from killswitch.providers.gcp.config import GcpConfig


async def own_projects(cfg: GcpConfig, clients: GcpClients) -> set[str]:
    own = {cfg.subscription_project}
    if cfg.own_project:
        own.add(cfg.own_project)
        return own
    try:
        _, project = await clients.credentials()
    except SourceError as exc:
        raise ActionError(str(exc)) from None
    if project:
        own.add(project)
    return own


async def refuse_own(cfg: GcpConfig, clients: GcpClients, project: str, what: str) -> None:
    if cfg.allow_own_project:
        return
    if project in await own_projects(cfg, clients):
        raise RefusedAction(
            f"{project} is the daemon's own project (own_project, the ADC project or the "
            f"subscription's project): {what} would cut killswitch off from the APIs it needs; "
            "remove it from the action's projects or set allow_own_project: true"
        )
