"""ProviderHTTP: retries with backoff, Retry-After honoured, 4xx final, errors without secrets."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from killswitch.http import (
    HTTPStatusError,
    ProviderHTTP,
    RetryPolicy,
    TransportFailure,
    _tls_context,
)

TOKEN = "Bearer sk-secret-token-value"


def client(handler: httpx.MockTransport, attempts: int = 3) -> ProviderHTTP:
    return ProviderHTTP(
        "https://api.example",
        headers={"authorization": TOKEN},
        retry=RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=5),
        transport=handler,
    )


async def test_429_waits_for_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
        await real_sleep(0)

    monkeypatch.setattr("killswitch.http.asyncio.sleep", fake_sleep)
    calls = iter([httpx.Response(429, headers={"retry-after": "2"}), httpx.Response(200, json={})])
    c = client(httpx.MockTransport(lambda r: next(calls)))
    assert (await c.request("GET", "/x")).status_code == 200
    assert sleeps == [2.0]


async def test_client_errors_are_final_and_server_errors_retried() -> None:
    n = {"count": 0}

    def handler(r: httpx.Request) -> httpx.Response:
        n["count"] += 1
        return httpx.Response(403, json={"error": {"message": "forbidden"}})

    with pytest.raises(HTTPStatusError) as exc:
        await client(httpx.MockTransport(handler)).request("PATCH", "/keys/a")
    assert n["count"] == 1 and exc.value.retryable is False
    assert str(exc.value) == "PATCH /keys/a -> HTTP 403: forbidden"

    n["count"] = 0

    def flaky(r: httpx.Request) -> httpx.Response:
        n["count"] += 1
        return httpx.Response(503)

    with pytest.raises(HTTPStatusError) as exc:
        await client(httpx.MockTransport(flaky)).request("GET", "/keys")
    assert n["count"] == 3 and exc.value.retryable is True


async def test_transport_errors_retry_then_fail_without_secrets() -> None:
    def down(r: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused for {r.headers['authorization']}")

    with pytest.raises(TransportFailure) as exc:
        await client(httpx.MockTransport(down)).request("GET", "/keys")
    assert "sk-secret" not in str(exc.value)
    assert "ConnectError" in str(exc.value)


async def test_clients_share_one_verifying_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parsing the CA bundle costs more than a page of keys; it is done once, not per client.
    built: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def counting() -> ssl.SSLContext:
        built.append(real())
        return built[-1]

    monkeypatch.setattr("killswitch.http.httpx.create_ssl_context", counting)
    _tls_context.cache_clear()
    for url in ("https://a.example", "https://b.example"):
        await ProviderHTTP(url).aclose()
    assert len(built) == 1
    assert built[0].verify_mode is ssl.CERT_REQUIRED and built[0].check_hostname
