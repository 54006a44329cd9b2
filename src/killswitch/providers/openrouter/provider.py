"""OpenRouter source: ``GET /keys`` pages into per-key spend observations.

Each key carries running USD counters (``usage_daily``/``weekly``/``monthly``, reset at 00:00 UTC,
weeks from Monday) and a lifetime ``usage``. The calendar counters become ``to_date``
observations that match UTC daily/weekly/monthly windows exactly; the lifetime counter becomes a
``counter`` sample that serves rolling windows and windows in other time zones.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from killswitch.core.windows import WindowSpec
from killswitch.errors import MalformedResponse, SourceError
from killswitch.http import HTTPStatusError, ProviderHTTP
from killswitch.model import (
    Money,
    ObservationKind,
    PollResult,
    SpendObservation,
    Window,
    to_decimal,
)
from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    IssuedKey,
    KeyRequest,
    ManagedKey,
    ProviderConfig,
    Source,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers._kit.source import GuardedSource

PAGE_SIZE = 100  # documented page size of GET /keys; a shorter page is the last one
MAX_PAGES = 1000


class OpenRouterConfig(ProviderConfig):
    api_key: SecretStr = Field(description="a management key: ${env:OPENROUTER_MANAGEMENT_KEY}")
    base_url: str = "https://openrouter.ai/api/v1"
    workspace_id: str | None = Field(default=None, description="default: the default workspace")


_WINDOWS = {
    "usage_daily": WindowSpec("daily"),
    "usage_weekly": WindowSpec("weekly"),
    "usage_monthly": WindowSpec("monthly"),
}
_AMOUNTS = ("usage", *_WINDOWS)


def parse_key(item: Any, index: int) -> dict[str, Any]:
    """Validate one ApiKey object; raise MalformedResponse naming what is wrong.

    Called 10k times a poll at 10k keys: a plain JSON number takes the short way (its exact
    type, so a bool is no number); anything else goes through the checks that name the fault.
    """
    if not isinstance(item, dict):
        raise MalformedResponse(f"/keys data[{index}] is not an object")
    h = item.get("hash")
    if not isinstance(h, str) or not h:
        raise MalformedResponse(f"/keys data[{index}].hash is missing")
    out: dict[str, Any] = {"hash": h, "name": str(item.get("name") or item.get("label") or "")}
    for f in _AMOUNTS:
        v: Any = item.get(f)
        kind = type(v)
        amount = Decimal(repr(v)) if kind is float else Decimal(v) if kind is int else None
        if amount is None or not amount.is_finite():
            amount = _odd_amount(item, f, index, h)
        if amount < 0:
            raise MalformedResponse(f"/keys data[{index}].{f} is negative for key {h}")
        out[f] = amount
    out["disabled"] = bool(item.get("disabled", False))
    out["workspace_id"] = item.get("workspace_id")
    # the native cap's fields, checked by caps.py only when a budget sets native_cap
    out["cap"] = {"limit": item.get("limit"), "limit_reset": item.get("limit_reset")}
    return out


def _odd_amount(item: dict[str, Any], f: str, index: int, h: str) -> Decimal:
    """An amount that is not a plain finite number: the error that says what it is."""
    v = item.get(f)
    if v is None:
        raise MalformedResponse(f"/keys data[{index}].{f} is missing for key {h}")
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise MalformedResponse(f"/keys data[{index}].{f} is not a number for key {h}")
    try:
        return to_decimal(v, field_name=f)
    except ValueError as exc:
        raise MalformedResponse(f"/keys data[{index}]: {exc}") from None


class OpenRouterSource(GuardedSource):
    name = "openrouter"

    def __init__(self, provider: OpenRouterProvider) -> None:
        self.provider = provider

    async def list_keys(self) -> list[dict[str, Any]]:
        return [k async for page in self.pages() for k in page]

    async def pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The listing page by page, each parsed as it arrives (a short page is the last).

        While the caller works on a full page, the next one is already being fetched: the poll
        takes the requests' time, not the requests' plus the parsing's. Never more than one
        request is in flight, as before, so the API sees the same sequential reads."""
        params: dict[str, Any] = {"include_disabled": "true"}
        if self.provider.cfg.workspace_id:
            params["workspace_id"] = self.provider.cfg.workspace_id

        def fetch(page: int) -> asyncio.Task[Any]:
            get = self.provider.http.json(
                "GET", "/keys", params={**params, "offset": page * PAGE_SIZE}
            )
            return asyncio.ensure_future(get)

        pending = fetch(0)
        try:
            for page in range(MAX_PAGES):
                body = await pending
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, list):
                    raise MalformedResponse("/keys: response has no 'data' list")
                parsed = [parse_key(item, i) for i, item in enumerate(data)]
                if len(data) < PAGE_SIZE:
                    yield parsed
                    return
                if page + 1 < MAX_PAGES:
                    pending = fetch(page + 1)
                yield parsed
        finally:  # the caller stopped early: no request left behind, no error left unread
            pending.cancel()
            if pending.done() and not pending.cancelled():
                pending.exception()
        raise SourceError(f"/keys: more than {MAX_PAGES} pages; refusing to guess the rest")

    async def _poll(self, now: datetime, since: datetime) -> PollResult:
        """Observations are built page by page, while the next page is on its way: after the
        last page only its own keys are left to do (the kill of a key waits for less)."""
        obs: list[SpendObservation] = []
        windows = {f: spec.at(now) for f, spec in _WINDOWS.items()}  # once per poll, not per key
        async for page in self.pages():
            for k in page:
                obs += self._observe(k, now, windows)
        return PollResult(self.name, tuple(obs), data_as_of=now)

    def _observe(
        self, k: dict[str, Any], now: datetime, windows: dict[str, Window]
    ) -> list[SpendObservation]:
        """A key's three calendar counters (``to_date``) and its lifetime ``counter`` sample."""
        dims = {"key": k["hash"]}
        if k["name"]:
            dims["name"] = k["name"]
        if k["workspace_id"]:
            dims["workspace"] = str(k["workspace_id"])
        to_date = ObservationKind.TO_DATE
        out = [
            SpendObservation(
                self.name, k["hash"], to_date, Money(k[f], "USD"), now, w.start, w.end, dims
            )
            for f, w in windows.items()
        ]
        lifetime = Money(k["usage"], "USD")
        out.append(
            SpendObservation(
                self.name, k["hash"], ObservationKind.COUNTER, lifetime, now, dims=dims
            )
        )
        return out


@registry.provider
class OpenRouterProvider(BuiltProvider[OpenRouterConfig]):
    type = "openrouter"
    config_model = OpenRouterConfig
    source_names = ("openrouter",)
    capabilities = Capabilities(
        reads=["per-key USD spend: day, week, month (UTC counters) and lifetime"],
        granularity="per key, running counters",
        latency="counters update near-real-time (undocumented)",
        scopes=["all", "key", "keys", "workspace"],
        notes=["native per-key $ limits exist too; killswitch adds windows, alerts and restore"],
    )

    def setup(self) -> None:
        self.http = ProviderHTTP(
            self.cfg.base_url,
            headers={"authorization": f"Bearer {self.cfg.api_key.get_secret_value()}"},
            timeout=self.cfg.timeout.total_seconds(),
            transport=self.context.http_transport,
        )

    def build_sources(self) -> Mapping[str, Source]:
        return {"openrouter": OpenRouterSource(self)}

    # ---- KeyIssuer: ``killswitch keys`` -------------------------------------------------
    key_cap: ClassVar[Literal["native", "enforced"]] = "native"
    key_expiry: ClassVar[bool] = True

    async def create_key(self, request: KeyRequest) -> IssuedKey:
        """``POST /keys`` with the cap as the key's own ``limit`` + ``limit_reset``.

        The response's ``key`` is the secret: it goes into the returned IssuedKey and nowhere
        else (no log line, no error text carries it).
        """
        body: dict[str, Any] = {
            "name": request.name,
            "limit": float(request.limit.amount),
            "limit_reset": request.window,
        }
        if request.expires_at is not None:
            body["expires_at"] = request.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.cfg.workspace_id:
            body["workspace_id"] = self.cfg.workspace_id
        out = await self.http.json("POST", "/keys", json=body, attempts=1)
        data = out.get("data") if isinstance(out, dict) else None
        secret = out.get("key") if isinstance(out, dict) else None
        h = data.get("hash") if isinstance(data, dict) else None
        if not isinstance(h, str) or not h or not isinstance(secret, str) or not secret:
            raise MalformedResponse("POST /keys: the answer has no data.hash or key")
        return IssuedKey(h, SecretStr(secret), native_cap=True)

    async def revoke_key(self, key: ManagedKey) -> None:
        """``DELETE /keys/{hash}``; a key already gone counts as revoked."""
        try:
            await self.http.request("DELETE", f"/keys/{key.id}")
        except HTTPStatusError as exc:
            if exc.status != 404:
                raise

    @classmethod
    def key_actions(cls, key: ManagedKey) -> list[str | dict[str, Any]]:
        """Disable the key (reversible: it comes back when the window resets)."""
        return ["openrouter.disable-key"]

    async def doctor(self, actions: Any) -> list[DoctorFinding]:
        try:
            body = await self.http.json("GET", "/key")
            mgmt = bool(body.get("data", {}).get("is_management_key"))
        except SourceError as exc:
            return [DoctorFinding("credentials", False, str(exc))]
        findings = [DoctorFinding("credentials", True, "key accepted")]
        findings.append(
            DoctorFinding(
                "management key (needed to list, disable and delete keys)",
                mgmt,
                "ok"
                if mgmt
                else "this is not a management key: create one under Settings > Management keys",
            )
        )
        return findings

    async def aclose(self) -> None:
        await self.http.aclose()
