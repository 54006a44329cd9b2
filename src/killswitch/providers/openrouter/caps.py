"""OpenRouter's native cap: a key's ``limit`` (USD) with ``limit_reset`` daily/weekly/monthly.

OpenRouter resets limits at 00:00 UTC, weeks from Monday (the spec's PATCH /keys/{hash}), which
is exactly a killswitch ``daily``/``weekly``/``monthly`` window in UTC; so only those budgets,
scoped to single keys (``{each: key}`` or ``{keys: [one]}``), in USD, map to a key limit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from killswitch.core.caps import NativeCap
from killswitch.errors import ActionError, MalformedResponse
from killswitch.model import to_decimal
from killswitch.plugins import CapRequest, CapUnsupported, NativeCaps, registry
from killswitch.providers._admin_api.actions import require_one_each
from killswitch.providers.openrouter.provider import OpenRouterProvider, OpenRouterSource

RESETS = ("daily", "weekly", "monthly")


def key_cap(data: Any, where: str) -> NativeCap:
    """The cap of one ApiKey object: ``limit`` (number or null) and ``limit_reset``."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"{where}: no key object")
    limit, reset = data.get("limit"), data.get("limit_reset")
    if limit is not None and (not isinstance(limit, int | float) or isinstance(limit, bool)):
        raise MalformedResponse(f"{where}.limit is not a number or null")
    if reset is not None and reset not in RESETS:
        raise MalformedResponse(f"{where}.limit_reset is not daily, weekly, monthly or null")
    amount = None if limit is None else to_decimal(limit, field_name="limit")
    return NativeCap(amount, "USD", reset)


@registry.caps
class OpenRouterCaps(NativeCaps[OpenRouterProvider]):
    summary = "key limit + limit_reset (daily/weekly/monthly, UTC) for {each: key} budgets"

    @classmethod
    def desired(cls, request: CapRequest) -> NativeCap:
        require_one_each(request, "key", "an OpenRouter")
        window = request.window
        if window.kind not in RESETS:
            raise CapUnsupported(
                f"OpenRouter key limits reset daily, weekly or monthly; window {window} has "
                "no matching limit_reset"
            )
        if window.timezone != "UTC":
            raise CapUnsupported("OpenRouter key limits reset at 00:00 UTC: use timezone UTC")
        if request.limit.currency != "USD":
            raise CapUnsupported("OpenRouter key limits are in USD: use limit_usd")
        return NativeCap(request.limit.amount, "USD", window.kind)

    async def targets(self, provider: OpenRouterProvider, request: CapRequest) -> list[str]:
        return sorted(k["hash"] for k in await self._keys(provider, request))

    async def read_all(
        self, provider: OpenRouterProvider, request: CapRequest
    ) -> dict[str, NativeCap | Exception]:
        """One ``GET /keys`` listing carries every key's ``limit`` and ``limit_reset``."""
        out: dict[str, NativeCap | Exception] = {}
        for k in await self._keys(provider, request):
            try:
                out[k["hash"]] = key_cap(k["cap"], f"GET /keys key {k['hash']}")
            except MalformedResponse as exc:
                out[k["hash"]] = exc
        return dict(sorted(out.items()))

    async def _keys(self, provider: OpenRouterProvider, request: CapRequest) -> list[Any]:
        """The listed keys the budget's scope covers (its filters: keys, names, workspaces)."""
        out = []
        for k in await OpenRouterSource(provider).list_keys():
            dims = {"key": k["hash"], "name": k["name"]}
            if k["workspace_id"]:
                dims["workspace"] = str(k["workspace_id"])
            if request.scope.matches(dims):
                out.append(k)
        return out

    async def read(self, provider: OpenRouterProvider, target: str) -> NativeCap:
        body = await provider.http.json("GET", f"/keys/{target}")
        data = body.get("data") if isinstance(body, dict) else None
        return key_cap(data, f"GET /keys/{target} data")

    async def write(self, provider: OpenRouterProvider, target: str, cap: NativeCap) -> NativeCap:
        limit = None if cap.amount is None else _number(cap.amount)
        body = await provider.http.json(
            "PATCH", f"/keys/{target}", json={"limit": limit, "limit_reset": cap.reset}
        )
        data = body.get("data") if isinstance(body, dict) else None
        got = key_cap(data, f"PATCH /keys/{target} data")
        if not got.matches(cap):
            raise ActionError(
                f"PATCH /keys/{target}: asked for {cap.describe()}, the key reports "
                f"{got.describe()}"
            )
        return got


def _number(amount: Decimal) -> int | float:
    """The JSON number for a USD amount: an int when whole (10, not 10.0), else a float."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)
