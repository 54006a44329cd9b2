"""OpenAI actions. The API has no per-key disable, so the reversible kills act on a project.

* ``openai.spend-limit`` (reversible, preferred): the project's hard monthly spend limit is set
  to what OpenAI has already billed it this month (never below 1 cent), so OpenAI itself refuses
  further spend. Prior limit read first; undo puts it back (or deletes ours if there was none).
* ``openai.rate-limit`` (reversible): every per-model rate limit of the project is lowered to a
  floor; undo restores exactly the recorded values.
* ``openai.delete-key`` (irreversible): the target is the key id, so ``protect: [key_...]``
  matches it; the project the DELETE path needs is resolved at execute time (an explicit
  ``proj_x/key_y`` target, else the key -> project map the usage source learned from the very
  observations that breached, else a scan of the projects). 404 means already gone: success.
* ``openai.archive-project`` (irreversible): there is no unarchive endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

import structlog
from pydantic import Field

from killswitch.errors import ActionError, RefusedAction, SourceError
from killswitch.http import HTTPStatusError
from killswitch.plugins import (
    Action,
    ActionContext,
    ActionParams,
    ParamsT,
    Prior,
    State,
    TargetRequest,
    registry,
)
from killswitch.providers._admin_api.shapes import obj
from killswitch.providers.openai.caps import delete_limit, get_limit
from killswitch.providers.openai.client import PROJECTS_PATH
from killswitch.providers.openai.provider import MGMT_HINT, OpenAIProvider
from killswitch.providers.openai.shapes import (
    NO_KEY,
    NO_PROJECT,
    RATE_LIMIT_FIELDS,
    SpendLimit,
    project_archived,
    rate_limit,
    spend_limit,
)

log = structlog.get_logger("killswitch.providers.openai")
MAX_PROJECT_SCAN = 1000
MANAGE = f"admin key: {MGMT_HINT}"
USAGE_READ = "admin key: Usage: Read (api.usage.read), for the month-to-date billed cost"


NoParams = ActionParams  # the actions without parameters


class _OpenAIAction(Action[OpenAIProvider, ParamsT]):
    """Leaves out the placeholders for usage without a key or project: nothing to act on.

    Every action manages the organization with the admin key; one that reads more says so.
    """

    permissions: ClassVar[Sequence[str]] = (MANAGE,)

    def targets(self, params: ParamsT, request: TargetRequest) -> list[str]:
        return [t for t in super().targets(params, request) if t not in (NO_KEY, NO_PROJECT)]


async def _delete(provider: OpenAIProvider, path: str, what: str) -> bool:
    """DELETE ``path``, which must answer ``deleted: true``; True if it was already gone (404)."""
    try:
        body = obj(await provider.api.http.json("DELETE", path), f"DELETE {path}")
    except HTTPStatusError as exc:
        if exc.status == 404:  # already gone: the goal holds
            return True
        raise
    if body.get("deleted") is not True:
        raise ActionError(f"DELETE {path}: the {what} is not reported deleted")
    return False


def _project(target: str) -> str:
    if target == NO_PROJECT or not target or "/" in target:
        raise RefusedAction(f"{target!r} is not an OpenAI project id (proj_...)")
    return target


# ---- spend limit ------------------------------------------------------------------------------


async def _post_limit(provider: OpenAIProvider, project: str, limit: SpendLimit) -> SpendLimit:
    path = f"{PROJECTS_PATH}/{project}/spend_limit"
    body = await provider.api.http.json("POST", path, json=limit.body())
    got = spend_limit(body, f"POST {path}")
    if got.threshold_cents != limit.threshold_cents:
        raise ActionError(
            f"POST {path}: asked for {limit.threshold_cents} cents, got {got.threshold_cents}"
        )
    return got


def _limit_json(limit: SpendLimit | None) -> dict[str, Any] | None:
    return None if limit is None else limit.body()


@registry.action
class SetSpendLimit(_OpenAIAction[NoParams]):
    name = "openai.spend-limit"
    target_dim = "project"
    permissions = (MANAGE, USAGE_READ)
    summary = (
        "POST /organization/projects/{p}/spend_limit: hard monthly limit = what OpenAI billed "
        "the project this month (at least 1 cent), so OpenAI rejects its further requests"
    )
    undo_summary = (
        "POST the prior limit back, or DELETE the limit if there was none; a limit someone "
        "changed since is left alone"
    )

    async def snapshot(self, provider: OpenAIProvider, target: str, params: NoParams) -> State:
        return {"prior_limit": _limit_json(await get_limit(provider, _project(target)))}

    async def execute(
        self, provider: OpenAIProvider, target: str, params: NoParams, ctx: ActionContext
    ) -> State:
        project = _project(target)
        current = await get_limit(provider, project)
        try:
            billed = await provider.costs.month_to_date(project, ctx.now)
            basis = "billed month to date"
        except SourceError as exc:  # a 1-cent limit still stops the project: act anyway
            log.warning("month-to-date cost unreadable; limiting to 1 cent", error=str(exc))
            billed, basis = Decimal(0), "1 cent (month-to-date cost unreadable)"
        billed_cents = int((billed * 100).to_integral_value(ROUND_FLOOR))
        cents = max(1, billed_cents)  # the API's minimum; 1 cent still stops the project
        out: dict[str, Any] = {"billed_cents": billed_cents, "basis": basis}
        if current is not None and current.threshold_cents <= cents:
            # Already at or under what was spent: lowering further changes nothing, and a
            # limit is never raised by a kill.
            return {**out, "set_cents": current.threshold_cents, "changed": False}
        got = await _post_limit(provider, project, SpendLimit(cents, "USD", "month", False))
        return {**out, "set_cents": cents, "changed": True, "enforcing": got.enforcing}

    async def undo(
        self,
        provider: OpenAIProvider,
        target: str,
        params: NoParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        project = _project(target)
        current = await get_limit(provider, project)
        raw = prior.get("prior_limit")
        before = None
        if raw is not None:
            want = obj(raw, "journaled prior_limit")
            before = SpendLimit(
                int(want["threshold_amount"]), str(want["currency"]), str(want["interval"]), False
            )
        if _cents(current) == _cents(before):
            return  # already as it was before the kill
        set_cents = prior.get("set_cents")
        if set_cents is not None and _cents(current) != set_cents:
            log.warning(
                "spend limit changed since the kill; left as it is",
                project=project,
                now=_cents(current),
                ours=set_cents,
            )
            return
        if before is not None:
            await _post_limit(provider, project, before)
            return
        await delete_limit(provider, project)


def _cents(limit: SpendLimit | None) -> int | None:
    return None if limit is None else limit.threshold_cents


# ---- rate limits ------------------------------------------------------------------------------


class RateLimitParams(ActionParams):
    floor: int = Field(
        default=1,
        ge=0,
        description="the value every max_* limit is lowered to (0 is undocumented by OpenAI)",
    )
    models: tuple[str, ...] = Field(
        default=(), description="only these models' limits (default: every model)"
    )


async def _rate_limits(provider: OpenAIProvider, project: str) -> dict[str, dict[str, Any]]:
    path = f"{PROJECTS_PATH}/{project}/rate_limits"
    items = await provider.api.list_all(path, [("limit", 100)])
    out = {}
    for i, item in enumerate(items):
        rid, values = rate_limit(item, f"GET {path} data[{i}]")
        out[rid] = values
    return out


async def _post_rate_limit(
    provider: OpenAIProvider, project: str, rid: str, body: dict[str, int]
) -> None:
    path = f"{PROJECTS_PATH}/{project}/rate_limits/{rid}"
    got_id, got = rate_limit(
        obj(await provider.api.http.json("POST", path, json=body), f"POST {path}"),
        f"POST {path}",
    )
    wrong = [f for f, v in body.items() if got.get(f) != v]
    if got_id != rid or wrong:
        raise ActionError(f"POST {path}: the rate limit does not report {', '.join(wrong)}")


@registry.action
class LowerRateLimits(_OpenAIAction[RateLimitParams]):
    name = "openai.rate-limit"
    target_dim = "project"
    params_model = RateLimitParams
    summary = (
        "POST /organization/projects/{p}/rate_limits/{id} for every model: each max_* limit "
        "lowered to `floor` (default 1); limits already at or under it are left alone"
    )
    undo_summary = "POST every recorded max_* value back, exactly as it was"

    async def snapshot(
        self, provider: OpenAIProvider, target: str, params: RateLimitParams
    ) -> State:
        return {"rate_limits": await _rate_limits(provider, _project(target))}

    async def execute(
        self, provider: OpenAIProvider, target: str, params: RateLimitParams, ctx: ActionContext
    ) -> State:
        project = _project(target)
        current = await _rate_limits(provider, project)
        chosen = {
            rid: v for rid, v in current.items() if not params.models or v["model"] in params.models
        }
        if not chosen:  # nothing to throttle: a kill that changes nothing must not pass as done
            raise ActionError(
                f"project {project} has no rate limits"
                + (f" for {', '.join(params.models)}" if params.models else ""),
                retryable=False,
            )
        lowered = []
        for rid, values in sorted(chosen.items()):
            body = {
                f: params.floor
                for f in RATE_LIMIT_FIELDS
                if isinstance(values.get(f), int) and values[f] > params.floor
            }
            if body:
                await _post_rate_limit(provider, project, rid, body)
                lowered.append(rid)
        return {"lowered": lowered}

    async def undo(
        self,
        provider: OpenAIProvider,
        target: str,
        params: RateLimitParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        project = _project(target)
        recorded = obj(prior.get("rate_limits", {}), "journaled rate_limits")
        current = await _rate_limits(provider, project)
        for rid, values in sorted(recorded.items()):
            if rid not in current:
                log.warning("rate limit gone since the kill; skipped", project=project, id=rid)
                continue
            body = {
                f: int(v)
                for f, v in obj(values, f"journaled rate_limits.{rid}").items()
                if f in RATE_LIMIT_FIELDS and current[rid].get(f) != v
            }
            if body:
                await _post_rate_limit(provider, project, rid, body)


# ---- keys and projects ------------------------------------------------------------------------


async def _find_project(provider: OpenAIProvider, key: str) -> str | None:
    """The project holding ``key``: learned from usage, else a scan of active projects."""
    p = provider
    if key in p.key_projects:
        return p.key_projects[key]
    projects = await p.api.list_all(PROJECTS_PATH, [("limit", 100)])
    for item in projects[:MAX_PROJECT_SCAN]:
        pid = item.get("id")
        if not isinstance(pid, str):
            continue
        try:
            await p.api.http.json("GET", f"{PROJECTS_PATH}/{pid}/api_keys/{key}")
        except HTTPStatusError as exc:
            if exc.status == 404:
                continue
            raise
        p.key_projects[key] = pid
        return pid
    return None


@registry.action
class DeleteKey(_OpenAIAction[NoParams]):
    name = "openai.delete-key"
    summary = (
        "DELETE /organization/projects/{p}/api_keys/{key}: irreversible (OpenAI has no key "
        "disable); the project comes from the key's usage; needs allow_irreversible"
    )

    def describe(self, target: str, params: NoParams) -> str:
        return f"{self.name} on {target} (deleted for good)"

    async def execute(
        self, provider: OpenAIProvider, target: str, params: NoParams, ctx: ActionContext
    ) -> State:
        project, _, key = target.rpartition("/")
        if key == NO_KEY or not key:
            raise RefusedAction("usage without an API key has no key to delete")
        if not project:
            found = await _find_project(provider, key)
            if found is None:  # in no active project: deleted, or its project archived
                return {"already_deleted": True, "project": None}
            project = found
        path = f"{PROJECTS_PATH}/{_project(project)}/api_keys/{key}"
        try:
            gone = await _delete(provider, path, "key")
        except HTTPStatusError as exc:
            if exc.status != 400:
                raise
            raise ActionError(
                f"{exc}; service-account keys may refuse deletion here: use "
                "openai.spend-limit on the project or delete the service account",
                retryable=False,
            ) from None
        return {"already_deleted": gone, "project": project}


@registry.action
class ArchiveProject(_OpenAIAction[NoParams]):
    name = "openai.archive-project"
    target_dim = "project"
    summary = (
        "POST /organization/projects/{p}/archive: irreversible (no unarchive endpoint); every "
        "key of the project stops working; needs allow_irreversible"
    )

    async def applied(self, provider: OpenAIProvider, target: str, params: NoParams) -> bool:
        path = f"{PROJECTS_PATH}/{_project(target)}"
        return project_archived(await provider.api.http.json("GET", path), f"GET {path}")

    async def execute(
        self, provider: OpenAIProvider, target: str, params: NoParams, ctx: ActionContext
    ) -> State:
        path = f"{PROJECTS_PATH}/{_project(target)}"
        http = provider.api.http
        if project_archived(await http.json("GET", path), f"GET {path}"):
            return {"already_archived": True}
        body = await http.json("POST", f"{path}/archive")
        if not project_archived(body, f"POST {path}/archive"):
            raise ActionError(f"POST {path}/archive: the project is not reported archived")
        return {"already_archived": False}


class ServiceAccountParams(ActionParams):
    project: str = Field(description="the project the service account is in (proj_...)")
    service_account: str = Field(description="the service account id")


@registry.action
class DeleteServiceAccount(_OpenAIAction[ServiceAccountParams]):
    """What stops a managed key (``killswitch keys``): its service account, and so its key."""

    name = "openai.delete-service-account"
    params_model = ServiceAccountParams
    summary = (
        "DELETE /organization/projects/{p}/service_accounts/{id}: irreversible; stops the "
        "managed key made by `killswitch keys create` (set by the daemon, not in config)"
    )

    def describe(self, target: str, params: ServiceAccountParams) -> str:
        return f"{self.name} {params.service_account} (key {target}, deleted for good)"

    async def execute(
        self,
        provider: OpenAIProvider,
        target: str,
        params: ServiceAccountParams,
        ctx: ActionContext,
    ) -> State:
        path = (
            f"{PROJECTS_PATH}/{_project(params.project)}/service_accounts/{params.service_account}"
        )
        return {"already_deleted": await _delete(provider, path, "service account")}
