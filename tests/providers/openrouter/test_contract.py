"""Contract: every request the OpenRouter client sends, and every response it accepts, matches
the vendor's own OpenAPI spec (shared/specs/openrouter/in.openapi.yaml), checked with jsonschema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from killswitch.model import ObservationKind
from killswitch.plugins import ActionContext, ProviderContext
from killswitch.providers.openrouter import DisableKey, OpenRouterProvider
from killswitch.providers.openrouter.provider import OpenRouterConfig
from tests.contract.openapi import ContractError, Spec
from tests.providers.openrouter.fixtures import SpecServer, make_key, spec_key

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec() -> Spec:
    from tests.conftest import shared_dir

    return Spec(shared_dir() / "specs" / "openrouter" / "in.openapi.yaml", base_path="/api/v1")


def provider(server: Any) -> OpenRouterProvider:
    cfg = OpenRouterConfig(type="openrouter", api_key="sk-or-v1-test-management-key")
    return OpenRouterProvider(
        "or", cfg, ProviderContext(http_transport=httpx.MockTransport(server))
    )


async def test_poll_paginates_all_keys_and_matches_spec(spec: Spec) -> None:
    tpl = spec_key(spec)
    server = SpecServer(spec, [make_key(tpl, i, usage_daily=i / 10) for i in range(250)])
    p = provider(server)
    result = await p.sources()["openrouter"].poll(NOW, NOW)
    assert result.ok, result.error
    offsets = [r.url.params["offset"] for r in server.requests]
    assert offsets == ["0", "100", "200"]
    assert all(r.url.params["include_disabled"] == "true" for r in server.requests)
    assert all(
        r.headers["authorization"] == "Bearer sk-or-v1-test-management-key" for r in server.requests
    )
    daily = {
        o.target: o
        for o in result.observations
        if o.kind is ObservationKind.TO_DATE and o.end is not None and (o.end - o.start).days == 1
    }  # type: ignore[operator]
    assert len(daily) == 250
    assert daily[f"{7:064x}"].amount.amount == Decimal("0.7")  # float -> exact Decimal
    assert daily[f"{7:064x}"].start == datetime(2026, 11, 23, tzinfo=UTC)


async def test_disable_and_undo_match_spec_and_restore_prior(spec: Spec) -> None:
    tpl = spec_key(spec)
    server = SpecServer(spec, [make_key(tpl, 1), make_key(tpl, 2, disabled=True)])
    p = provider(server)
    act = DisableKey()
    from killswitch.model import Money, Window
    from killswitch.plugins import ActionParams

    ctx = ActionContext("b", "g", Window(NOW, NOW, "daily"), None, Money(Decimal(1)), NOW)
    for h in (f"{1:064x}", f"{2:064x}"):
        prior = await act.snapshot(p, h, ActionParams())
        await act.execute(p, h, ActionParams(), ctx)
        assert server.keys[h]["disabled"] is True
        await act.undo(p, h, ActionParams(), prior, ctx)
    assert server.keys[f"{1:064x}"]["disabled"] is False
    assert server.keys[f"{2:064x}"]["disabled"] is True  # was off before us: stays off
    patches = [r for r in server.requests if r.method == "PATCH"]
    assert len(patches) == 4


async def test_applied_reads_the_disabled_flag_and_never_writes(spec: Spec) -> None:
    tpl = spec_key(spec)
    server = SpecServer(spec, [make_key(tpl, 1), make_key(tpl, 2, disabled=True)])
    p = provider(server)
    from killswitch.plugins import ActionParams

    assert await DisableKey().applied(p, f"{1:064x}", ActionParams()) is False
    assert await DisableKey().applied(p, f"{2:064x}", ActionParams()) is True
    assert [r.method for r in server.requests] == ["GET", "GET"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: k.update(usage_daily="12.5"),
        lambda k: k.pop("usage_monthly"),
        lambda k: k.update(usage_daily=None),
        lambda k: k.pop("hash"),
        lambda k: k.update(usage_weekly=-1.0),
    ],
)
async def test_malformed_keys_never_become_zero(spec: Spec, mutate: Any) -> None:
    tpl = spec_key(spec)
    keys = [make_key(tpl, 1, usage_daily=3.0), make_key(tpl, 2)]
    mutate(keys[1])
    server = SpecServer(spec, [])

    def bad(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": keys})

    server.override = bad
    result = await provider(server).sources()["openrouter"].poll(NOW, NOW)
    assert not result.ok and result.observations == ()
    assert "sk-or-v1" not in (result.error or "")


async def test_non_json_and_error_status_are_errors(spec: Spec) -> None:
    server = SpecServer(spec, [])
    server.override = lambda r: httpx.Response(200, content=b"<html>oops</html>")
    assert "not JSON" in (await provider(server).sources()["openrouter"].poll(NOW, NOW)).error  # type: ignore[operator]
    server.override = lambda r: httpx.Response(
        401, json={"error": {"code": 401, "message": "No auth"}}
    )
    result = await provider(server).sources()["openrouter"].poll(NOW, NOW)
    assert result.error == "GET /keys -> HTTP 401: No auth"


def test_checker_rejects_what_the_spec_forbids(spec: Spec) -> None:
    with pytest.raises(ContractError):
        spec.check_request("PATCH", "/api/v1/keys/abc", {}, {"disabled": "yes"})
    with pytest.raises(ContractError):
        spec.check_request("GET", "/api/v1/keys", {"offest": ["0"]})
    with pytest.raises(ContractError):
        spec.check_response("GET", "/api/v1/keys", 200, {"data": [{"hash": 1}]})
