"""Contract tests against OpenAI's official spec: the checker has teeth, every operation the
client uses is exercised and validated (request and accepted response), and where the client is
deliberately stricter than the spec."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from killswitch.plugins import ActionParams
from killswitch.providers.openai import (
    ArchiveProject,
    DeleteKey,
    LowerRateLimits,
    OpenAIProvider,
    SetSpendLimit,
)
from killswitch.providers.openai.actions import RateLimitParams

from .conftest import K1, K3, NOW, P1, P2, check_exchanges
from .contract import SPEC_PATH, Contract, ContractError
from .fake import FakeOpenAI
from .test_actions import CTX

URL = "https://api.openai.com/v1"
AUTH = {"authorization": "Bearer sk-admin-x"}


def test_the_spec_is_found_beside_the_repo(contract: Contract) -> None:
    assert SPEC_PATH.exists() and contract.doc["openapi"].startswith("3.1")
    assert contract.mapped > 0  # discriminator mappings added (results is a oneOf of 11)
    results = contract.doc["components"]["schemas"]["UsageTimeBucket"]["properties"]["results"]
    assert len(results["items"]["oneOf"]) == 11
    assert results["items"]["discriminator"]["mapping"]["organization.costs.result"].endswith(
        "/CostsResult"
    )


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        ("GET", "/organization/usage/completions?start_time=1&bucket_width=2m", AUTH, b""),
        ("GET", "/organization/usage/completions?start_time=1&group_by=bogus", AUTH, b""),
        ("GET", "/organization/usage/completions?start_time=1&group_by%5B%5D=model", AUTH, b""),
        ("GET", "/organization/usage/completions?bucket_width=1m", AUTH, b""),
        ("GET", "/organization/usage/completions?start_time=1&ending_at=2", AUTH, b""),
        ("GET", "/organization/usage/completions?start_time=yesterday", AUTH, b""),
        ("GET", "/organization/usage/completions?start_time=1", {}, b""),
        ("GET", "/organization/usage/embeddings?start_time=1&group_by=batch", AUTH, b""),
        ("GET", "/organization/costs?start_time=1&bucket_width=1h", AUTH, b""),
        ("GET", "/organization/costs?start_time=1&group_by=model", AUTH, b""),
        (
            "POST",
            "/organization/projects/p/spend_limit",
            AUTH,
            b'{"threshold_amount":0,"currency":"USD","interval":"month"}',
        ),
        (
            "POST",
            "/organization/projects/p/spend_limit",
            AUTH,
            b'{"threshold_amount":5,"currency":"usd","interval":"month"}',
        ),
        (
            "POST",
            "/organization/projects/p/spend_limit",
            AUTH,
            b'{"threshold_amount":5.5,"currency":"USD","interval":"month"}',
        ),
        ("PATCH", "/organization/projects/p/api_keys/k", AUTH, b"{}"),
        (
            "POST",
            "/organization/projects/p/rate_limits/r",
            AUTH,
            b'{"max_requests_per_1_minute":"1"}',
        ),
    ],
)
def test_the_checker_rejects_bad_requests(
    contract: Contract, method: str, url: str, headers: dict[str, str], body: bytes
) -> None:
    with pytest.raises(ContractError):
        contract.check_request(
            method, URL + url, {**headers, "content-type": "application/json"}, body
        )


def bucket(results: list[Any]) -> dict[str, Any]:
    return {
        "object": "page",
        "data": [{"object": "bucket", "start_time": 0, "end_time": 60, "results": results}],
        "has_more": False,
        "next_page": None,
    }


@pytest.mark.parametrize(
    "response",
    [
        bucket(
            [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": "1",
                    "output_tokens": 1,
                    "num_model_requests": 1,
                }
            ]
        ),
        bucket(
            [
                {
                    "object": "organization.usage.completions.result",
                    "output_tokens": 1,
                    "num_model_requests": 1,
                }
            ]
        ),
        bucket([{"object": "organization.usage.nonsense.result"}]),
        bucket(
            [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": "0.06", "currency": "usd"},
                }
            ]
        ),
        {"object": "page", "data": [], "next_page": None},
        {"error": {"message": "x", "type": "server_error", "param": None, "code": None}},
    ],
)
def test_the_checker_rejects_bad_responses(contract: Contract, response: Any) -> None:
    url = URL + "/organization/usage/completions?start_time=1"
    with pytest.raises(ContractError):
        contract.check_response("GET", url, AUTH, b"", 200, response)


def test_stricter_than_the_spec_where_money_depends_on_it(contract: Contract) -> None:
    """The spec lets a CostsResult omit its amount; the client refuses it (never $0)."""
    no_amount = bucket([{"object": "organization.costs.result", "project_id": "p"}])
    contract.check_response(
        "GET", URL + "/organization/costs?start_time=1", AUTH, b"", 200, no_amount
    )
    from killswitch.errors import MalformedResponse
    from killswitch.providers.openai.shapes import cost_rows, page

    with pytest.raises(MalformedResponse, match="amount"):
        cost_rows([page(no_amount, "t")], "t")


CLIENT_OPERATIONS = {
    ("GET", "/organization/usage/completions"),
    ("GET", "/organization/usage/embeddings"),
    ("GET", "/organization/usage/audio_speeches"),
    ("GET", "/organization/usage/audio_transcriptions"),
    ("GET", "/organization/usage/images"),
    ("GET", "/organization/costs"),
    ("GET", "/organization/projects"),
    ("GET", "/organization/projects/{project_id}"),
    ("POST", "/organization/projects/{project_id}/archive"),
    ("GET", "/organization/projects/{project_id}/spend_limit"),
    ("POST", "/organization/projects/{project_id}/spend_limit"),
    ("DELETE", "/organization/projects/{project_id}/spend_limit"),
    ("GET", "/organization/projects/{project_id}/rate_limits"),
    ("POST", "/organization/projects/{project_id}/rate_limits/{rate_limit_id}"),
    ("GET", "/organization/projects/{project_id}/api_keys"),
    ("GET", "/organization/projects/{project_id}/api_keys/{api_key_id}"),
    ("DELETE", "/organization/projects/{project_id}/api_keys/{api_key_id}"),
}


async def test_every_operation_the_client_uses_fits_the_spec(
    contract: Contract, fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    at = NOW.replace(minute=3)
    fake.add_completion(
        at,
        P1,
        K1,
        "gpt-4o-mini",
        input=1000,
        output=10,
        cached=100,
        audio_in=5,
        audio_out=2,
        batch=True,
        tier="flex",
    )
    fake.add_completion(at - timedelta(hours=5), P2, K3, "gpt-4o", input=1000)
    fake.add_usage(
        "embeddings",
        at,
        project_id=P1,
        api_key_id=K1,
        model="text-embedding-3-small",
        input_tokens=10,
        num_model_requests=1,
    )
    fake.add_usage(
        "audio_speeches",
        at,
        project_id=P1,
        api_key_id=K1,
        model="tts-1",
        characters=10,
        num_model_requests=1,
    )
    fake.add_usage(
        "audio_transcriptions",
        at,
        project_id=P1,
        api_key_id=K1,
        model="whisper-1",
        seconds=10,
        num_model_requests=1,
    )
    fake.add_usage(
        "images",
        at,
        project_id=P1,
        api_key_id=K1,
        model="dall-e-3",
        images=1,
        size="1024x1024",
        source="image.generation",
        num_model_requests=1,
    )
    fake.add_cost(at - timedelta(days=1), P1, "gpt-4o-mini, input", 0.06)
    fake.add_rate_limit(P1, "rl-1", "gpt-4o", max_images_per_1_minute=5)
    fake.spend_limits[P2] = {
        "object": "project.spend_limit",
        "threshold_amount": 5000,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "inactive"},
    }
    assert (
        await provider.sources()["openai.usage"].poll(NOW, datetime(2026, 11, 1, tzinfo=UTC))
    ).ok
    assert (
        await provider.sources()["openai.costs"].poll(NOW, datetime(2026, 11, 1, tzinfo=UTC))
    ).ok
    await provider.doctor(["openai.spend-limit", "openai.rate-limit", "openai.delete-key"])
    none = ActionParams()
    for target in (P1, P2):  # no prior limit (DELETE on undo), and a prior limit (POST back)
        a = SetSpendLimit()
        snap = await a.snapshot(provider, target, none)  # before execute, as the executor
        prior = {**await a.execute(provider, target, none, CTX), **snap}
        await a.undo(provider, target, none, prior, CTX)
    rl = LowerRateLimits()
    prior = {
        **await rl.snapshot(provider, P1, RateLimitParams()),
        **await rl.execute(provider, P1, RateLimitParams(), CTX),
    }
    await rl.undo(provider, P1, RateLimitParams(), prior, CTX)
    provider.key_projects.clear()
    await DeleteKey().execute(provider, K3, none, CTX)  # scan: GET key in P1 (404), P2 (200)
    await ArchiveProject().execute(provider, P2, none, CTX)
    assert all(e.spec_valid for e in fake.exchanges)
    assert check_exchanges(contract, fake) == len(fake.exchanges)
    used = {
        (e.method, contract.operation(e.method, urlsplit(e.url).path)[0]) for e in fake.exchanges
    }
    assert used == CLIENT_OPERATIONS
    statuses = {e.status for e in fake.exchanges}
    assert statuses == {200, 404}  # 404s: no spend limit yet, key not in the first project


def test_fake_handles_repeated_group_by_like_the_api(fake: FakeOpenAI) -> None:
    fake.add_completion(NOW, P1, K1, "gpt-4o", input=1)
    start = int(NOW.replace(minute=0, second=0).timestamp())
    _, body, _ = fake.handle(
        "GET",
        f"{URL}/organization/usage/completions?start_time={start}&bucket_width=1h&group_by=project_id&group_by=model",
        {"authorization": f"Bearer {fake.admin_key}"},
        b"",
    )
    (r,) = body["data"][0]["results"]
    assert (r["project_id"], r["model"], r["api_key_id"]) == (P1, "gpt-4o", None)
    assert re.fullmatch(r"\d+", str(r["input_tokens"]))
