"""One HTTP client for every provider: retries with backoff, Retry-After, pacing, safe errors.

Providers differ in URLs and payloads, not in how a polite, robust client behaves; so that
behaviour lives here once. Error messages carry method, path and status only: never headers
(credentials) nor bodies (which may echo them).
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from killswitch import __version__
from killswitch.errors import ActionError, MalformedResponse, SourceError

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        # Full jitter: spreads retries of several replicas or keys apart.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


class HTTPStatusError(ActionError, SourceError):
    """A final non-2xx answer. ``retryable`` is False for 4xx other than 408/425/429."""

    def __init__(self, method: str, path: str, status: int, detail: str = "") -> None:
        self.status = status
        msg = f"{method} {path} -> HTTP {status}" + (f": {detail}" if detail else "")
        ActionError.__init__(self, msg, retryable=status in RETRY_STATUSES)


def retry_after_seconds(headers: Mapping[str, str], cap: float) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, cap))


class Pacer:
    """Keeps at least ``interval`` seconds between request starts (per provider)."""

    def __init__(self, interval: float = 0.0) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.interval <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once.

    Building it parses the whole CA bundle: about 45 ms of CPU, more than fetching a page of keys,
    paid by every client httpx makes with ``verify=True``. A verifying context holds no
    per-connection state, so every provider (and proxy mount) can share this one.
    """
    return httpx.create_ssl_context()


class ProviderHTTP:
    """An ``httpx.AsyncClient`` with the retry, pacing and error rules above."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        all_headers = {"user-agent": f"killswitch/{__version__}", **(headers or {})}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=all_headers,
            timeout=timeout,
            transport=transport,
            verify=_tls_context(),
        )
        self.retry = retry or RetryPolicy()
        self.pacer = pacer or Pacer()
        self.requests_sent = 0

    async def request(
        self, method: str, path: str, *, attempts: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        """``attempts=1`` for a call that must not be repeated blindly (creating a key: a retry
        after a lost answer would make a second key whose secret nobody ever sees)."""
        last: Exception | None = None
        tries = attempts or self.retry.attempts
        for attempt in range(tries):
            await self.pacer.wait()
            try:
                self.requests_sent += 1
                resp = await self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = SourceError(f"{method} {path}: {type(exc).__name__}")
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if resp.status_code < 400:
                return resp
            err = HTTPStatusError(method, path, resp.status_code, _error_detail(resp))
            if not err.retryable or attempt == tries - 1:
                raise err
            last = err
            wait = retry_after_seconds(resp.headers, self.retry.max_delay)
            await asyncio.sleep(wait if wait is not None else self.retry.delay(attempt))
        assert last is not None
        if isinstance(last, HTTPStatusError):
            raise last
        raise _transport_error(last)

    async def json(
        self, method: str, path: str, *, attempts: int | None = None, **kwargs: Any
    ) -> Any:
        resp = await self.request(method, path, attempts=attempts, **kwargs)
        try:
            return resp.json()
        except ValueError:
            raise MalformedResponse(f"{method} {path}: response is not JSON") from None

    async def aclose(self) -> None:
        await self.client.aclose()


class TransportFailure(ActionError, SourceError):
    """The provider could not be reached after all retries."""


def _transport_error(exc: Exception) -> TransportFailure:
    return TransportFailure(str(exc), retryable=True)


def _error_detail(resp: httpx.Response) -> str:
    # Provider error bodies carry a short code/message; keep only those, truncated.
    try:
        body = resp.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        text = str(err.get("message") or err.get("code") or err.get("type") or "")
    elif isinstance(err, str):
        text = err
    else:
        text = str(body.get("message", "")) if isinstance(body, dict) else ""
    return text[:200]
