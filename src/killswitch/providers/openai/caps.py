"""OpenAI's native cap: a project's hard ``spend_limit`` (whole cents, USD, per month).

The spec (``ProjectSpendLimitResource`` / ``UpdateProjectSpendLimitBody``) offers only
``interval: month`` and ``currency: USD``, with ``threshold_amount`` an integer of cents >= 1;
so only monthly USD budgets scoped to projects (``{each: project}`` or ``{projects: [one]}``),
in UTC and in whole cents, map to it. A GET answering 404 means no limit is set (the same
reading ``openai.spend-limit`` makes).
"""

from __future__ import annotations

from decimal import Decimal

from killswitch.core.caps import NativeCap
from killswitch.errors import ActionError
from killswitch.http import HTTPStatusError
from killswitch.plugins import CapRequest, CapUnsupported, NativeCaps, registry
from killswitch.providers._admin_api.actions import require_one_each
from killswitch.providers.openai.client import PROJECTS_PATH
from killswitch.providers.openai.provider import OpenAIProvider
from killswitch.providers.openai.shapes import SpendLimit, project_archived, spend_limit

CENT = Decimal("0.01")


async def get_limit(provider: OpenAIProvider, project: str) -> SpendLimit | None:
    """The project's spend limit, or None without one: the spec documents only 200, but OpenAI
    answers 404 for a project with no limit (the one reading the kill and the cap both make).
    """
    path = f"{PROJECTS_PATH}/{project}/spend_limit"
    try:
        body = await provider.api.http.json("GET", path)
    except HTTPStatusError as exc:
        if exc.status == 404:
            return None
        raise
    return spend_limit(body, f"GET {path}")


async def delete_limit(provider: OpenAIProvider, project: str) -> None:
    """Put back "no limit"; one already gone (404) is the goal."""
    try:
        await provider.api.http.request("DELETE", f"{PROJECTS_PATH}/{project}/spend_limit")
    except HTTPStatusError as exc:
        if exc.status != 404:
            raise


def _cap(limit: SpendLimit | None) -> NativeCap:
    if limit is None:
        return NativeCap(None)
    # "month" is the only interval the API has; it is the monthly reset of a budget
    reset = "monthly" if limit.interval == "month" else limit.interval
    return NativeCap(Decimal(limit.threshold_cents) * CENT, limit.currency, reset)


@registry.caps
class OpenAICaps(NativeCaps[OpenAIProvider]):
    summary = "project spend_limit (monthly, USD, whole cents) for {each: project} budgets"

    @classmethod
    def desired(cls, request: CapRequest) -> NativeCap:
        require_one_each(request, "project", "an OpenAI")
        window = request.window
        if window.kind != "monthly" or window.timezone != "UTC":
            raise CapUnsupported(
                f"OpenAI project spend limits are monthly only; window {window} "
                f"({window.timezone}) has none: use window: monthly, timezone: UTC"
            )
        if request.limit.currency != "USD":
            raise CapUnsupported("OpenAI spend limits are in USD only: use limit_usd")
        if request.limit.amount != request.limit.amount.quantize(CENT):
            raise CapUnsupported("OpenAI spend limits are whole cents: round the limit")
        return NativeCap(request.limit.amount, "USD", "monthly")

    async def targets(self, provider: OpenAIProvider, request: CapRequest) -> list[str]:
        listed = dict(request.scope.filters).get("project")
        if listed:
            return sorted(listed)
        items = await provider.api.list_all(PROJECTS_PATH, [("limit", 100)])
        out = []
        for i, item in enumerate(items):
            if not project_archived(item, f"GET {PROJECTS_PATH} data[{i}]"):
                out.append(str(item["id"]))
        return sorted(out)

    async def read(self, provider: OpenAIProvider, target: str) -> NativeCap:
        return _cap(await get_limit(provider, target))

    async def write(self, provider: OpenAIProvider, target: str, cap: NativeCap) -> NativeCap:
        path = f"{PROJECTS_PATH}/{target}/spend_limit"
        if cap.amount is None:  # put back "no limit"
            await delete_limit(provider, target)
            return NativeCap(None)
        cents = int(cap.amount / CENT)
        if cents < 1:
            raise ActionError(f"{path}: a spend limit is at least 1 cent", retryable=False)
        body = SpendLimit(cents, "USD", "month", False).body()
        got = _cap(spend_limit(await provider.api.http.json("POST", path, json=body), path))
        if not got.matches(cap):
            raise ActionError(f"POST {path}: asked for {cap.describe()}, got {got.describe()}")
        return got
