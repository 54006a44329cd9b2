"""Helpers for the gcp tests: providers built through config, action contexts, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.auth.credentials import AnonymousCredentials

from killswitch.config import parse
from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ProviderContext
from killswitch.providers.gcp.clients import GcpHooks
from killswitch.providers.gcp.provider import GcpProvider
from tests.providers.gcp.fakes import SUBSCRIPTION, FakePullClient, FakeSubscription
from tests.providers.gcp.standin import FakeGcp


def anonymous() -> Any:
    """Credentials that send no token: the stand-ins need none."""
    return AnonymousCredentials()  # type: ignore[no-untyped-call]


class Clock:
    """Monotonic seconds for the fake subscription's ack deadlines."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def provider(
    fake: FakeGcp | None = None,
    pull: Any = None,
    project: str | None = "ops",
    **entry: Any,
) -> GcpProvider:
    """Built the way the daemon builds it: config validation, then the registered class."""
    raw: dict[str, Any] = {"type": "gcp", "subscription": SUBSCRIPTION, "timeout": "3s", **entry}
    if fake is not None:
        raw.setdefault("endpoints", fake.endpoints())
    cfg = parse({"providers": {"gcp": raw}})
    hooks = GcpHooks(credentials=anonymous(), project=project, subscriber=pull)
    return GcpProvider("gcp", cfg.providers["gcp"], ProviderContext(hooks=(hooks,)))


def pull_provider(sub: FakeSubscription, **entry: Any) -> tuple[GcpProvider, FakePullClient]:
    client = FakePullClient(sub)
    return provider(pull=client, **entry), client


def actx(budget: str = "sandbox-monthly") -> ActionContext:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    w = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "monthly")
    return ActionContext(budget, "*", w, Money.usd(1200), Money.usd(1000), now)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def later(t: datetime, **kw: float) -> datetime:
    return t + timedelta(**kw)
