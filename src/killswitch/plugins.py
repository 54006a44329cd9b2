"""The provider plugin contract and its registry.

A provider is a package under ``killswitch.providers`` (discovered automatically) or a third-party
distribution exposing a ``killswitch.providers`` entry point. It registers:

* one :class:`Provider` subclass: its config model, its spend sources, its capability declaration;
* any number of :class:`Action` subclasses: what it can do to a target, with undo.

The core never imports a provider; it only sees these interfaces. Shape borrowed from
cloud-custodian's registry: actions are named classes that declare their schema, permissions and
irreversibility, and validate before anything runs.
"""

from __future__ import annotations

import builtins
import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from killswitch.durations import parse_duration
from killswitch.model import Money, PollResult, Window
from killswitch.pricing import PriceBook


class ProviderConfig(BaseModel):
    """Fields every provider entry accepts; plugins subclass it and add their own."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    type: str
    poll_interval: timedelta = Field(
        default=timedelta(seconds=60), description="how often to poll, e.g. 60s, 5m"
    )
    stale_after: timedelta | None = Field(
        default=None, description="data older than this is stale (default: 3 x poll_interval)"
    )
    timeout: timedelta = Field(default=timedelta(seconds=30), description="per HTTP request")

    @field_validator("poll_interval", "stale_after", "timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return None if v is None else parse_duration(v)

    @property
    def stale_threshold(self) -> timedelta:
        return self.stale_after or self.poll_interval * 3


@dataclass(frozen=True)
class ProviderContext:
    """What the daemon hands a provider: prices, and test hooks (HTTP transport, SDK factories)."""

    prices: PriceBook = field(default_factory=PriceBook)
    drift_alert_usd: Decimal = Decimal(1)
    drift_alert_ratio: Decimal = Decimal("0.05")
    http_transport: httpx.AsyncBaseTransport | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """Produces spend observations. ``since`` is the earliest window start a budget needs."""

    name: str

    async def poll(self, now: datetime, since: datetime) -> PollResult: ...


@dataclass(frozen=True)
class Capabilities:
    """What a provider can read and how fresh it is; shown by ``killswitch providers``."""

    reads: Sequence[str]
    granularity: str
    latency: str
    scopes: Sequence[str] = ("all",)
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class DoctorFinding:
    check: str
    ok: bool
    detail: str = ""


class Provider(ABC):
    type: ClassVar[str]
    config_model: ClassVar[builtins.type[ProviderConfig]] = ProviderConfig
    capabilities: ClassVar[Capabilities]

    def __init__(self, name: str, config: ProviderConfig, context: ProviderContext) -> None:
        self.name = name
        self.config = config
        self.context = context

    @abstractmethod
    def sources(self) -> Mapping[str, Source]:
        """Sources by name; the first is the default for budgets that name none."""

    @property
    def default_source(self) -> str:
        return next(iter(self.sources()))

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        """Check credentials and, where the provider can tell, the permissions of ``actions``."""
        findings = []
        for name, source in self.sources().items():
            now = datetime.now().astimezone()
            result = await source.poll(now, now - timedelta(hours=1))
            findings.append(DoctorFinding(f"read {name}", result.ok, result.error or "ok"))
        return findings

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most providers hold no resources
        """Release clients."""


class ActionParams(BaseModel):
    """Parameters of an action entry (``{type: ..., <params>}``); plugins subclass it."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ActionContext:
    budget: str
    group: str
    window: Window
    spend: Money | None
    limit: Money
    now: datetime
    manual: bool = False
    own_identity: str | None = None
    # the global + budget protect list: fan-out actions (a team-wide kill) must skip these
    protected: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TargetRequest:
    """What the engine knows about a breached group, for an action to choose its targets."""

    group: str
    scope_each: str | None
    dims: Mapping[str, Sequence[str]]  # dimension -> values seen in the group's spend


class Action(ABC):
    """One thing a provider can do to a target, and its undo.

    ``execute`` returns the prior state needed to undo (it is journaled). Both ``execute`` and
    ``undo`` must be idempotent at the provider: the journal may replay them once after a crash.
    """

    name: ClassVar[str]
    provider_type: ClassVar[str]
    params_model: ClassVar[type[ActionParams]] = ActionParams
    irreversible: ClassVar[bool] = False
    permissions: ClassVar[Sequence[str]] = ()
    target_dim: ClassVar[str | None] = "key"
    summary: ClassVar[str] = ""
    undo_summary: ClassVar[str] = "none: irreversible"

    def targets(self, params: ActionParams, request: TargetRequest) -> list[str]:
        """Targets this action touches for a breached group.

        Default: every value of ``target_dim`` seen in the group's spend. Actions whose params
        name their targets explicitly (principals, projects, accounts) override this.
        """
        if self.target_dim is None:
            return [request.group]
        return sorted(set(request.dims.get(self.target_dim, ())))

    def validate(self, params: ActionParams) -> None:  # noqa: B027 - optional hook
        """Raise ValueError for params that pass the schema but are unsafe or inconsistent."""

    def describe(self, target: str, params: ActionParams) -> str:
        return f"{self.name} on {target}"

    async def snapshot(
        self, provider: Provider, target: str, params: ActionParams
    ) -> dict[str, Any] | None:
        """Read the prior state before anything changes; it is journaled WITH the intent.

        Implement it whenever undo depends on prior state: if the daemon dies after the
        provider applied the action but before the outcome was recorded, the replay would
        otherwise read our own change as the "prior" state and undo would keep it.
        """
        return None

    @abstractmethod
    async def execute(
        self, provider: Provider, target: str, params: ActionParams, ctx: ActionContext
    ) -> dict[str, Any]:
        """Do it; return the prior state to journal (JSON-serialisable).

        When ``snapshot`` is implemented, the journaled snapshot is authoritative and this
        return value is only merged into it.
        """

    async def undo(
        self,
        provider: Provider,
        target: str,
        params: ActionParams,
        prior: Mapping[str, Any],
        ctx: ActionContext,
    ) -> None:
        from killswitch.errors import RefusedAction

        raise RefusedAction(f"{self.name} cannot be undone")

    @property
    def reversible(self) -> bool:
        return type(self).undo is not Action.undo


P = TypeVar("P", bound=type[Provider])
A = TypeVar("A", bound=type[Action])


class Registry:
    """Providers and actions by name; filled by decorators at import time."""

    def __init__(self) -> None:
        self.providers: dict[str, type[Provider]] = {}
        self.actions: dict[str, type[Action]] = {}
        # provider package -> why it could not load (an optional SDK is not installed)
        self.unavailable: dict[str, str] = {}
        self._loaded = False

    def provider(self, cls: P) -> P:
        if cls.type in self.providers and self.providers[cls.type] is not cls:
            raise ValueError(f"provider type {cls.type!r} registered twice")
        self.providers[cls.type] = cls
        return cls

    def action(self, cls: A) -> A:
        if cls.name in self.actions and self.actions[cls.name] is not cls:
            raise ValueError(f"action {cls.name!r} registered twice")
        self.actions[cls.name] = cls
        return cls

    def load(self) -> Registry:
        """Import built-in provider packages and third-party entry points, once."""
        if self._loaded:
            return self
        import killswitch.providers as pkg

        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name.startswith("_"):
                continue
            try:
                importlib.import_module(f"{pkg.__name__}.{mod.name}")
            except ModuleNotFoundError as exc:
                # A cloud SDK is an optional extra: the demo and other providers must still run.
                missing = (exc.name or "").split(".")[0]
                if not missing or missing == "killswitch":
                    raise
                self.unavailable[mod.name] = (
                    f"needs the {missing!r} package: pip install 'killswitch-daemon[{mod.name}]' "
                    "(or killswitch-daemon[all])"
                )
        for ep in entry_points(group="killswitch.providers"):
            ep.load()
        self._loaded = True
        return self

    def actions_for(self, provider_type: str) -> dict[str, type[Action]]:
        return {n: a for n, a in self.actions.items() if a.provider_type == provider_type}


registry = Registry()

# Action providers that are not spend providers (e.g. the generic webhook) use this type.
GENERIC = "generic"

__all__ = [
    "GENERIC",
    "Action",
    "ActionContext",
    "ActionParams",
    "Capabilities",
    "DoctorFinding",
    "Provider",
    "ProviderConfig",
    "ProviderContext",
    "Registry",
    "Source",
    "TargetRequest",
    "registry",
]
