"""Credentials, SDK clients and the one way we call them: in a thread, with safe errors.

The Google client libraries are synchronous; every call runs in ``asyncio.to_thread`` so a slow
API never stalls the event loop (and with it the other providers' cycles and /metrics). Errors
become :class:`SourceError` / :class:`ActionError` built from the exception type and Google's own
message: never from request bodies or credentials.

Tests and embedders inject a :class:`GcpHooks` through ``ProviderContext.hooks``: credentials
(e.g. ``AnonymousCredentials()``), the project, and ready clients (anything with the same methods,
such as a fake pull client).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc

from killswitch.errors import SourceError
from killswitch.providers._kit.cloud import ThreadedCalls, injected_clients
from killswitch.providers.gcp.config import GcpConfig

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"

# Errors after which retrying the same call cannot help (a human must change something).
PERMANENT: tuple[type[Exception], ...] = (
    gexc.PermissionDenied,
    gexc.NotFound,
    gexc.InvalidArgument,
    gexc.FailedPrecondition,
    gexc.BadRequest,
    gexc.Forbidden,
)


_REST_PREFIX = re.compile(r"^[A-Z]+ \S+: ")  # "PUT https://host/v1/...?$alt=...: "


def _status(exc: gexc.GoogleAPICallError) -> str:
    """Google's canonical status (PERMISSION_DENIED...), the same over REST and gRPC."""
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return str(getattr(code, "name", code))
    try:
        status = exc.response.json()["error"]["status"]  # REST: the JSON error body
    except Exception:
        status = None
    return str(status) if isinstance(status, str) and status else type(exc).__name__


def describe(what: str, exc: BaseException) -> str:
    """A one-line, secret-free description of a failed Google call."""
    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        return describe(what, exc.cause) + " (gave up retrying)"
    if isinstance(exc, gexc.GoogleAPICallError):
        message = _REST_PREFIX.sub("", str(exc.message or "")).splitlines()[0:1]
        return f"{what}: {_status(exc)}" + (f": {message[0]}" if message else "")
    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return f"{what}: no application default credentials ({exc})"
    if isinstance(exc, auth_exc.GoogleAuthError):
        return f"{what}: credentials failed: {type(exc).__name__}"
    return f"{what}: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class GcpHooks:
    """What tests and embedders inject instead of ADC and real SDK clients."""

    credentials: Any = None
    project: str | None = None
    subscriber: Any = None
    billing: Any = None
    service_usage: Any = None


class GcpClients(ThreadedCalls):
    """Lazily built ADC credentials and SDK clients for one provider entry (thread-safe)."""

    def __init__(self, cfg: GcpConfig, hooks: GcpHooks | None = None) -> None:
        self.cfg = cfg
        hooks = hooks or GcpHooks()
        self._credentials: Any = hooks.credentials
        self._project: str | None = hooks.project
        self._resolved = self._credentials is not None
        self._clients = injected_clients(hooks, "subscriber", "billing", "service_usage")
        self._lock = threading.Lock()
        # The SDKs' default retries run for 60 s; ours stop within one ``timeout`` so a poll or
        # an action never outlives the engine's patience. Passed with every call.
        self.retry = gretry.Retry(
            predicate=gretry.if_transient_error,
            initial=0.25,
            maximum=4.0,
            multiplier=2.0,
            timeout=cfg.timeout.total_seconds(),
        )
        self.opts: dict[str, Any] = {"retry": self.retry, "timeout": cfg.timeout.total_seconds()}

    # ---- credentials ---------------------------------------------------------------------
    def _adc(self) -> tuple[Any, str | None]:
        with self._lock:
            if not self._resolved:
                import google.auth

                self._credentials, self._project = google.auth.default(scopes=[CLOUD_PLATFORM])
                self._resolved = True
            return self._credentials, self._project

    async def credentials(self) -> tuple[Any, str | None]:
        """(credentials, ADC project or None); raises SourceError when ADC is missing."""
        try:
            return await asyncio.to_thread(self._adc)
        except auth_exc.GoogleAuthError as exc:
            raise SourceError(describe("application default credentials", exc)) from None

    async def identity(self) -> str:
        """Fetch a token now (doctor: prove the credentials work) and name who we are."""

        def refresh() -> str:
            from google.auth.credentials import AnonymousCredentials
            from google.auth.transport import requests as auth_requests

            creds, _ = self._adc()
            if isinstance(creds, AnonymousCredentials):
                return "anonymous"
            if not creds.valid:
                request: Any = auth_requests.Request()  # untyped in google-auth
                creds.refresh(request)
            who = getattr(creds, "service_account_email", None)
            return str(who) if who else type(creds).__name__

        return await self.source_call("application default credentials", refresh)

    # ---- clients -------------------------------------------------------------------------
    def _options(self, endpoint: str | None) -> dict[str, Any]:
        return {"api_endpoint": endpoint} if endpoint else {}

    def _client(self, key: str, client_class: Callable[..., Any], endpoint: str | None) -> Any:
        """The ``key`` client, built once as ``client_class`` (every Google SDK client takes
        the same credentials/transport/client_options keywords)."""
        if key not in self._clients:
            creds, _ = self._adc()
            with self._lock:
                if key not in self._clients:
                    self._clients[key] = client_class(
                        credentials=creds,
                        transport=self.cfg.transport,
                        client_options=self._options(endpoint),
                    )
        return self._clients[key]

    def subscriber(self) -> Any:
        from google import pubsub_v1

        return self._client("subscriber", pubsub_v1.SubscriberClient, self.cfg.endpoints.pubsub)

    def billing(self) -> Any:
        from google.cloud import billing_v1

        endpoint = self.cfg.endpoints.cloudbilling
        return self._client("billing", billing_v1.CloudBillingClient, endpoint)

    def service_usage(self) -> Any:
        from google.cloud import service_usage_v1

        endpoint = self.cfg.endpoints.serviceusage
        return self._client("service_usage", service_usage_v1.ServiceUsageClient, endpoint)

    def close(self) -> None:
        for client in self._clients.values():
            transport = getattr(client, "transport", None)
            close = getattr(transport, "close", None)
            if callable(close):
                close()
        self._clients.clear()

    # ---- calls ---------------------------------------------------------------------------
    def failure(self, what: str, exc: BaseException) -> str:
        return describe(what, exc)

    def permanent(self, exc: BaseException) -> bool:
        """PERMANENT, also when the SDK's own retries gave up on one (RetryError.cause)."""
        cause = exc.cause if isinstance(exc, gexc.RetryError) else exc
        return isinstance(cause, PERMANENT)
