"""Configuration: YAML -> validated, frozen objects. Secret references are resolved here only.

Validation happens in two passes because provider entries and action parameters are defined by
plugins: the base models validate the shape every config shares, then each provider entry and
each action entry is validated against its plugin's own model. Every problem is reported with its
field path (``budgets[0].actions[1].principals``) and never with the offending value, which may be
a resolved secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from killswitch.core.forecast import ForecastRule
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.errors import ConfigError
from killswitch.model import Money, ResolvedAction
from killswitch.plugins import CapRequest, CapUnsupported, ProviderConfig, Registry, registry
from killswitch.pricing import ModelPrice
from killswitch.secrets import resolve_tree

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
DEFAULT_STATE = "sqlite:///./.killswitch/state.db"
# warn_at/kill_at above this are read as percent typed by mistake (kill_at 1.5 = 150% is fine)
PERCENT_LIKE = Decimal(2)


def _did_you_mean(x: Decimal) -> str:
    if x <= 100:
        return f"did you mean {(x / 100).normalize():f}?"
    return "use a fraction such as 0.8 (80% of the limit)"


def check_state_url(v: str) -> str:
    """The ``state:`` value must be an SQLAlchemy URL whose dialect is installed.

    A plain path (``/tmp/x.db``) is rejected with the URL it probably meant rather than guessed:
    SQLAlchemy needs ``sqlite:///`` plus the path, and the four-slash form for absolute paths
    surprises people, so the message spells it out.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(v)
    except ArgumentError:
        if "://" not in v:
            path = v if v.startswith("/") else f"./{v.removeprefix('./')}"
            raise ValueError(
                f"not a database URL; for an SQLite file use sqlite:///{path} "
                f"(did you mean sqlite:///{path}?)"
            ) from None
        raise ValueError(
            "not a database URL: use sqlite:///path/to/state.db or "
            "postgresql+psycopg://user@host/db"
        ) from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"unknown database dialect {url.drivername!r}: use sqlite:///... or "
            "postgresql+psycopg://..."
        ) from None
    if url.get_backend_name() == "sqlite" and url.database and url.database.startswith("/proc/"):
        raise ValueError(
            "/proc is not a place for a database: use e.g. /var/lib/killswitch/state.db"
        )
    return v


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitConfig(Strict):
    amount: Decimal = Field(gt=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class ForecastConfig(Strict):
    """``forecast:`` on a budget: act on spend projected ``horizon`` ahead (docs/forecast.md)."""

    horizon: timedelta = Field(
        default=timedelta(minutes=15),
        description="project spend this far ahead (capped at the window end) against kill_at",
    )
    kill: bool = Field(default=False, description="false: forecast warnings only; true: kill")
    min_history: timedelta = Field(
        default=timedelta(minutes=10), description="no projection from less data than this"
    )

    @field_validator("horizon", "min_history", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        from killswitch.durations import parse_duration

        if isinstance(v, timedelta):
            return v
        return parse_duration(v)

    @model_validator(mode="after")
    def _sane(self) -> ForecastConfig:
        if self.horizon > timedelta(days=1):
            raise ValueError(
                "horizon above 1d projects too far to act on: use minutes, e.g. horizon: 15m"
            )
        if self.min_history < timedelta(minutes=1):
            raise ValueError(
                "min_history under 1m is too little data for a robust rate: use e.g. 10m"
            )
        return self

    @property
    def rule(self) -> ForecastRule:
        return ForecastRule(self.horizon, self.kill, self.min_history)


class ActionEntry(Strict):
    """``type`` names a registered action; the rest are its parameters (validated later)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str


class Feed(NamedTuple):
    """One source a budget reads: a configured provider and one of its sources."""

    provider: str
    source: str | None  # None: the provider's default (first) source


class BudgetConfig(Strict):
    name: str
    provider: str | None = Field(
        default=None, description="the provider whose spend counts (or use sources:)"
    )
    source: str | None = Field(default=None, description="default: the provider's first source")
    sources: tuple[str, ...] | None = Field(
        default=None,
        description="a budget across providers: provider/source entries whose spend is summed, "
        "e.g. [openai/openai.usage, anthropic/anthropic.usage]; instead of provider:",
    )
    scope: dict[str, Any] = Field(default_factory=lambda: {"all": True})
    window: str = "daily"
    timezone: str = "UTC"
    limit_usd: Decimal | None = Field(default=None, gt=0)
    limit: LimitConfig | None = None
    warn_at: tuple[Decimal, ...] = (Decimal("0.8"),)
    kill_at: Decimal = Field(default=Decimal(1), gt=0)
    mode: Literal["enforce", "alert-only"] = "enforce"
    dry_run: bool = False
    actions: tuple[str | ActionEntry, ...] = ()
    restore: Literal["on_reset", "manual"] = "on_reset"
    allow_irreversible: bool = False
    fail_closed: bool = Field(
        default=False, description="treat incomplete data (unknown prices, gaps) as a breach"
    )
    protect: tuple[str, ...] = ()
    forecast: ForecastConfig | None = Field(
        default=None, description="act before the cap on projected spend (docs/forecast.md)"
    )
    description: str = ""
    native_cap: bool | Literal["verify"] = Field(
        default=False,
        description="true: keep the provider's own hard cap equal to the limit (set it, and "
        "set it back when changed outside killswitch); verify: only alert when it differs",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("use 1-64 letters, digits, '-', '_' or '.', starting alphanumeric")
        return v

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("list at least one provider/source, e.g. [openai/openai.usage]")
        for entry in v:
            provider, sep, source = entry.partition("/")
            if not (sep and provider and source):
                raise ValueError(
                    f"{entry!r} is not provider/source: write e.g. openai/openai.usage "
                    "(the provider's name under providers:, then one of its sources)"
                )
        dup = sorted({e for e in v if v.count(e) > 1})
        if dup:
            raise ValueError(f"{', '.join(dup)} listed twice")
        return v

    @field_validator("warn_at")
    @classmethod
    def _warn(cls, v: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        for x in v:
            if not x > 0:
                raise ValueError("warn_at fractions must be above 0 (e.g. [0.5, 0.8])")
            if x > PERCENT_LIKE:
                raise ValueError(
                    f"warn_at takes fractions of the limit, not percent: {_did_you_mean(x)}"
                )
        return tuple(sorted(set(v)))

    @field_validator("kill_at")
    @classmethod
    def _kill_at(cls, v: Decimal) -> Decimal:
        if v > PERCENT_LIKE:
            raise ValueError(
                f"kill_at is a fraction of the limit (1.0 = at the limit), not percent: "
                f"{_did_you_mean(v)}"
            )
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        WindowSpec.parse(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {v!r}: use an IANA name like UTC or Europe/Kyiv"
            ) from None
        return v

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: dict[str, Any]) -> dict[str, Any]:
        Scope.parse(v)
        return v

    @model_validator(mode="after")
    def _feeds(self) -> BudgetConfig:
        if self.sources is not None and (self.provider is not None or self.source is not None):
            both = "provider" if self.provider is not None else "source"
            raise ValueError(
                f"{both}: and sources: are both set: a budget reads either one provider "
                "(provider:, optionally source:) or several (sources: [provider/source, ...])"
            )
        if self.sources is None and self.provider is None:
            raise ValueError(
                "provider: is missing: name the provider whose spend counts "
                "(or sources: [provider/source, ...] for a budget across providers)"
            )
        return self

    @model_validator(mode="after")
    def _limit(self) -> BudgetConfig:
        late = [x for x in self.warn_at if x >= self.kill_at]
        if late:
            raise ValueError(
                f"warn_at {', '.join(str(x) for x in late)} is not below kill_at {self.kill_at}: "
                "a warning must fire before the kill; lower it or raise kill_at"
            )
        if (self.limit_usd is None) == (self.limit is None):
            raise ValueError("set exactly one of limit_usd or limit: {amount, currency}")
        if self.mode == "enforce" and not self.actions:
            raise ValueError(
                "an enforce budget needs at least one action (or set mode: alert-only)"
            )
        return self

    @property
    def feeds(self) -> tuple[Feed, ...]:
        """The (provider, source) pairs whose spend this budget sums (one unless ``sources:``)."""
        if self.sources is None:
            assert self.provider is not None  # the validator requires one of the two
            return (Feed(self.provider, self.source),)
        return tuple(Feed(*s.split("/", 1)) for s in self.sources)

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers this budget reads, in order, each once."""
        return tuple(dict.fromkeys(f.provider for f in self.feeds))

    @property
    def home(self) -> str:
        """The provider its cycle-independent parts (labels, generic actions) belong to."""
        return self.feeds[0].provider

    @property
    def multi(self) -> bool:
        """A budget across providers (``sources:``), summed by ``killswitch.core.fanin``."""
        return self.sources is not None

    @property
    def limit_money(self) -> Money:
        if self.limit_usd is not None:
            return Money(self.limit_usd, "USD")
        assert self.limit is not None
        return Money(self.limit.amount, self.limit.currency)

    @property
    def window_spec(self) -> WindowSpec:
        return WindowSpec.parse(self.window, self.timezone)

    @property
    def scope_spec(self) -> Scope:
        return Scope.parse(self.scope)


class WebhookNotifierConfig(Strict):
    type: Literal["webhook"]
    name: str | None = None
    url: AnyHttpUrl
    secret: SecretStr | None = None
    timeout: float = 10.0


class SlackNotifierConfig(Strict):
    type: Literal["slack"]
    name: str | None = None
    webhook_url: SecretStr  # the URL itself is the credential
    timeout: float = 10.0


class PagerDutyNotifierConfig(Strict):
    type: Literal["pagerduty"]
    name: str | None = None
    routing_key: SecretStr
    url: AnyHttpUrl = AnyHttpUrl("https://events.pagerduty.com/v2/enqueue")
    timeout: float = 10.0
    page_on: tuple[str, ...] = ("kill", "forecast_kill", "kill_failed", "blast_radius")


NotifierConfig = WebhookNotifierConfig | SlackNotifierConfig | PagerDutyNotifierConfig


class ReconciliationConfig(Strict):
    """Estimated (usage x price) versus billed cost: alert when they drift apart."""

    drift_alert_usd: Decimal = Decimal(1)
    drift_alert_ratio: Decimal = Decimal("0.05")


class HAConfig(Strict):
    """Leader lease in the state database: with several replicas, only the holder acts."""

    enabled: bool = False
    lease_seconds: float = Field(default=30, gt=1)
    identity: str | None = None
    shard: Literal["none", "provider"] = Field(
        default="none",
        description="none: one leader acts for everything; provider: replicas split the "
        "providers (one fenced lease each, fair share per live replica)",
    )

    @model_validator(mode="after")
    def _shard(self) -> HAConfig:
        if self.shard != "none" and not self.enabled:
            raise ValueError(
                "shard: provider splits the work between replicas, which needs enabled: true; "
                "set both, or drop shard:"
            )
        return self


class MetricsConfig(Strict):
    """How much per-target detail /metrics carries (per-budget aggregates are always there)."""

    per_target: Literal["breaching", "all", "none"] = Field(
        default="breaching",
        description="per-target series for: breaching (every group not ok), all groups, or none",
    )
    max_series: int = Field(
        default=2000,
        ge=0,
        description="at most this many per-target series; the most urgent groups are kept and "
        "killswitch_metrics_groups_dropped counts the rest",
    )


class RetentionConfig(Strict):
    """How long the state keeps what no longer decides anything (docs/operations.md)."""

    observation_margin: timedelta = Field(
        default=timedelta(hours=1),
        description="observations are kept this long past the oldest window a budget reads",
    )
    outbox_sent: timedelta = Field(
        default=timedelta(days=7), description="sent (and dead) notifications are deleted after"
    )
    journal: timedelta | None = Field(
        default=None,
        description="delete closed journal history older than this (default: keep it all); "
        "a kill that was never undone is always kept",
    )
    prune_every: timedelta = Field(
        default=timedelta(minutes=5), description="how often the database is pruned"
    )

    @field_validator("observation_margin", "outbox_sent", "journal", "prune_every", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        from killswitch.durations import parse_duration

        return None if v is None else parse_duration(v)


class BaseConfig(Strict):
    state: str = DEFAULT_STATE
    state_migrate: Literal["auto", "manual"] = Field(
        default="auto",
        description="auto: migrate the state schema at start (under a database lock); "
        "manual: refuse an older schema until `killswitch migrate` is run",
    )
    listen: str = "127.0.0.1:9464"
    dry_run: bool = False
    protect: tuple[str, ...] = ()
    max_actions_per_cycle: int = Field(default=20, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON otherwise"
    )
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    budgets: tuple[BudgetConfig, ...] = ()
    notifiers: tuple[NotifierConfig, ...] = ()
    prices: dict[str, dict[str, ModelPrice]] = Field(default_factory=dict)
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    ha: HAConfig = HAConfig()
    metrics: MetricsConfig = MetricsConfig()
    retention: RetentionConfig = RetentionConfig()
    outbox_interval: float = Field(default=5.0, gt=0)

    @field_validator("state")
    @classmethod
    def _state(cls, v: str) -> str:
        return check_state_url(v)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("use host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464")
        return v


@dataclass(frozen=True)
class Config:
    """The validated configuration the daemon runs on."""

    base: BaseConfig
    providers: Mapping[str, ProviderConfig]
    actions: Mapping[str, tuple[ResolvedAction, ...]]  # by budget name
    source_path: str | None = None

    def __getattr__(self, item: str) -> Any:
        return getattr(self.base, item)

    @property
    def budgets(self) -> tuple[BudgetConfig, ...]:
        return self.base.budgets

    def budget(self, name: str) -> BudgetConfig:
        for b in self.base.budgets:
            if b.name == name:
                return b
        known = ", ".join(b.name for b in self.base.budgets) or "none"
        raise KeyError(f"no budget named {name!r} (configured: {known})")


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in {"function-after[_limit()]", "literal['webhook']"} or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _errors(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        where = _loc(tuple(err["loc"]))
        path = f"{prefix}.{where}" if prefix and where else (prefix or where or "(top level)")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling; see `killswitch schema`)"
        problems.append((path, msg))
    return problems


def parse(data: Any, *, reg: Registry | None = None, source_path: str | None = None) -> Config:
    """Validate a parsed YAML document. Raises ConfigError listing every problem."""
    reg = (reg or registry).load()
    if data is None or data == {}:
        raise ConfigError([("(top level)", EMPTY_CONFIG)])
    if not isinstance(data, dict):
        raise ConfigError([("(top level)", "the config must be a YAML mapping")])
    problems: Problems = []
    data = resolve_tree(data, "", problems)
    unresolved = {path for path, _ in problems}  # their "missing value" errors add nothing

    def errors(exc: ValidationError, prefix: str) -> Problems:
        return [p for p in _errors(exc, prefix) if p[0] not in unresolved]

    try:
        base = BaseConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems + errors(exc, "")) from None
    providers: dict[str, ProviderConfig] = {}
    for pname, raw in base.providers.items():
        cfg = _provider_config(reg, pname, raw, errors, problems)
        if cfg is not None:
            providers[pname] = cfg
    actions: dict[str, tuple[ResolvedAction, ...]] = {}
    for i, b in enumerate(base.budgets):
        if b.name in actions:
            problems.append((f"budgets[{i}].name", f"duplicate budget name {b.name!r}"))
        actions[b.name] = _checked_budget(
            reg, base, providers, b, f"budgets[{i}]", errors, problems
        )
    if problems:
        raise ConfigError(problems)
    return Config(base=base, providers=providers, actions=actions, source_path=source_path)


EMPTY_CONFIG = (
    "the config is empty: it needs providers: and budgets: "
    "(see config/demo.yaml or `killswitch schema`)"
)
Problems = list[tuple[str, str]]
ErrorsOf = Callable[[ValidationError, str], Problems]


def _provider_config(
    reg: Registry, pname: str, raw: Any, errors: ErrorsOf, problems: Problems
) -> ProviderConfig | None:
    """``providers.<pname>`` validated by its type's own model (None, with problems, if not)."""
    path = f"providers.{pname}"
    if not NAME.match(pname):
        problems.append((path, "provider names use letters, digits, '-', '_' or '.'"))
    if not isinstance(raw, dict) or "type" not in raw:
        problems.append((f"{path}.type", f"missing; one of: {', '.join(sorted(reg.providers))}"))
        return None
    kind = str(raw["type"])
    cls = reg.providers.get(kind)
    if cls is None:
        why = (
            f"provider type {kind!r} is not available: {reg.unavailable[kind]}"
            if kind in reg.unavailable
            else f"unknown provider type {kind!r}; known: {', '.join(sorted(reg.providers))}"
        )
        problems.append((f"{path}.type", why))
        return None
    try:
        return cls.config_model.model_validate(raw)
    except ValidationError as exc:
        problems += errors(exc, path)
        return None


def _checked_budget(
    reg: Registry,
    base: BaseConfig,
    providers: Mapping[str, ProviderConfig],
    b: BudgetConfig,
    path: str,
    errors: ErrorsOf,
    problems: Problems,
) -> tuple[ResolvedAction, ...]:
    """A budget checked against the providers it reads and acts on: its actions resolved."""
    problems += _check_feeds(reg, base, providers, b, path)
    if b.native_cap is not False:
        problems += _native_cap_problems(reg, providers, b, f"{path}.native_cap")
    if b.forecast is not None and b.multi:
        problems.append((f"{path}.forecast", FORECAST_ACROSS))
    resolved = (
        _resolve_action(reg, providers, b, entry, f"{path}.actions[{j}]", problems, errors)
        for j, entry in enumerate(b.actions)
    )
    return tuple(ra for ra in resolved if ra is not None)


FORECAST_ACROSS = (
    "forecasts read one source's data age; a budget across providers has "
    "several: set forecast on a single-provider budget, or remove it here"
)


def _check_feeds(
    reg: Registry,
    base: BaseConfig,
    providers: Mapping[str, ProviderConfig],
    b: BudgetConfig,
    path: str,
) -> Problems:
    """Each source the budget reads names a configured provider, one of its sources, and
    reports in the budget's currency where the source declares one."""
    problems: Problems = []
    names: dict[str, str] = {}  # source name -> the entry that first named it
    for j, feed in enumerate(b.feeds):
        where = f"{path}.sources[{j}]" if b.multi else f"{path}.provider"
        src_where = where if b.multi else f"{path}.source"
        if feed.provider not in base.providers:
            problems.append((where, f"no provider named {feed.provider!r} under providers:"))
            continue
        pconf = providers.get(feed.provider)
        if pconf is None:  # the provider entry itself is invalid (reported there)
            continue
        src_names = _source_names(reg, pconf)
        if feed.source is not None and src_names is not None and feed.source not in src_names:
            problems.append(
                (
                    src_where,
                    f"{pconf.type} has no source {feed.source!r}; known: {', '.join(src_names)}",
                )
            )
            continue
        if b.multi and feed.source is not None:
            if feed.source in names:
                problems.append(
                    (
                        where,
                        f"{feed.provider}/{feed.source} and {names[feed.source]} are both "
                        f"source {feed.source!r}: the state keeps one series per source name, "
                        "so they cannot be summed apart; use one of them",
                    )
                )
            names[feed.source] = f"{feed.provider}/{feed.source}"
        problems += _check_currency(reg, pconf, feed, b, src_where)
    return problems


def _check_currency(
    reg: Registry, pconf: ProviderConfig, feed: Feed, b: BudgetConfig, where: str
) -> Problems:
    """Amounts in two currencies are never summed: a declared mismatch is refused here (an
    undeclared one makes the group's data incomplete when it is observed)."""
    declared = getattr(reg.providers[pconf.type], "source_currency", None)
    source = feed.source
    if declared is None:
        return []
    if source is None:
        names = _source_names(reg, pconf)
        source = names[0] if names else None
    currency = declared(pconf, source) if source is not None else None
    limit = b.limit_money.currency
    if currency is None or currency == limit:
        return []
    return [
        (
            where,
            f"{feed.provider}/{source} reports {currency} but the limit is in {limit}: "
            "amounts in two currencies are never summed (there is no conversion); "
            f"set the limit in {currency} or give that source its own budget",
        )
    ]


def _resolve_action(
    reg: Registry,
    providers: Mapping[str, ProviderConfig],
    b: BudgetConfig,
    entry: str | ActionEntry,
    apath: str,
    problems: Problems,
    errors: ErrorsOf,
) -> ResolvedAction | None:
    """One action entry: a registered action of (one of) the budget's providers, its params
    validated, irreversibility opted into."""
    name = entry if isinstance(entry, str) else entry.type
    params_raw = {} if isinstance(entry, str) else dict(entry.model_extra or {})
    wanted = params_raw.pop("provider", None)
    acls = reg.actions.get(name)
    if acls is None:
        problems.append((apath, f"unknown action {name!r}; see `killswitch providers`"))
        return None
    provider, why = _action_provider(providers, b, name, acls.provider_type, wanted)
    if why:
        problems.append((apath, why))
    try:
        params = acls.params_model.model_validate(params_raw)
        acls().validate(params)
    except ValidationError as exc:
        problems += errors(exc, apath)
        return None
    except ValueError as exc:
        problems.append((apath, str(exc)))
        return None
    if acls.irreversible and not b.allow_irreversible:
        problems.append(
            (
                apath,
                f"{name} is irreversible; set allow_irreversible: true on the "
                "budget to opt in, or choose a reversible action",
            )
        )
    return ResolvedAction(name, params, acls.irreversible, provider if b.multi else None)


def _action_provider(
    providers: Mapping[str, ProviderConfig],
    b: BudgetConfig,
    name: str,
    ptype: str,
    wanted: Any,
) -> tuple[str | None, str]:
    """The provider an action acts through, or why there is none: one of the budget's own
    providers of the action's type (``provider:`` on the entry picks among several)."""
    from killswitch.plugins import GENERIC

    if ptype == GENERIC:
        return None, ""
    known = [p for p in b.providers if p in providers]
    fits = [p for p in known if providers[p].type == ptype]
    types = ", ".join(f"{p} ({providers[p].type})" for p in known)
    if wanted is not None:
        if wanted in fits:
            return str(wanted), ""
        return None, (
            f"provider: {wanted!r} is not one of this budget's {ptype} providers "
            f"({', '.join(fits) or 'none'})"
        )
    if not known:  # the budget's providers are themselves in error (reported there)
        return None, ""
    if not fits:
        if not b.multi:
            return None, (
                f"{name} belongs to provider type {ptype!r}, "
                f"but this budget's provider is {providers[known[0]].type!r}"
            )
        return None, (
            f"{name} acts on a {ptype} provider, but no source of this budget is from one "
            f"(its sources are from: {types}); add a {ptype} source or drop the action"
        )
    if len(fits) > 1:
        return None, (
            f"{name}: this budget reads several {ptype} providers ({', '.join(fits)}); "
            f"name the one it acts on: {{type: {name}, provider: {fits[0]}}}"
        )
    return fits[0], ""


def cap_request(b: BudgetConfig) -> CapRequest:
    """What a budget asks of its provider's native cap."""
    return CapRequest(b.name, b.scope_spec, b.window_spec, b.limit_money)


def _native_cap_problems(
    reg: Registry, providers: Mapping[str, ProviderConfig], b: BudgetConfig, path: str
) -> list[tuple[str, str]]:
    """``native_cap`` on a budget whose shape has no cap at its provider is an error naming why."""
    if b.multi:
        return [
            (
                path,
                "a budget across providers has no single native cap to keep; set native_cap "
                "on a budget with one provider, or remove it here",
            )
        ]
    pconf = providers.get(b.provider or "")
    if pconf is None:  # unknown or invalid provider: reported where it is named
        return []
    caps = reg.caps_for(pconf.type)
    if caps is None:
        return [(path, f"provider type {pconf.type!r} has no native cap killswitch can set")]
    try:
        caps.desired(cap_request(b))
    except CapUnsupported as exc:
        return [(path, str(exc))]
    return []


def _source_names(reg: Registry, pconf: ProviderConfig) -> list[str] | None:
    cls = reg.providers[pconf.type]
    configured = getattr(cls, "configured_sources", None)  # sources named in the entry itself
    names = configured(pconf) if configured else getattr(cls, "source_names", None)
    return list(names) if names else None


def load(path: str | Path, *, reg: Registry | None = None) -> Config:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError([(str(p), f"cannot read config file: {exc.strerror or exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError([(str(p), f"not valid YAML at {where}")]) from None
    return parse(data, reg=reg, source_path=str(p))


def json_schema(reg: Registry | None = None) -> dict[str, Any]:
    """JSON Schema of the config, with each provider type's and action's own fields."""
    reg = (reg or registry).load()
    schema = BaseConfig.model_json_schema()
    defs = schema.setdefault("$defs", {})
    variants = []
    for ptype, cls in sorted(reg.providers.items()):
        sub = cls.config_model.model_json_schema()
        defs.update(sub.pop("$defs", {}))
        sub.setdefault("properties", {})["type"] = {"const": ptype}
        defs[f"provider_{ptype}"] = sub
        variants.append({"$ref": f"#/$defs/provider_{ptype}"})
    schema["properties"]["providers"] = {
        "type": "object",
        "additionalProperties": {"oneOf": variants},
    }
    action_defs = []
    for aname, acls in sorted(reg.actions.items()):
        sub = acls.params_model.model_json_schema()
        sub.setdefault("properties", {})["type"] = {"const": aname}
        sub["properties"]["provider"] = {
            "type": "string",
            "description": "in a budget across providers: which of its providers of this "
            "type to act through (needed only when it reads several)",
        }
        sub["required"] = ["type", *sub.get("required", [])]
        sub["description"] = acls.summary
        defs[f"action_{aname}"] = sub
        action_defs.append({"$ref": f"#/$defs/action_{aname}"})
    budget = defs["BudgetConfig"]
    budget["properties"]["actions"] = {
        "type": "array",
        "items": {"oneOf": [{"type": "string", "enum": sorted(reg.actions)}, *action_defs]},
    }
    return schema
