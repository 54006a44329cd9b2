"""LiteLLM actions: block a key, cap a key's budget at what it spent, block a team or an end user.

Each one reads the target before writing (``snapshot``, journaled with the intent, so undo
restores what was there before killswitch, even after a crash between the write and the
journal's outcome) and writes only what differs, so a replay changes nothing twice. A target
that no longer exists (404) already cannot spend: the goal holds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from killswitch.errors import ActionError
from killswitch.http import HTTPStatusError
from killswitch.plugins import Action, ActionContext, ActionParams, Prior, State, registry
from killswitch.providers.litellm import shapes
from killswitch.providers.litellm.provider import MASTER_KEY, LiteLLMProvider

GONE = {"missing": True}
C = TypeVar("C")  # what an action reads of its target before it writes


async def _get(provider: LiteLLMProvider, path: str, params: dict[str, str]) -> Any | None:
    """GET a management endpoint; None when the proxy does not know the entity (404)."""
    try:
        return await provider.http.json("GET", path, params=params)
    except HTTPStatusError as exc:
        if exc.status == 404:
            return None
        raise


async def _key_info(provider: LiteLLMProvider, key: str) -> shapes.KeyInfo | None:
    """The key's row, or None if the proxy does not know it. ``key`` is the sha256 hash."""
    body = await _get(provider, "/key/info", {"key": key})
    return None if body is None else shapes.key_info(body, "/key/info")


async def _post(provider: LiteLLMProvider, path: str, body: dict[str, Any]) -> None:
    try:
        await provider.http.request("POST", path, json=body)
    except HTTPStatusError as exc:
        if exc.status != 404:
            raise


def _budget_json(v: Decimal | None) -> float | None:
    # The proxy stores max_budget as a float; the Decimal's repr round-trips through JSON.
    return None if v is None else float(v)


NoParams = ActionParams  # no LiteLLM action takes parameters


class _LiteLLMAction(Action[LiteLLMProvider, NoParams]):
    """Every LiteLLM action is a call to the proxy's management API, made with the master key."""

    permissions = (MASTER_KEY,)


class _ReadFirst(_LiteLLMAction, Generic[C]):
    """Read the target, write only what differs, and on undo put back what was read.

    ``read`` gives what the action depends on, or None for a target the proxy does not know
    (404): it cannot spend, so snapshot and execute record :data:`GONE` and undo has nothing to
    restore. Subclasses say what of the reading is journaled (``state``), how the write is made
    (``apply``) and how a journaled prior is put back (``restore``).
    """

    async def read(self, provider: LiteLLMProvider, target: str) -> C | None:
        raise NotImplementedError

    def state(self, current: C) -> State:
        raise NotImplementedError

    async def apply(self, provider: LiteLLMProvider, target: str, current: C) -> State:
        raise NotImplementedError

    async def restore(self, provider: LiteLLMProvider, target: str, prior: Prior) -> None:
        raise NotImplementedError

    async def snapshot(self, provider: LiteLLMProvider, target: str, params: NoParams) -> State:
        current = await self.read(provider, target)
        return GONE if current is None else self.state(current)

    async def execute(
        self, provider: LiteLLMProvider, target: str, params: NoParams, ctx: ActionContext
    ) -> State:
        current = await self.read(provider, target)
        return GONE if current is None else await self.apply(provider, target, current)

    async def undo(
        self,
        provider: LiteLLMProvider,
        target: str,
        params: NoParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        if not prior.get("missing"):
            await self.restore(provider, target, prior)


class _BlockFlag(_ReadFirst[bool]):
    """A block flag on a proxy entity: read it, set it only if unset, clear it only if we set it.

    Subclasses name the entity's info endpoint, the id field its calls take and the block and
    unblock endpoints, and say how to read the flag from the info body. An entity the info
    endpoint does not know (404) does not exist, so it cannot spend and there is nothing to block.
    """

    info_path: ClassVar[str]
    id_field: ClassVar[str]
    block_path: ClassVar[str]
    unblock_path: ClassVar[str]

    def flag(self, body: Any, where: str) -> bool:
        raise NotImplementedError

    async def read(self, provider: LiteLLMProvider, target: str) -> bool | None:
        """Whether the entity is blocked; None when the proxy does not know it."""
        body = await _get(provider, self.info_path, {self.id_field: target})
        return None if body is None else self.flag(body, self.info_path)

    async def block(self, provider: LiteLLMProvider, target: str) -> None:
        await _post(provider, self.block_path, {self.id_field: target})

    async def unblock(self, provider: LiteLLMProvider, target: str) -> None:
        await _post(provider, self.unblock_path, {self.id_field: target})

    def state(self, current: bool) -> State:
        return {"blocked": current}

    async def applied(self, provider: LiteLLMProvider, target: str, params: NoParams) -> bool:
        blocked = await self.read(provider, target)
        return blocked is None or blocked  # gone cannot spend either: what execute settles for

    async def apply(self, provider: LiteLLMProvider, target: str, current: bool) -> State:
        if not current:
            await self.block(provider, target)
        return {}

    async def restore(self, provider: LiteLLMProvider, target: str, prior: Prior) -> None:
        if prior.get("blocked") is False:
            await self.unblock(provider, target)


@registry.action
class BlockKey(_BlockFlag):
    name = "litellm.block-key"
    summary = "POST /key/block: every request with the virtual key is refused at once"
    undo_summary = "POST /key/unblock (only if the key was not blocked before)"
    info_path, id_field = "/key/info", "key"
    block_path, unblock_path = "/key/block", "/key/unblock"

    def flag(self, body: Any, where: str) -> bool:
        return shapes.key_info(body, where).blocked


@registry.action
class CapKey(_ReadFirst[shapes.KeyInfo]):
    name = "litellm.cap-key"
    summary = (
        "POST /key/update max_budget=<the key's spend>: the proxy refuses the key's requests "
        "while spend >= max_budget (lifts by itself at the key's budget reset, if it has one)"
    )
    undo_summary = "POST /key/update max_budget=<prior value> (null if it had none)"

    async def read(self, provider: LiteLLMProvider, target: str) -> shapes.KeyInfo | None:
        return await _key_info(provider, target)

    def state(self, current: shapes.KeyInfo) -> State:
        return {"max_budget": None if current.max_budget is None else str(current.max_budget)}

    async def apply(self, provider: LiteLLMProvider, target: str, current: shapes.KeyInfo) -> State:
        if current.max_budget is not None and current.max_budget <= current.spend:
            return {"capped_at": str(current.spend)}  # already at or under: nothing to tighten
        await _post(
            provider, "/key/update", {"key": target, "max_budget": _budget_json(current.spend)}
        )
        return {"capped_at": str(current.spend)}

    async def restore(self, provider: LiteLLMProvider, target: str, prior: Prior) -> None:
        if "max_budget" not in prior:
            raise ActionError(
                "the journal holds no prior max_budget for this cap; not guessing: set the "
                "key's max_budget by hand (POST /key/update)",
                retryable=False,
            )
        raw = prior["max_budget"]
        value = None if raw is None else Decimal(str(raw))
        await _post(provider, "/key/update", {"key": target, "max_budget": _budget_json(value)})


@registry.action
class BlockTeam(_BlockFlag):
    name = "litellm.block-team"
    target_dim = "team"
    summary = "POST /team/block: every key of the team is refused at once"
    undo_summary = "POST /team/unblock (only if the team was not blocked before)"
    info_path, id_field = "/team/info", "team_id"
    block_path, unblock_path = "/team/block", "/team/unblock"

    def flag(self, body: Any, where: str) -> bool:
        return shapes.team_blocked(body, where)


@registry.action
class BlockEndUser(_BlockFlag):
    """Block an end user (the ``user`` your app sends): the proxy refuses their requests.

    Undo goes through ``/customer/update blocked=false``, not ``/customer/unblock``: in the proxy
    (1.108) unblock only edits the enterprise in-memory block list and leaves the database flag
    that ``/customer/block`` set, so the end user would stay blocked. An end user the proxy does
    not know is left alone: block would create it, and one we never saw spends nothing.
    """

    name = "litellm.block-end-user"
    target_dim = "end_user"
    summary = "POST /customer/block: the end user's requests are refused, whichever key sends them"
    undo_summary = "POST /customer/update blocked=false (only if it was not blocked before)"
    info_path, id_field = "/customer/info", "end_user_id"  # block and unblock take other fields

    def flag(self, body: Any, where: str) -> bool:
        return shapes.end_user_blocked(body, where)

    async def block(self, provider: LiteLLMProvider, target: str) -> None:
        await _post(provider, "/customer/block", {"user_ids": [target]})

    async def unblock(self, provider: LiteLLMProvider, target: str) -> None:
        await _post(provider, "/customer/update", {"user_id": target, "blocked": False})
