"""boto3 sessions, clients and identity for one ``aws`` provider entry.

Credentials come from boto3's default chain (env, shared config, SSO, instance/task role). With
``role_arn`` the provider assumes that role on top of the chain, with credentials refreshed by
botocore before they expire, so a daemon that runs for weeks never holds a dead session.

Every boto3 call is synchronous; :meth:`AwsSession.call` runs it in ``asyncio.to_thread`` and turns
botocore errors into :class:`~killswitch.errors.SourceError` or
:class:`~killswitch.errors.ActionError` whose message is built from the error code and AWS's own
message only (never request parameters or credentials).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from killswitch.errors import ActionError, KillswitchError, MalformedResponse, SourceError
from killswitch.providers.aws.arns import Principal

# Codes after which retrying the same call cannot help.
_PERMANENT = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "NoSuchEntity",
    "ValidationError",
    "ValidationException",
    "InvalidInput",
    "InvalidInputException",
    "MalformedPolicyDocument",
    "LimitExceeded",
    "PolicyNotFoundException",
    "TargetNotFoundException",
    "AccountNotFoundException",
    "AWSOrganizationsNotInUseException",
}


_NO_MESSAGE = {"SignatureDoesNotMatch", "IncompleteSignature"}


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def describe_error(service: str, op: str, exc: BaseException) -> str:
    """A one-line, secret-free description of a botocore failure."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        # Only the first line, capped: SignatureDoesNotMatch appends the canonical request,
        # which can carry the session token.
        msg = str(err.get("Message", "")).strip().split("\n", 1)[0][:300]
        if code in _NO_MESSAGE:
            msg = ""
        return f"{service} {op}: {code}" + (f": {msg}" if msg else "")
    # BotoCoreError messages name endpoints and missing config, not secret values.
    return f"{service} {op}: {type(exc).__name__}: {exc}"


def home_region(region: str) -> str:
    """Region of the partition's global endpoints (Budgets, Cost Explorer, Organizations)."""
    if region.startswith("cn-"):
        return "cn-northwest-1"
    if region.startswith("us-gov-"):
        return "us-gov-west-1"
    return "us-east-1"


GLOBAL_SERVICES = frozenset({"budgets", "ce", "organizations", "iam"})
T = TypeVar("T")


@dataclass(frozen=True)
class SessionSettings:
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    role_session_name: str = "killswitch"
    endpoint_url: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class AwsHooks:
    """Injected through ``ProviderContext.hooks`` by tests and embedders.

    ``session_factory`` returns the base ``boto3.Session`` (e.g. one pointed at moto).
    """

    session_factory: Callable[[], boto3.Session]


class AwsSession:
    """Clients for one provider entry, created lazily and shared across threads.

    boto3 clients are thread-safe once created; creating them is not, hence the lock.
    ``session_factory`` is a test hook: it returns the base ``boto3.Session``.
    """

    def __init__(
        self,
        settings: SessionSettings,
        session_factory: Callable[[], boto3.Session] | None = None,
    ) -> None:
        self.settings = settings
        self._factory = session_factory or (lambda: boto3.Session(region_name=settings.region))
        self._lock = threading.Lock()
        self._base: boto3.Session | None = None
        self._effective: boto3.Session | None = None
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self._identity: Principal | None = None
        self._base_identity: Principal | None = None
        self._id_lock = asyncio.Lock()

    # ---- sessions and clients -------------------------------------------------------------
    def _boto_config(self) -> BotoConfig:
        t = self.settings.timeout_seconds
        return BotoConfig(
            connect_timeout=t,
            read_timeout=t,
            retries={"mode": "standard", "max_attempts": 4},
            user_agent_extra="killswitch",
        )

    def _sessions(self) -> tuple[boto3.Session, boto3.Session]:
        if self._base is None or self._effective is None:
            base = self._factory()
            effective = base
            if self.settings.role_arn:
                effective = self._assumed(base)
            self._base, self._effective = base, effective
        return self._base, self._effective

    def _assumed(self, base: boto3.Session) -> boto3.Session:
        s = self.settings
        assert s.role_arn is not None
        sts = base.client(
            "sts", region_name=s.region, endpoint_url=s.endpoint_url, config=self._boto_config()
        )
        extra: dict[str, Any] = {}
        if s.external_id:
            extra["ExternalId"] = s.external_id

        def refresh() -> dict[str, str]:
            resp = sts.assume_role(RoleArn=s.role_arn, RoleSessionName=s.role_session_name, **extra)
            c = resp["Credentials"]
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": c["Expiration"].isoformat(),
            }

        creds = DeferredRefreshableCredentials(refresh_using=refresh, method="sts-assume-role")
        bs = botocore.session.get_session()
        bs._credentials = creds  # the documented way to plug refreshable credentials in
        return boto3.Session(botocore_session=bs, region_name=s.region)

    def client(self, service: str, region: str | None = None, *, base: bool = False) -> Any:
        """A client for ``service``; global services go to the partition's home region."""
        if region is None:
            region = (
                home_region(self.settings.region)
                if service in GLOBAL_SERVICES
                else self.settings.region
            )
        key = (service, region, base)
        with self._lock:
            if key not in self._clients:
                b, e = self._sessions()
                self._clients[key] = (b if base else e).client(
                    service,
                    region_name=region,
                    endpoint_url=self.settings.endpoint_url,
                    config=self._boto_config(),
                )
            return self._clients[key]

    def access_key_ids(self) -> set[str]:
        """Access key ids of the credentials in use (base and effective), for safety checks."""
        out: set[str] = set()
        with self._lock:
            b, e = self._sessions()
        for sess in (b, e):
            creds = sess.get_credentials()
            if creds is not None:
                try:
                    out.add(creds.get_frozen_credentials().access_key)
                except (BotoCoreError, ClientError):
                    continue
        return out

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    # ---- calls ------------------------------------------------------------------------------
    async def call(
        self,
        service: str,
        op: str,
        *,
        region: str | None = None,
        base: bool = False,
        for_action: bool = False,
        ok_codes: frozenset[str] = frozenset(),
        **params: Any,
    ) -> dict[str, Any]:
        """Run one API call in a thread. Errors whose code is in ``ok_codes`` return ``{}``."""

        def run() -> dict[str, Any]:
            client = self.client(service, region, base=base)
            result: dict[str, Any] = getattr(client, op)(**params)
            return result

        return await _threaded(service, op, run, for_action, ok_codes, fallback={})

    async def pages(
        self,
        service: str,
        op: str,
        *,
        region: str | None = None,
        for_action: bool = False,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Every page of a paginated call (boto3's paginator), read in one thread."""

        def run() -> list[dict[str, Any]]:
            client = self.client(service, region)
            if not client.can_paginate(op):
                return [getattr(client, op)(**params)]
            return list(client.get_paginator(op).paginate(**params))

        return await _threaded(service, op, run, for_action)

    # ---- identity ---------------------------------------------------------------------------
    async def identity(self, *, for_action: bool = False) -> Principal:
        """The principal every call runs as (the assumed role when ``role_arn`` is set)."""
        async with self._id_lock:
            if self._identity is None:
                resp = await self.call("sts", "get_caller_identity", for_action=for_action)
                self._identity = Principal.parse(str(resp.get("Arn", "")))
            return self._identity

    async def own_principals(self, *, for_action: bool = True) -> list[Principal]:
        """Principals the daemon depends on: the effective one and, with ``role_arn``, the base.

        Denying the base principal would break the next AssumeRole refresh, so it is as much
        "ours" as the role itself.
        """
        out = [await self.identity(for_action=for_action)]
        if self.settings.role_arn:
            async with self._id_lock:
                if self._base_identity is None:
                    resp = await self.call(
                        "sts", "get_caller_identity", base=True, for_action=for_action
                    )
                    self._base_identity = Principal.parse(str(resp.get("Arn", "")))
            out.append(self._base_identity)
        return out


async def _threaded(
    service: str,
    op: str,
    run: Callable[[], T],
    for_action: bool,
    ok_codes: frozenset[str] = frozenset(),
    fallback: T | None = None,
) -> T:
    """``run`` (botocore calls) in a thread, its errors mapped to killswitch's; ``fallback``
    instead for an error whose code is in ``ok_codes``."""
    try:
        return await asyncio.to_thread(run)
    except (ClientError, BotoCoreError) as exc:
        if fallback is not None and error_code(exc) in ok_codes:
            return fallback
        raise wrap(service, op, exc, for_action) from None
    except Exception as exc:
        # ``run`` only calls botocore: anything else is botocore failing to read an answer
        # of the wrong shape (AttributeError/TypeError) or an endpoint that lacks the call.
        raise unreadable(service, op, exc, for_action) from None


def unreadable(service: str, op: str, exc: BaseException, for_action: bool) -> KillswitchError:
    msg = f"{service} {op}: unreadable answer ({type(exc).__name__})"
    if isinstance(exc, NotImplementedError):
        msg = f"{service} {op}: not implemented by this endpoint"
    if for_action:
        return ActionError(msg, retryable=False)
    return MalformedResponse(msg)


def wrap(service: str, op: str, exc: BaseException, for_action: bool) -> KillswitchError:
    msg = describe_error(service, op, exc)
    if for_action:
        return ActionError(msg, retryable=error_code(exc) not in _PERMANENT)
    return SourceError(msg)
