"""Contract tests against the OpenAPI document the real litellm package produces: the document
is the real one, the checker has teeth, and every operation killswitch uses is exercised and
validated (request, and the stand-in's answer)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from killswitch.plugins import ActionParams
from killswitch.providers.litellm import (
    BlockEndUser,
    BlockKey,
    BlockTeam,
    CapKey,
    LiteLLMProvider,
)
from killswitch.providers.litellm.sources import COUNTERS, DAILY_PATH

from .conftest import K1, NOW, check_exchanges
from .contract import VERSION, Contract, ContractError
from .fake import MASTER, FakeLiteLLM
from .test_actions import CTX

URL = "http://litellm.test:4000"
AUTH = {"x-litellm-api-key": f"Bearer {MASTER}"}
JSON = {**AUTH, "content-type": "application/json"}

USED = {
    ("GET", DAILY_PATH),
    *(("GET", s.path) for s in COUNTERS.values()),
    ("GET", "/key/info"),
    ("POST", "/key/block"),
    ("POST", "/key/unblock"),
    ("POST", "/key/update"),
    ("GET", "/team/info"),
    ("POST", "/team/block"),
    ("POST", "/team/unblock"),
    ("GET", "/customer/info"),
    ("POST", "/customer/block"),
    ("POST", "/customer/update"),
}


def test_the_document_comes_from_the_real_package(contract: Contract) -> None:
    assert contract.package_version == VERSION
    assert contract.doc["openapi"].startswith("3.1") and len(contract.doc["paths"]) > 500
    scheme = contract.doc["components"]["securitySchemes"]["APIKeyHeader"]
    assert (scheme["in"], scheme["name"]) == ("header", "x-litellm-api-key")
    for method, path in USED:
        contract.operation(method, path)


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        ("POST", "/key/block", JSON, b'{"token":"abc"}'),
        ("POST", "/key/block", JSON, b'{"key":5}'),
        ("GET", "/key/block", AUTH, b""),
        ("POST", "/key/update", JSON, b'{"key":"abc","max_budget":"21.37"}'),
        ("POST", "/team/block", JSON, b'{"team":"t"}'),
        ("GET", "/key/list?size=500", AUTH, b""),
        ("GET", "/key/list?page=0", AUTH, b""),
        ("GET", "/key/list?page=first", AUTH, b""),
        ("GET", "/key/list?limit=100", AUTH, b""),
        ("GET", "/key/list", {}, b""),
        ("GET", f"{DAILY_PATH}?start_date=2026-12-01&page_size=5000", AUTH, b""),
        ("GET", "/v2/team/list?page_size=1000", AUTH, b""),
        ("GET", "/key/spend", AUTH, b""),
    ],
)
def test_the_checker_rejects_what_the_proxy_would(
    contract: Contract, method: str, url: str, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(ContractError):
        contract.check_request(method, URL + url, headers, body)


def test_the_checker_rejects_answers_off_the_schema(contract: Contract) -> None:
    with pytest.raises(ContractError):
        contract.check_response(
            "GET", f"{URL}{DAILY_PATH}", AUTH, b"", 200, {"results": [{"metrics": {}}]}
        )
    with pytest.raises(ContractError):
        contract.check_response("GET", f"{URL}/v2/team/list", AUTH, b"", 200, {"teams": []})


async def test_every_request_the_plugin_sends_is_in_the_contract(
    contract: Contract, fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.spend(K1, "groq/llama-3.1-70b", 3.0, NOW.date())
    fake.add_customer("acme", spend=1.0)
    for name, source in provider.sources().items():
        res = await source.poll(NOW, NOW.replace(day=1))
        assert res.ok, (name, res.error)
    (finding,) = await provider.doctor([])
    assert finding.ok, finding.detail
    p = ActionParams()
    for action, target in (
        (BlockKey(), K1),
        (CapKey(), K1),
        (BlockTeam(), "team-groq"),
        (BlockEndUser(), "acme"),
    ):
        prior = await action.snapshot(provider, target, p)
        await action.execute(provider, target, p, CTX)
        await action.undo(provider, target, p, prior, CTX)
    assert check_exchanges(contract, fake) == len(fake.exchanges) > 10
    seen = {(e.method, urlsplit(e.url).path) for e in fake.exchanges}
    assert seen == USED
    assert all(e.status == 200 for e in fake.exchanges)
