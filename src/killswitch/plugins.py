"""The provider plugin contract and its registry.

A provider is a package under ``killswitch.providers`` (discovered automatically) or a third-party
distribution exposing a ``killswitch.providers`` entry point. It registers:

* one :class:`Provider` subclass: its config model, its spend sources, its capability declaration;
* any number of :class:`Action` subclasses: what it can do to a target, with undo.

Both are generic, so plugin code is typed where it matters: a ``Provider[MyConfig]`` sees
``self.config`` as ``MyConfig``, an ``Action[MyProvider, MyParams]`` receives ``MyProvider`` and
``MyParams`` in every hook. The type arguments are checked against ``config_model`` and
``params_model`` when the class is defined, and the config against ``config_model`` when a
provider is built, so a mismatch fails at import or start-up, never mid-kill.

The core never imports a provider; it only sees these interfaces. Shape borrowed from
cloud-custodian's registry: actions are named classes that declare their schema, permissions and
reversibility, and validate before anything runs.
"""

from __future__ import annotations

import builtins
import enum
import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from importlib.metadata import entry_points
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    get_args,
    get_origin,
    runtime_checkable,
)

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from typing_extensions import TypeVar  # default= (PEP 696): bare Provider / Action stay valid

from killswitch.core.caps import NativeCap
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.durations import parse_duration
from killswitch.errors import RefusedAction
from killswitch.model import ManagedKey, Money, PollResult, Window
from killswitch.pricing import PriceBook

if TYPE_CHECKING:
    import httpx

    from killswitch.state import Store

H = TypeVar("H")


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
    """What the daemon hands a provider: prices, drift thresholds, and typed injection points.

    ``http_transport`` serves every provider that speaks HTTP through :mod:`killswitch.http`.
    ``state`` is the daemon's state store, for the rare provider whose spend lives there (push
    ingest keeps the events it accepted); None where no store was built.
    ``hooks`` carries provider-specific injections (SDK credentials, client factories, ready
    clients): each provider defines its own frozen dataclass for them (``AwsHooks``,
    ``GcpHooks``, ...) and reads it with :meth:`hook`, so a hook is typed where it is used and
    this module never has to know any provider.
    """

    prices: PriceBook = field(default_factory=PriceBook)
    drift_alert_usd: Decimal = Decimal(1)
    drift_alert_ratio: Decimal = Decimal("0.05")
    http_transport: httpx.AsyncBaseTransport | None = None
    hooks: tuple[object, ...] = ()
    state: Store | None = None

    def hook(self, kind: type[H]) -> H | None:
        """The injected hook of type ``kind``, or None when the daemon was given none."""
        return next((h for h in self.hooks if isinstance(h, kind)), None)


class Service(Protocol):
    """Something a provider serves while the daemon runs (a listener); stopped at exit."""

    def stop(self) -> None: ...


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


KeyCap = Literal["native", "enforced"]
KEY_WINDOWS = ("daily", "weekly", "monthly")  # what every issuer's cap can reset on (UTC)


@dataclass(frozen=True)
class KeyRequest:
    """What ``killswitch keys create`` asks a provider for: a key capped at ``limit``."""

    name: str
    limit: Money
    window: str  # one of KEY_WINDOWS
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A key the provider just created. ``secret`` is shown once by the CLI and kept nowhere.

    ``id`` is the target the provider's spend is reported under (so a budget scoped to it sees
    the key's spend); ``ref`` holds what revoke and enforcement need besides it (OpenAI: the
    project and the service account). ``native_cap``: the provider itself enforces the limit.
    """

    id: str
    secret: SecretStr
    native_cap: bool
    ref: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class KeyIssuer(Protocol):
    """The optional provider hook behind ``killswitch keys``: create and revoke capped keys.

    A provider implements it when its API can mint keys. ``key_cap`` says whether the cap is
    ``native`` (the provider refuses spend past it; the daemon's budget is the second line) or
    ``enforced`` (only the daemon's budget stops the key). ``key_actions`` are the budget
    actions that stop one managed key; the daemon enforces every managed key with them under a
    built-in budget, without a config edit. ``key_expiry``: the provider expires keys itself.
    """

    key_cap: ClassVar[KeyCap]
    key_expiry: ClassVar[bool]

    async def create_key(self, request: KeyRequest) -> IssuedKey: ...

    async def revoke_key(self, key: ManagedKey) -> None: ...

    @classmethod
    def key_actions(cls, key: ManagedKey) -> list[str | dict[str, Any]]: ...


def key_issuing(cls: type) -> KeyCap | None:
    """``native``/``enforced`` when a provider class implements :class:`KeyIssuer`, else None.

    Read from the class (the capability matrix has no instances); the methods must all be there.
    """
    methods = ("create_key", "revoke_key", "key_actions")
    if not all(callable(getattr(cls, m, None)) for m in methods):
        return None
    cap = getattr(cls, "key_cap", None)
    return cap if cap in ("native", "enforced") else None


@dataclass(frozen=True)
class DoctorFinding:
    check: str
    ok: bool
    detail: str = ""


ConfigT = TypeVar("ConfigT", bound=ProviderConfig, default=ProviderConfig)


class Provider(ABC, Generic[ConfigT]):
    """A spend provider: sources to poll, and the state its actions share (clients, caches).

    ``config_model`` must be the ``ConfigT`` the class is parametrised with (or a subclass of
    it); the constructor refuses any other config, so ``self.config`` is what the type says.
    """

    type: ClassVar[str]
    config_model: ClassVar[builtins.type[ProviderConfig]] = ProviderConfig
    capabilities: ClassVar[Capabilities]
    # Source names known before construction (config validation checks ``budget.source``).
    source_names: ClassVar[Sequence[str]] = ()

    def __init__(self, name: str, config: ConfigT, context: ProviderContext) -> None:
        if not isinstance(config, self.config_model):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_model.__name__}, "
                f"got {type(config).__name__}"
            )
        self.name = name
        self.config: ConfigT = config
        self.cfg: ConfigT = config  # the shorter name provider code reads it by
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        (config_arg,) = _type_args(cls, Provider) or (None,)
        if isinstance(config_arg, type) and not issubclass(cls.config_model, config_arg):
            raise TypeError(
                f"{cls.__name__}: config_model {cls.config_model.__name__} is not the "
                f"{config_arg.__name__} it is parametrised with"
            )

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

    def serve(self) -> Service | None:
        """Start what this provider serves itself (the ingest listener), or None.

        Only the long-running daemon calls it, once, and stops the result when it exits:
        ``once``, ``plan`` and the CLI read sources without opening anything. An OSError (a
        port in use) is reported as a one-line start-up error.
        """
        return None

    async def aclose(self) -> None:
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


Prior = Mapping[str, Any]  # the journaled prior state an undo puts back
State = dict[str, Any]  # what snapshot/execute return to the journal (JSON-serialisable)


class Reversibility(enum.Enum):
    """How far ``undo`` takes a target back: the one declaration both safety rules derive from.

    * ``FULL``: undo puts back exactly what execute changed; no opt-in needed.
    * ``ACCESS_ONLY``: undo exists and restores access, but what was lost meanwhile does not come
      back (GCP detach-billing: resources may be deleted while billing is off). Has an undo AND
      needs ``allow_irreversible``.
    * ``NONE``: nothing can be undone (a deleted key); needs ``allow_irreversible``.
    """

    FULL = "full"
    ACCESS_ONLY = "access_only"
    NONE = "none"


ProviderT = TypeVar("ProviderT", bound="Provider[Any]", default="Provider[Any]")
ParamsT = TypeVar("ParamsT", bound=ActionParams, default=ActionParams)


class Action(ABC, Generic[ProviderT, ParamsT]):
    """One thing a provider can do to a target, and its undo.

    ``execute`` returns the prior state needed to undo (it is journaled). Both ``execute`` and
    ``undo`` must be idempotent at the provider: the journal may replay them once after a crash.

    Reversibility is declared once: ``reversibility`` defaults to ``FULL`` when the class
    implements ``undo`` and to ``NONE`` when it does not; ``ACCESS_ONLY`` must be said. The
    derived ``irreversible`` (needs opt-in) and ``reversible`` (has an undo) are set from it and
    may not be assigned, and a declaration that contradicts ``undo`` is refused at import.
    """

    name: ClassVar[str]
    provider_type: ClassVar[str]
    params_model: ClassVar[type[ActionParams]] = ActionParams
    reversibility: ClassVar[Reversibility] = Reversibility.NONE
    irreversible: ClassVar[bool] = True  # derived from reversibility: needs allow_irreversible
    reversible: ClassVar[bool] = False  # derived from reversibility: undo exists
    # Everything the action may need (docs, IAM files); permissions_for() narrows it per params.
    permissions: ClassVar[Sequence[str]] = ()
    target_dim: ClassVar[str | None] = "key"
    summary: ClassVar[str] = ""
    undo_summary: ClassVar[str] = "none: irreversible"
    _inferred_reversibility: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for derived in ("irreversible", "reversible"):
            if derived in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__}: {derived} is derived; declare "
                    "reversibility = Reversibility.FULL | ACCESS_ONLY | NONE instead"
                )
        has_undo = cls.undo is not Action.undo
        declared = _declared_reversibility(cls)
        rev = declared or (Reversibility.FULL if has_undo else Reversibility.NONE)
        if has_undo != (rev is not Reversibility.NONE):
            raise TypeError(
                f"{cls.__name__}: reversibility {rev.name} but undo is "
                f"{'implemented' if has_undo else 'missing'}"
            )
        cls.reversibility = rev
        cls._inferred_reversibility = declared is None
        cls.irreversible = rev is not Reversibility.FULL
        cls.reversible = rev is not Reversibility.NONE
        _infer_from_type_args(cls)

    def permissions_for(self, params: ParamsT) -> Sequence[str]:
        """What these params need at the provider (doctor and least-privilege docs use it).

        Default: every declared permission. Actions whose params decide which APIs they call
        (a kind of principal, an organisation) override it to return only those.
        """
        return tuple(self.permissions)

    def targets(self, params: ParamsT, request: TargetRequest) -> list[str]:
        """Targets this action touches for a breached group.

        Default: every value of ``target_dim`` seen in the group's spend. Actions whose params
        name their targets explicitly (principals, projects, accounts) override this.
        """
        if self.target_dim is None:
            return [request.group]
        return sorted(set(request.dims.get(self.target_dim, ())))

    def validate(self, params: ParamsT) -> None:
        """Raise ValueError for params that pass the schema but are unsafe or inconsistent."""

    def describe(self, target: str, params: ParamsT) -> str:
        return f"{self.name} on {target}"

    async def snapshot(self, provider: ProviderT, target: str, params: ParamsT) -> State | None:
        """Read the prior state before anything changes; it is journaled WITH the intent.

        Implement it whenever undo depends on prior state: if the daemon dies after the
        provider applied the action but before the outcome was recorded, the replay would
        otherwise read our own change as the "prior" state and undo would keep it.
        """
        return None

    async def applied(self, provider: ProviderT, target: str, params: ParamsT) -> bool | None:
        """Whether ``execute`` is already in effect on ``target``: read, never written.

        Asked only before a journal replay, so a kill whose call landed just before a crash is
        recorded as done instead of being sent again. ``None`` (the default) means the provider
        cannot tell cheaply, and the replay performs the idempotent ``execute`` as before.
        """
        return None

    @abstractmethod
    async def execute(
        self, provider: ProviderT, target: str, params: ParamsT, ctx: ActionContext
    ) -> State:
        """Do it; return the prior state to journal (JSON-serialisable).

        When ``snapshot`` is implemented, the journaled snapshot is authoritative and this
        return value is only merged into it.
        """

    async def undo(
        self, provider: ProviderT, target: str, params: ParamsT, prior: Prior, ctx: ActionContext
    ) -> None:
        raise RefusedAction(f"{self.name} cannot be undone")


def _infer_from_type_args(cls: type[Action[Any, Any]]) -> None:
    """``Action[AwsProvider, DenyParams]`` already says provider_type "aws" and the params model.

    Both are set from the type arguments when the class does not declare them, and checked
    against them when it does.
    """
    provider_arg, params_arg = _type_args(cls, Action) or (None, None)
    if isinstance(params_arg, type) and issubclass(params_arg, ActionParams):
        if "params_model" not in cls.__dict__ and cls.params_model is ActionParams:
            cls.params_model = params_arg
        if not issubclass(cls.params_model, params_arg):
            raise TypeError(
                f"{cls.__name__}: params_model {cls.params_model.__name__} is not the "
                f"{params_arg.__name__} it is parametrised with"
            )
    ptype = getattr(provider_arg, "type", None)
    if isinstance(ptype, str) and not hasattr(cls, "provider_type"):
        cls.provider_type = ptype
    elif isinstance(ptype, str) and cls.provider_type != ptype:
        raise TypeError(
            f"{cls.__name__}: provider_type {cls.provider_type!r} but it acts on {ptype!r}"
        )


def _declared_reversibility(cls: type[Action[Any, Any]]) -> Reversibility | None:
    """The nearest explicit declaration in the class's own bases (inferred ones do not count)."""
    for klass in cls.__mro__:
        if klass is Action:
            return None
        if "reversibility" in klass.__dict__ and (
            klass is cls or not klass.__dict__.get("_inferred_reversibility", False)
        ):
            value = klass.__dict__["reversibility"]
            return value if isinstance(value, Reversibility) else None
    return None


def _type_args(cls: type, generic: type) -> tuple[Any, ...] | None:
    """The type arguments ``cls`` (or its nearest base) gave ``generic``, e.g. (Config,)."""
    for klass in cls.__mro__:
        for base in klass.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is generic:
                return tuple(a if isinstance(a, type) else None for a in get_args(base))
    return None


class CapUnsupported(ValueError):
    """This budget's shape has no native cap at its provider; the message says why."""


@dataclass(frozen=True)
class CapRequest:
    """What a budget asks of a provider's native cap: its scope, window and limit."""

    budget: str
    scope: Scope
    window: WindowSpec
    limit: Money


class NativeCaps(ABC, Generic[ProviderT]):
    """A provider's own hard cap, read and written so killswitch can keep it equal to a budget.

    ``desired`` is pure and runs at config validation (no provider is built then): it returns
    the cap a budget maps to, or raises :class:`CapUnsupported` naming why the shape does not
    fit. The other hooks only read and write; whether to write is decided by the core
    (:func:`killswitch.core.caps.judge`), never here. ``write`` must be idempotent (the same
    cap twice is one change) and return the cap the provider reports afterwards.
    """

    provider_type: ClassVar[str]
    summary: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        (provider_arg,) = _type_args(cls, NativeCaps) or (None,)
        ptype = getattr(provider_arg, "type", None)
        if isinstance(ptype, str) and "provider_type" not in cls.__dict__:
            cls.provider_type = ptype

    @classmethod
    @abstractmethod
    def desired(cls, request: CapRequest) -> NativeCap:
        """The cap for this budget, or raise CapUnsupported(reason)."""

    @abstractmethod
    async def targets(self, provider: ProviderT, request: CapRequest) -> list[str]:
        """The targets whose cap the budget sets (keys, projects), read live when needed."""

    @abstractmethod
    async def read(self, provider: ProviderT, target: str) -> NativeCap:
        """The cap set at the provider now (``NativeCap(None)`` when there is none)."""

    @abstractmethod
    async def write(self, provider: ProviderT, target: str, cap: NativeCap) -> NativeCap:
        """Set the cap; return what the provider reports afterwards."""

    async def read_all(
        self, provider: ProviderT, request: CapRequest
    ) -> dict[str, NativeCap | Exception]:
        """Every target's cap, or the error reading it: ``targets`` then ``read`` each.

        Providers whose listing already carries the cap (OpenRouter's ``GET /keys``) override
        it, so a cycle costs one listing, not one request per target. A failure to list the
        targets raises; a failure to read one target is that target's value.
        """
        out: dict[str, NativeCap | Exception] = {}
        for target in await self.targets(provider, request):
            try:
                out[target] = await self.read(provider, target)
            except Exception as exc:
                out[target] = exc
        return out


P = TypeVar("P", bound=type[Provider[Any]])
A = TypeVar("A", bound=type[Action[Any, Any]])
C = TypeVar("C", bound=type[NativeCaps[Any]])
V = TypeVar("V")


class _Lazy(Mapping[str, V]):
    """A registry table that imports the plugin package a key names on first lookup.

    ``"openai"`` and ``"openai.spend-limit"`` both name ``killswitch.providers.openai``: a
    lookup imports that package only, so a daemon configured for one provider never loads the
    SDKs of the others. Listing the table (iteration, ``len``) imports every plugin.
    """

    def __init__(self, registry: Registry, table: dict[str, V]) -> None:
        self._registry = registry
        self._table = table

    def __getitem__(self, key: str) -> V:
        if key not in self._table:
            self._registry.import_for(key)
        return self._table[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        self._registry.load_all()
        return iter(dict(self._table))

    def __len__(self) -> int:
        self._registry.load_all()
        return len(self._table)


class Registry:
    """Providers and actions by name; filled by decorators when their package is imported."""

    def __init__(self) -> None:
        self._providers: dict[str, type[Provider[Any]]] = {}
        self._actions: dict[str, type[Action[Any, Any]]] = {}
        self._caps: dict[str, type[NativeCaps[Any]]] = {}
        self.providers: Mapping[str, type[Provider[Any]]] = _Lazy(self, self._providers)
        self.actions: Mapping[str, type[Action[Any, Any]]] = _Lazy(self, self._actions)
        # provider package -> why it could not load (an optional SDK is not installed)
        self.unavailable: dict[str, str] = {}
        self._tried: set[str] = set()
        self._entry_points_loaded = False
        self._all_loaded = False

    def provider(self, cls: P) -> P:
        if cls.type in self._providers and self._providers[cls.type] is not cls:
            raise ValueError(f"provider type {cls.type!r} registered twice")
        self._providers[cls.type] = cls
        return cls

    def action(self, cls: A) -> A:
        if cls.name in self._actions and self._actions[cls.name] is not cls:
            raise ValueError(f"action {cls.name!r} registered twice")
        self._actions[cls.name] = cls
        return cls

    def caps(self, cls: C) -> C:
        """Register a provider type's native-cap hooks (one class per provider type)."""
        if cls.provider_type in self._caps and self._caps[cls.provider_type] is not cls:
            raise ValueError(f"native caps for {cls.provider_type!r} registered twice")
        self._caps[cls.provider_type] = cls
        return cls

    def caps_for(self, provider_type: str) -> type[NativeCaps[Any]] | None:
        """The native-cap hooks of a provider type, or None when it has no cap we can set."""
        if provider_type not in self._caps:
            self.import_for(provider_type)
        return self._caps.get(provider_type)

    def load(self) -> Registry:
        """Kept for callers that prepare the registry: lookups import what they name."""
        return self

    def load_all(self) -> Registry:
        """Import every built-in provider package and third-party entry point, once."""
        if not self._all_loaded:
            self._all_loaded = True
            for package in _builtin_packages():
                self._import_builtin(package)
            self._load_entry_points()
        return self

    def import_for(self, key: str) -> None:
        """Import the package a provider type or action name belongs to (once).

        Type names may hold a dash (``http-json``); their package uses an underscore.
        """
        package = key.split(".", 1)[0].replace("-", "_")
        if package in _builtin_packages():
            self._import_builtin(package)
        else:
            self._load_entry_points()  # third-party types: their entry points register them

    def _import_builtin(self, package: str) -> None:
        if package in self._tried:
            return
        self._tried.add(package)
        try:
            importlib.import_module(f"{PROVIDERS_PACKAGE}.{package}")
        except ModuleNotFoundError as exc:
            # A cloud SDK is an optional extra: the demo and other providers must still run.
            missing = (exc.name or "").split(".")[0]
            if not missing or missing == "killswitch":
                raise
            self.unavailable[package] = (
                f"needs the {missing!r} package: pip install 'killswitch-daemon[{package}]' "
                "(or killswitch-daemon[all])"
            )

    def _load_entry_points(self) -> None:
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            for ep in entry_points(group="killswitch.providers"):
                ep.load()

    def actions_for(self, provider_type: str) -> dict[str, type[Action[Any, Any]]]:
        return {n: a for n, a in self.actions.items() if a.provider_type == provider_type}


PROVIDERS_PACKAGE = "killswitch.providers"
_BUILTIN: frozenset[str] | None = None


def _builtin_packages() -> frozenset[str]:
    """Names of the provider packages shipped in ``killswitch.providers`` (found, not imported)."""
    global _BUILTIN
    if _BUILTIN is None:
        pkg = importlib.import_module(PROVIDERS_PACKAGE)  # by name: plugins sit below providers
        _BUILTIN = frozenset(
            m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")
        )
    return _BUILTIN


registry = Registry()

# Action providers that are not spend providers (e.g. the generic webhook) use this type.
GENERIC = "generic"

__all__ = [
    "GENERIC",
    "Action",
    "ActionContext",
    "ActionParams",
    "CapRequest",
    "CapUnsupported",
    "Capabilities",
    "ConfigT",
    "DoctorFinding",
    "IssuedKey",
    "KeyIssuer",
    "KeyRequest",
    "ManagedKey",
    "NativeCaps",
    "ParamsT",
    "Prior",
    "Provider",
    "ProviderConfig",
    "ProviderContext",
    "ProviderT",
    "Registry",
    "Reversibility",
    "Service",
    "Source",
    "State",
    "TargetRequest",
    "key_issuing",
    "registry",
]
