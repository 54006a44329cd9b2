"""Credential, SDK clients and the one way we call them: in a thread, with safe errors.

The azure-mgmt-* clients are synchronous; every call runs in ``asyncio.to_thread`` so a slow ARM
call never stalls the event loop (and with it other providers' cycles and /metrics). Failures
become :class:`SourceError` / :class:`ActionError` built from the HTTP status, ARM's error code
and the first line of its message: never from request bodies, headers or tokens.

Tests and embedders inject an :class:`AzureHooks` through ``ProviderContext.hooks``: a
credential (any ``TokenCredential``), a transport (an azure-core ``HttpTransport`` every client
sends through), or ready clients (``cognitiveservices`` serves every subscription).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from killswitch.providers._kit.cloud import ThreadedCalls, injected_clients
from killswitch.providers._kit.validators import is_loopback
from killswitch.providers.azure.config import AzureConfig


class _Read(Protocol):
    @property
    def at(self) -> datetime: ...


R = TypeVar("R", bound=_Read)
ARM_SCOPE = "https://management.azure.com/.default"
# Statuses after which retrying the same call cannot help: a human must change something.
PERMANENT = frozenset({400, 403, 404})


class LoopbackHttp(SansIOHTTPPolicy[Any, Any]):
    """Let bearer tokens go to a plain-http *loopback* endpoint (a local stand-in).

    azure-core refuses bearer auth over http; that rule protects real networks, and the config
    only accepts http for 127.0.0.1/localhost, so this policy never relaxes it anywhere else.
    """

    def on_request(self, request: PipelineRequest[Any]) -> None:
        url = urlsplit(request.http_request.url)
        if url.scheme == "http" and is_loopback(url.hostname):
            request.context["enforce_https"] = False


def _first_line(text: object, limit: int = 300) -> str:
    line = next((s.strip() for s in str(text or "").splitlines() if s.strip()), "")
    return line[:limit]


def describe(what: str, exc: BaseException) -> str:
    """A one-line, secret-free description of a failed Azure call."""
    if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:
        # Credential failures: DefaultAzureCredential lists every credential it tried.
        lines = [s.strip() for s in str(exc.message or exc).splitlines() if s.strip()][:3]
        return f"{what}: no usable Azure credential: {' '.join(lines)[:400]}"
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        err = exc.error
        code = getattr(err, "code", None)
        message = _first_line(getattr(err, "message", None) or exc.reason)
        head = f"{what}: HTTP {exc.status_code}" + (f" {code}" if code else "")
        return head + (f": {message}" if message else "")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return f"{what}: cannot reach Azure Resource Manager ({type(exc).__name__})"
    if isinstance(exc, AzureError):
        return f"{what}: {type(exc).__name__}: {_first_line(exc.message)}"
    return f"{what}: {type(exc).__name__}: {_first_line(exc)}"


def status_of(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, HttpResponseError) else None


@dataclass(frozen=True)
class AzureHooks:
    """What tests and embedders inject instead of DefaultAzureCredential and real clients."""

    credential: Any = None
    transport: Any = None
    consumption: Any = None
    costmanagement: Any = None
    cognitiveservices: Any = None


class AzureClients(ThreadedCalls):
    """Lazily built credential and SDK clients for one provider entry (thread-safe)."""

    def __init__(self, cfg: AzureConfig, hooks: AzureHooks | None = None) -> None:
        self.cfg = cfg
        hooks = hooks or AzureHooks()
        self._credential: Any = hooks.credential
        self._transport: Any = hooks.transport
        self._ready = injected_clients(hooks, "consumption", "costmanagement", "cognitiveservices")
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()

    # ---- credential ----------------------------------------------------------------------
    def credential(self) -> Any:
        with self._lock:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential(
                    managed_identity_client_id=self.cfg.managed_identity_client_id
                )
            return self._credential

    def token(self) -> str:
        """A token for ARM (doctor's credential check); never logged."""
        return str(self.credential().get_token(ARM_SCOPE).token)

    # ---- clients -------------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        timeout = self.cfg.timeout.total_seconds()
        opts: dict[str, Any] = {
            "retry_policy": RetryPolicy(
                retry_total=3, retry_backoff_factor=0.5, retry_backoff_max=8, timeout=timeout * 4
            ),
            "polling_interval": self.cfg.polling_interval.total_seconds(),
            "connection_timeout": timeout,
            "read_timeout": timeout,
        }
        if self.cfg.base_url:
            opts["base_url"] = self.cfg.base_url
        if self.cfg.plain_http:
            opts["per_call_policies"] = [LoopbackHttp()]
        if self._transport is not None:
            opts["transport"] = self._transport
        return opts

    def _client(self, key: str, build: Callable[[Any, dict[str, Any]], Any]) -> Any:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = build(self.credential(), self._options())
            return self._clients[key]

    def consumption(self) -> Any:
        if "consumption" in self._ready:
            return self._ready["consumption"]
        from azure.mgmt.consumption import ConsumptionManagementClient

        sub = self.cfg.subscription_id
        return self._client(
            "consumption", lambda c, o: ConsumptionManagementClient(c, subscription_id=sub, **o)
        )

    def costmanagement(self) -> Any:
        if "costmanagement" in self._ready:
            return self._ready["costmanagement"]
        from azure.mgmt.costmanagement import CostManagementClient

        return self._client("costmanagement", lambda c, o: CostManagementClient(c, **o))

    def cognitive(self, subscription: str) -> Any:
        """The Cognitive Services client bound to ``subscription`` (one per subscription)."""
        if "cognitiveservices" in self._ready:
            return self._ready["cognitiveservices"]
        from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

        return self._client(
            f"cognitive:{subscription.lower()}",
            lambda c, o: CognitiveServicesManagementClient(c, subscription_id=subscription, **o),
        )

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                close = getattr(client, "close", None)
                if callable(close):
                    close()
            self._clients.clear()
            close_cred = getattr(self._credential, "close", None)
            if callable(close_cred):
                close_cred()

    # ---- calls ---------------------------------------------------------------------------
    def failure(self, what: str, exc: BaseException) -> str:
        return describe(what, exc)

    def permanent(self, exc: BaseException) -> bool:
        return status_of(exc) in PERMANENT


class CachedSource(Generic[R]):
    """A source that answers from its last read (an ``R`` stamped ``at``) for a while.

    Azure budgets and Cost Management refresh far less often than killswitch polls, and Cost
    Management throttles queries, so each source reuses its last read for ``min_interval`` —
    but never across a UTC day change, where a new day's (or period's) figure can start.
    """

    def __init__(self, cfg: AzureConfig, clients: AzureClients) -> None:
        self.cfg = cfg
        self.clients = clients
        self._cache: R | None = None

    def _cached(self, now: datetime, min_interval: timedelta) -> R | None:
        c = self._cache
        if c and now - c.at < min_interval and c.at.date() == now.date():
            return c
        return None
