"""xAI actions: disable keys, or throttle them to a floor; both record the exact prior state.

A target is one key id, or ``team:<id>`` for every key of the team (what a team budget breach
names, since xAI reports no per-key spend). Prior state is read before anything changes
(``snapshot``, journaled with the intent) and ``execute`` also returns what it changed, so a key
created between the two is restored too. After every update the keys are read back: the update
body is unverified (shapes.py), so a change that did not take is a loud failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import Field, field_validator

from killswitch.errors import ActionError, RefusedAction
from killswitch.plugins import (
    Action,
    ActionContext,
    ActionParams,
    Prior,
    State,
    TargetRequest,
    registry,
)
from killswitch.providers.xai.provider import XaiProvider
from killswitch.providers.xai.shapes import KEY_ID, ApiKey
from killswitch.providers.xai.source_billing import team_target

MANAGEMENT_KEY = (
    "management key (Console > Settings > Management Keys) created by a member with the "
    "Management Keys read + write permission: lists and updates the team's API keys"
)


class KeySelection(ActionParams):
    keys: list[str] = Field(
        default_factory=list,
        description="act on these key ids; default: the keys of the breached group, or every "
        "key of the team for a team budget",
    )
    exclude: list[str] = Field(
        default_factory=list, description="key ids never touched (e.g. the on-call key)"
    )

    @field_validator("keys", "exclude")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for k in v:
            if not KEY_ID.match(k):
                raise ValueError(f"{k!r} is not an xAI API key id")
        return v


class RateLimitParams(KeySelection):
    # Floors start at 1: in proto3 JSON a 0 is indistinguishable from "unset", i.e. unlimited.
    qps: int = Field(default=1, ge=1, description="requests per second while throttled")
    qpm: int = Field(default=1, ge=1, description="requests per minute while throttled")
    tpm: int = Field(default=1, ge=1, description="tokens per minute while throttled")


SelectionT = TypeVar("SelectionT", bound=KeySelection)


def select_targets(params: KeySelection, request: TargetRequest) -> list[str]:
    skip = set(params.exclude)
    if params.keys:
        return sorted(set(params.keys) - skip)
    keys = set(request.dims.get("key", ())) - skip
    if keys:
        return sorted(keys)
    return [team_target(t) for t in sorted(set(request.dims.get("team", ())))]


async def resolve(provider: XaiProvider, target: str, params: KeySelection) -> list[ApiKey]:
    """The keys a target means right now (excluded keys removed)."""
    p = provider
    keys = await p.api.keys()
    skip = set(params.exclude)
    if target.startswith("team:"):
        if target != team_target(p.cfg.team_id):
            raise RefusedAction(f"{target} is not the configured team {p.cfg.team_id}")
        return [k for k in keys if k.id not in skip]
    if not KEY_ID.match(target):
        raise RefusedAction(f"{target!r} is not an xAI API key id")
    found = [k for k in keys if k.id == target]
    if not found:
        raise ActionError(f"xAI key {target} is not in team {p.cfg.team_id}", retryable=False)
    return found


async def apply(provider: XaiProvider, wanted: Mapping[str, dict[str, Any]], what: str) -> None:
    """Update each key to ``wanted[id]`` where it differs, then read back and verify."""
    api = provider.api
    current = {k.id: k for k in await api.keys()}
    for kid, fields in sorted(wanted.items()):
        k = current.get(kid)
        if k is None:
            continue  # deleted meanwhile: nothing left to change
        changes = {f: v for f, v in fields.items() if getattr(k, f) != v}
        if changes:
            await api.update_key(k, changes)
    after = {k.id: k for k in await api.keys()}
    wrong = sorted(
        kid
        for kid, fields in wanted.items()
        if kid in after and any(getattr(after[kid], f) != v for f, v in fields.items())
    )
    if wrong:
        raise ActionError(
            f"xAI accepted the update but {', '.join(wrong)} did not change ({what}); the update "
            "body is unverified (providers/xai/shapes.py): change them in the console",
            retryable=False,
        )


def _prior(prior: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    # The journaled snapshot wins for every key it has; `changed` covers keys it did not see.
    return {**dict(prior.get("changed") or {}), **dict(prior.get("keys") or {})}


class _KeysAction(Action[XaiProvider, SelectionT]):
    """Sets some fields on each key a target means, and puts the recorded values back on undo.

    Subclasses say which fields (``fields``: a key's current values of them) and what to set
    them to (``wanted``); ``doing`` and ``undoing`` name the change in a failed read-back.
    """

    permissions = (MANAGEMENT_KEY,)
    params_model: ClassVar[type[ActionParams]] = KeySelection  # what a subclass may extend
    doing: ClassVar[str]
    undoing: ClassVar[str]

    @staticmethod
    def fields(k: ApiKey) -> dict[str, Any]:
        raise NotImplementedError

    def wanted(self, k: ApiKey, params: SelectionT) -> dict[str, Any]:
        raise NotImplementedError

    def targets(self, params: SelectionT, request: TargetRequest) -> list[str]:
        return select_targets(params, request)

    async def snapshot(self, provider: XaiProvider, target: str, params: SelectionT) -> State:
        keys = await resolve(provider, target, params)
        return {"keys": {k.id: self.fields(k) for k in keys}}

    async def execute(
        self, provider: XaiProvider, target: str, params: SelectionT, ctx: ActionContext
    ) -> State:
        keys = await resolve(provider, target, params)
        wanted = {k.id: self.wanted(k, params) for k in keys}
        await apply(provider, wanted, self.doing)
        return {"changed": {k.id: self.fields(k) for k in keys if self.fields(k) != wanted[k.id]}}

    async def undo(
        self,
        provider: XaiProvider,
        target: str,
        params: SelectionT,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        await apply(provider, _prior(prior), self.undoing)


@registry.action
class DisableKey(_KeysAction[KeySelection]):
    name = "xai.disable-key"
    summary = "PUT /auth/api-keys/{id} disabled=true (a key, or every key of the team)"
    undo_summary = "PUT disabled back to each key's prior value"
    doing, undoing = "disable", "restore disabled"

    @staticmethod
    def fields(k: ApiKey) -> dict[str, Any]:
        return {"disabled": k.disabled}

    def wanted(self, k: ApiKey, params: KeySelection) -> dict[str, Any]:
        return {"disabled": True}

    async def applied(self, provider: XaiProvider, target: str, params: KeySelection) -> bool:
        return all(k.disabled for k in await resolve(provider, target, params))


@registry.action
class RateLimit(_KeysAction[RateLimitParams]):
    name = "xai.rate-limit"
    params_model = RateLimitParams
    summary = "PUT /auth/api-keys/{id} qps/qpm/tpm down to a floor (default 1 each)"
    undo_summary = "PUT each key's prior qps/qpm/tpm back (unset stays unset)"
    doing, undoing = "throttle", "restore rate limits"

    def describe(self, target: str, params: RateLimitParams) -> str:
        return f"{self.name} on {target}: qps={params.qps} qpm={params.qpm} tpm={params.tpm}"

    @staticmethod
    def fields(k: ApiKey) -> dict[str, Any]:
        return {"qps": k.qps, "qpm": k.qpm, "tpm": k.tpm}

    def wanted(self, k: ApiKey, params: RateLimitParams) -> dict[str, Any]:
        floor = {"qps": params.qps, "qpm": params.qpm, "tpm": params.tpm}
        # Never raise a limit that is already lower than the floor.
        return {f: v if getattr(k, f) is None else min(getattr(k, f), v) for f, v in floor.items()}
