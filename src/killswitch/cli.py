"""The ``killswitch`` command.

Invalid config or arguments: exit 2, a message naming the field. Expected failures (a port in
use, a state that cannot be opened): exit 1, one line naming the thing and the fix. Anything else
is a bug: one line and the hint to rerun with ``--debug`` for the traceback. No traceback reaches
an operator unless asked for.

Commands import the daemon, the state database, the config models and the providers when they
run, not at module import: ``killswitch --help`` and ``version`` load neither pydantic nor
SQLAlchemy, and a command loads only what it uses.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from killswitch import __version__
from killswitch.core.scope import ALL_GROUP
from killswitch.errors import ConfigError, KillswitchError
from killswitch.model import OVERRIDE_RESTORED, Decision, DecisionKind, ManagedKey, Money, Override
from killswitch.secrets import redact, redact_tree

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Hard spending caps for LLM APIs and clouds."
)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file (YAML)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", help="who acts, for the journal (default: $USER)")
]
BudgetArg = Annotated[str, typer.Argument(help="budget name")]
TargetOpt = Annotated[str | None, typer.Option(help="only this target")]
# The commands that read providers live (plan, caps) finish within one overall deadline.
TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, help="overall deadline for every live read, seconds")
]


def _fail(msg: str, code: int = 2) -> NoReturn:
    typer.echo(msg, err=True)
    raise typer.Exit(code)


def _load(path: Path) -> Any:
    from killswitch import config

    try:
        return config.load(path)
    except ConfigError as exc:
        _fail(exc.render())


class LogFormat(str, enum.Enum):
    auto = "auto"
    json = "json"
    console = "console"


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="print the traceback of an unexpected error (or KILLSWITCH_DEBUG=1)"
        ),
    ] = False,
) -> None:
    """Hard spending caps for LLM APIs and clouds."""


def _runtime(
    path: Path, *, dry_run: bool = False, daemon: bool = False, log_format: str | None = None
) -> Any:
    """Config, the state checked, then everything built. Only ``run`` logs below ``error``."""
    from killswitch import daemon as d
    from killswitch import logs, preflight

    cfg = _load(path)
    if dry_run:
        object.__setattr__(cfg, "base", cfg.base.model_copy(update={"dry_run": True}))
    preflight.check_state(cfg.base.state)
    if daemon:
        logs.setup(cfg.base.log_level, log_format or cfg.base.log_format)
    return d.build(cfg)


T = TypeVar("T")


def _run_closing(rt: Any, work: Callable[[], Awaitable[T]]) -> T:
    """Run one async job on a built runtime and always close it (pools, clients), even on error."""

    async def go() -> T:
        try:
            return await work()
        finally:
            await rt.aclose()

    return asyncio.run(go())


@app.command()
def run(
    config: ConfigOpt,
    once: Annotated[bool, typer.Option(help="one poll/evaluate/act cycle, then exit")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="journal, never execute")] = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="auto (console on a terminal, JSON otherwise), json or console; "
            "default: log_format: in the config, else auto",
        ),
    ] = None,
) -> None:
    """Run the daemon."""
    from killswitch.daemon import Daemon

    rt = _runtime(
        config, dry_run=dry_run, daemon=True, log_format=log_format.value if log_format else None
    )
    code = asyncio.run(Daemon(rt).run(once=once))
    raise typer.Exit(code)


@app.command("check-config")
def check_config(
    config: ConfigOpt,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="do not try to reach a server database (validate where it is not reachable)",
        ),
    ] = False,
) -> None:
    """Validate the config (secret references included) and that its state can be opened.

    Exit 2 for a config error, 1 when the state database cannot be opened or reached.
    """
    from killswitch import preflight

    cfg = _load(config)
    preflight.check_state(cfg.base.state, connect=not offline)
    typer.echo(
        f"ok: {len(cfg.providers)} provider(s), {len(cfg.budgets)} budget(s), "
        f"{len(cfg.base.notifiers)} notifier(s)"
    )
    if not cfg.budgets:
        typer.echo("warning: no budgets configured: nothing will be enforced", err=True)


@app.command()
def plan(config: ConfigOpt, json_out: JsonOpt = False, timeout: TimeoutOpt = 30.0) -> None:
    """Poll once and show what the daemon would do now, and why. Changes nothing.

    Exit 0 when every source was read, 1 when any could not be (each is listed with the reason).
    """
    from killswitch import views

    rt = _runtime(config)

    async def preview() -> dict[str, Any]:
        reports, reads = await views.preview_all(rt.engine, timeout)
        rows = views.plan_rows(rt.engine, reports)
        ok = all(r.error is None for r in reads)
        return {"ok": ok, "sources": [r.to_json() for r in reads], "budgets": rows}

    report = _run_closing(rt, preview)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo("\n".join(views.render_plan(report)))
    if not report["ok"]:
        failed = [f"{s['provider']}/{s['source']}" for s in report["sources"] if not s["ok"]]
        typer.echo(f"plan: could not read {', '.join(failed)}; see above", err=True)
        raise typer.Exit(1)


@app.command()
def caps(config: ConfigOpt, json_out: JsonOpt = False, timeout: TimeoutOpt = 30.0) -> None:
    """Native caps: per budget and target, the configured cap, the provider's actual cap and
    whether they agree (in_sync, drift, unsupported, unreadable). Reads live; changes nothing.

    Exit 0 when every cap is in sync, 1 when any drifted or could not be read.
    """
    from killswitch.act.caps import inspect_all

    rt = _runtime(config)

    rows: list[Any] = _run_closing(
        rt, lambda: inspect_all(rt.config.budgets, rt.providers, timeout)
    )
    bad = [r for r in rows if r.status.value in ("drift", "unreadable")]
    if json_out:
        typer.echo(json.dumps({"ok": not bad, "caps": [r.to_json() for r in rows]}, indent=2))
    elif not rows:
        typer.echo("no budget sets native_cap")
    for r in [] if json_out else rows:
        want = r.desired.describe() if r.desired else "-"
        got = r.actual.describe() if r.actual else "-"
        why = f" ({r.reason})" if r.reason else ""
        typer.echo(
            f"{r.budget} [{r.mode}] {r.provider}/{r.target}: configured {want}, "
            f"actual {got}: {r.status.value}{why}"
        )
    raise typer.Exit(1 if bad else 0)


@app.command()
def status(config: ConfigOpt, json_out: JsonOpt = False) -> None:
    """Every budget group: spend, limit, ratio, window and when it resets, state (as of the
    daemon's last cycle). Exit 1 when that data is stale or there is none yet."""
    from killswitch import views
    from killswitch.daemon import system_clock
    from killswitch.managed import with_managed

    cfg = _load(config)
    store = _store(cfg)
    cfg = with_managed(cfg, store.managed_keys())  # managed keys show as their own budgets
    now = system_clock()
    sources = views.source_freshness(cfg, store.source_statuses(), now)
    from killswitch.act.journal import Journal

    held = Journal(store, "cli").overrides([b.name for b in cfg.budgets], now)
    rows = views.status_rows(cfg, store.statuses(), sources, now, held)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
    elif rows or sources:
        typer.echo("\n".join(views.render_status(rows, sources)))
    if not rows:
        typer.echo("no status yet: the daemon has not completed a cycle on this state", err=True)
        raise typer.Exit(1)
    if any(r["stale"] for r in rows) or any(s.stale for s in sources):
        typer.echo("status: the data is stale (marked STALE above)", err=True)
        raise typer.Exit(1)


@app.command()
def history(
    config: ConfigOpt,
    json_out: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, help="newest N entries")] = 100,
    budget: Annotated[str | None, typer.Option(help="only this budget")] = None,
) -> None:
    """The action journal, newest first: what was done, to what, why, and at what spend."""

    from killswitch import preflight

    cfg = _load(config)
    if budget is not None:
        _budget_or_fail(cfg, budget)
    preflight.check_state(cfg.base.state)
    rows = _store(cfg).journal_rows(budget=budget, limit=limit, newest_first=True)
    # The free text of a journal row (errors, reasons, prior state) comes partly from providers:
    # the logs' redaction applies to it. Targets and budgets are identifiers from the config
    # (a team id may well be referenced as ${env:...}) and stay readable.
    rows = [
        replace(
            r,
            error=redact(r.error) if r.error else r.error,
            reason=redact(r.reason),
            prior=redact_tree(r.prior),
            params=redact_tree(r.params),
        )
        for r in rows
    ]
    if json_out:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    for r in rows:
        typer.echo(_journal_line(r))


def _journal_line(r: Any) -> str:
    spend = f" at spend {_amount(r.spend)}" if r.spend else ""
    return (
        f"#{r.id} {r.created_at:%Y-%m-%d %H:%M:%S} {r.op:7} {r.status:9} {r.action} "
        f"on {r.target} [{r.budget}/{r.group}]"
        # a budget across providers may act through two providers of one type: say which
        + (f" via {r.provider}" if r.provider and not r.action.startswith(f"{r.provider}.") else "")
        + (" manual" if r.manual else "")
        + spend
        + (f": {r.reason}" if r.reason else "")
        + (f" {'note' if r.status == 'done' else 'error'}: {r.error}" if r.error else "")
    )


def _amount(text: str) -> str:

    try:
        return f"{Decimal(text):.2f}"
    except InvalidOperation:
        return text


def _store(cfg: Any) -> Any:
    """The state, opened the way the config says (``state_migrate``)."""
    from killswitch.state import Store

    return Store(cfg.base.state, migrate=cfg.base.state_migrate, config_path=cfg.source_path)


@app.command()
def migrate(
    config: ConfigOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show the revisions that would run; change nothing")
    ] = False,
    sql: Annotated[
        bool, typer.Option("--sql", help="print the SQL of the upgrade instead; change nothing")
    ] = False,
) -> None:
    """Bring the state schema to this version's revision (under a database lock)."""
    from sqlalchemy.engine import make_url

    from killswitch.state import schema
    from killswitch.state.store import make_engine

    cfg = _load(config)
    shown = make_url(cfg.base.state).render_as_string(hide_password=True)
    engine = make_engine(cfg.base.state)
    try:
        if sql:
            typer.echo(schema.sql_script(engine) or f"-- {shown}: schema is up to date")
            return
        if dry_run:
            with engine.connect() as conn:
                st = schema.status(conn)
            typer.echo(f"{shown}: schema {st.describe()}, this version needs {st.head}")
            for r in st.repairs:
                typer.echo(f"  would complete the pre-release schema: {r}")
            if st.legacy:
                typer.echo(f"  would stamp {schema.BASELINE} (the 0.1.0 schema)")
            for rev in st.pending:
                typer.echo(f"  would apply {rev}: {schema.describe_revision(rev)}")
            if st.up_to_date:
                typer.echo("  nothing to do")
            return
        st = schema.upgrade(engine)
    except schema.SchemaError as exc:
        _fail(str(exc))
    except Exception as exc:  # unreachable database, permissions: one line, no traceback
        first = (str(exc) or type(exc).__name__).splitlines()[0]
        _fail(f"state: cannot migrate {shown}: {redact(first)}")
    finally:
        engine.dispose()
    if st.up_to_date:
        typer.echo(f"{shown}: schema already at {st.head}; nothing to do")
    else:
        typer.echo(f"{shown}: schema {st.describe()} -> {st.head} ({', '.join(st.pending)})")


def _budget_or_fail(cfg: Any, name: str) -> Any:
    try:
        return cfg.budget(name)
    except KeyError as exc:
        _fail(f"BUDGET: {exc.args[0]}")


def _manual_decision(rt: Any, budget_name: str, target: str | None, kind: Any) -> Any:

    b = rt.config.budget(budget_name)
    now = rt.engine.clock()
    window = b.window_spec.at(now)
    group = target if (target and b.scope_spec.each) else ALL_GROUP
    dims = {b.scope_spec.each or "key": (target,)} if target else {}
    return Decision(
        kind,
        b.name,
        group,
        window,
        None,
        b.limit_money,
        f"manual {kind.value} from the CLI",
        members=(target,) if target else (),
        dims=dims,
        policy=rt.engine.policies[b.name],
        provider_dims=_manual_provider_dims(rt, b, target, dims, now),
    )


def _manual_provider_dims(
    rt: Any, b: Any, target: str | None, dims: Mapping[str, tuple[str, ...]], now: Any
) -> dict[str, Mapping[str, tuple[str, ...]]]:
    """A budget across providers: the target goes only to the providers whose data names it
    (one provider's action is never handed another provider's key)."""
    from killswitch import targets as known

    if not b.multi or not target:
        return {}
    dim = b.scope_spec.each or "key"
    out: dict[str, Mapping[str, tuple[str, ...]]] = {p: {} for p in b.providers}
    for provider, source in rt.engine.sources_of(b):
        observed = rt.store.load_observations(source, now - known.HISTORY)
        if any(o.dims.get(dim) == target for o in observed):
            out[provider] = dims
    return out


async def _known_target(rt: Any, b: Any, target: str, *, poll: bool) -> None:
    """Exit 2, listing the known targets, unless ``target`` is one of the budget's."""
    from killswitch import targets

    now = rt.engine.clock()
    feeds = rt.engine.sources_of(b)
    known = targets.recorded(rt.config, rt.store, b, [s for _, s in feeds], now)
    for provider, source in feeds if target not in known and poll else ():
        fresh = await targets.polled(rt.providers[provider], b, source, now)
        known.groups |= fresh.groups
        known.source_error = known.source_error or fresh.source_error
    if target not in known:
        _fail(
            f"--target: unknown target {target!r} for budget {b.name} "
            f"(scope: {b.scope_spec.describe()}); known: {known.listing()}"
        )


def _refuse_protected(rt: Any, b: Any, target: str | None) -> None:
    from killswitch import targets

    if target is not None:
        hit = targets.protected(rt.config, b, target)
    else:  # the whole group: refuse only when every target it would touch is protected
        every = sorted(targets.action_targets(rt.config, b, ALL_GROUP, {}))
        hit = every if every and targets.protected(rt.config, b, *every) == every else []
    if hit:
        _fail(
            f"--target: {', '.join(hit)} is on the protect list: refusing to kill it; "
            "pass --force to kill it anyway (journaled as forced)"
        )


def _journal_mark(rt: Any, budget: str) -> int:
    rows = rt.store.journal_rows(budget=budget, limit=1, newest_first=True)
    return int(rows[0].id) if rows else 0


@app.command()
def kill(
    config: ConfigOpt,
    budget: BudgetArg,
    target: TargetOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="kill a target even though it is on the protect list")
    ] = False,
    actor: ActorOpt = None,
) -> None:
    """Kill now (journaled, notified, like an automatic kill; ignores the blast-radius limit).

    The target must be one the budget knows (exit 2 lists them); a protected target is refused
    (exit 2) unless --force. A manual kill holds until a manual restore: the restore at the
    window's reset does not undo it (and it lifts a restore override of the group). Exit 1 when
    an action failed or nothing could be done.
    """

    rt = _runtime(config)
    b = _budget_or_fail(rt.config, budget)
    if not rt.config.actions.get(b.name):
        _fail(f"BUDGET: {b.name} has no actions configured")
    if b.scope_spec.each and not target:
        _fail(f"--target: {b.name} has one group per {b.scope_spec.each}; name the target")
    if not force:
        _refuse_protected(rt, b, target)
    d = _manual_decision(rt, budget, target, DecisionKind.KILL)
    if force:
        d = replace(
            d,
            reason=f"{d.reason} (--force: protect list overridden)",
            policy=replace(d.policy, protect=frozenset()),
        )
    mark = _journal_mark(rt, b.name)
    who = _actor(actor)
    rt.engine.executor.journal.identity = who  # this process acts for the operator

    async def go() -> None:
        try:
            if target is not None:
                await _known_target(rt, b, target, poll=True)
            _lift(rt, b.name, d.group, who, "manual kill")
            kills = rt.engine.executor.run_kills(
                [d], rt.engine.clock(), manual=True, only_target=target
            )
            async for acted in kills:
                rt.engine.emit(acted)
            await rt.engine.drain_outbox()
        finally:
            await rt.aclose()

    asyncio.run(go())
    if not _print_since(rt, b.name, mark):
        _fail("nothing was done: no action applies to that target (see the notifications)", 1)


@app.command()
def restore(
    config: ConfigOpt,
    budget: BudgetArg,
    target: TargetOpt = None,
    for_: Annotated[
        str | None,
        typer.Option("--for", help="hold the override this long (e.g. 2h) instead of the window"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="hold the override until this time (ISO-8601, UTC)"),
    ] = None,
    actor: ActorOpt = None,
    reason: Annotated[str, typer.Option(help="why (journaled, shown in status)")] = "",
) -> None:
    """Undo what killswitch did for a budget (all groups, or one target).

    A group still over its limit would be killed again at the next cycle: the restore records
    an override that holds until the window resets (or --for / --until), journaled with the
    actor. `killswitch override clear` lifts it.
    """

    if for_ is not None and until is not None:
        _fail("--for/--until: give one of them, not both")
    rt = _runtime(config)
    end = _override_end(for_, until, rt.engine.clock())
    b = _budget_or_fail(rt.config, budget)
    ex = rt.engine.executor
    who = _actor(actor)
    ex.journal.identity = who  # this process acts for the operator
    open_ = [k for k in ex.open_kills(b.name) if target in (None, k.target, k.group)]
    if target is not None and not open_:
        asyncio.run(_checked_then_closed(rt, b, target))
        typer.echo(f"nothing to restore: {target} has no open kill in budget {b.name}")
        raise typer.Exit(0)
    if not open_:
        typer.echo(f"nothing to restore: budget {b.name} has no open kill")
        raise typer.Exit(0)
    mark = _journal_mark(rt, b.name)

    async def go() -> bool:
        ok = True
        for group in sorted({k.group for k in open_}):
            # recorded before the undo, so a daemon's cycle in between cannot re-kill it
            _hold(rt, b, group, end, who, reason)
            d = _manual_decision(rt, budget, None, DecisionKind.RESTORE)

            d = replace(d, group=group)
            acted = await ex.run_restore(d, rt.engine.clock(), manual=True, only_target=target)
            rt.engine.emit(acted)
            ok &= acted.ok
        await rt.engine.drain_outbox()
        await rt.aclose()
        return ok

    ok = asyncio.run(go())
    _print_since(rt, b.name, mark)
    raise typer.Exit(0 if ok else 1)


async def _checked_then_closed(rt: Any, b: Any, target: str) -> None:
    try:
        await _known_target(rt, b, target, poll=False)  # a restore undoes journaled kills only
    finally:
        await rt.aclose()


def _print_since(rt: Any, budget: str, mark: int) -> bool:
    """Print the journal rows this command wrote (none older); exit 1 if one of them failed."""
    rows = [r for r in rt.store.journal_rows(budget=budget) if r.id > mark and r.manual]
    for r in rows:
        if r.op == "override":
            typer.echo(f"#{r.id} override {r.action}: {r.reason}")
            continue
        typer.echo(
            f"#{r.id} {r.op} {r.status}: {r.action} on {r.target}"
            + (f" ({r.error})" if r.error else "")
        )
    if any(r.status not in ("done", "dry_run") for r in rows):
        raise typer.Exit(1)
    return bool(rows)


keys_app = typer.Typer(
    no_args_is_help=True,
    help="Capped keys on demand: create a provider key with a spend cap the daemon enforces.",
)
app.add_typer(keys_app, name="keys")

CAP_TEXT = {
    "native": "native (the provider refuses spend past it) + the daemon's budget",
    "enforced": "enforced by the daemon's budget (the provider has no per-key cap)",
}


def _issuer(cfg: Any, provider: str) -> Any:
    """The built provider entry ``provider``, checked to implement KeyIssuer (else exit 2)."""
    from killswitch.plugins import ProviderContext, key_issuing, registry
    from killswitch.pricing import PriceBook

    pconf = cfg.providers.get(provider)
    if pconf is None:
        known = ", ".join(cfg.providers) or "none"
        _fail(f"--provider: no provider named {provider!r} under providers: (configured: {known})")
    cls = registry.providers[pconf.type]
    if key_issuing(cls) is None:
        able = sorted(t for t, c in registry.providers.items() if key_issuing(c))
        _fail(
            f"--provider: {provider} ({pconf.type}) cannot create keys; "
            f"provider types that can: {', '.join(able)}"
        )
    return cls(provider, pconf, ProviderContext(prices=PriceBook(cfg.base.prices)))


def _key_json(k: Any, enforced: bool) -> dict[str, Any]:
    from killswitch.daemon import system_clock
    from killswitch.managed import budget_name

    return {
        "name": k.name,
        "provider": k.provider,
        "id": k.id,
        "limit": str(k.limit.amount),
        "currency": k.limit.currency,
        "window": k.window,
        "cap": "native" if k.native_cap else "enforced",
        "expires_at": k.expires_at.isoformat() if k.expires_at else None,
        "expired": bool(k.expires_at and k.expires_at <= system_clock()),
        "created_at": k.created_at.isoformat() if k.created_at else None,
        "budget": budget_name(k.provider, k.name),
        "enforced_by_daemon": enforced,
    }


@keys_app.command("create")
def keys_create(
    config: ConfigOpt,
    provider: Annotated[str, typer.Option("--provider", help="provider entry (under providers:)")],
    name: Annotated[str, typer.Option("--name", help="the key's name, e.g. ci-run-42")],
    limit_usd: Annotated[str, typer.Option("--limit-usd", help="the cap in USD, e.g. 5")],
    window: Annotated[str, typer.Option("--window", help="daily, weekly or monthly (UTC)")],
    expires: Annotated[
        str | None, typer.Option("--expires", help="the key expires after this, e.g. 24h")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a key capped at --limit-usd per --window; print its secret once (and only here).

    The key (never its secret) is stored in the state; the daemon enforces it from its next
    cycle as budget managed-keys.<provider>.<name>, without a config edit.
    """
    from killswitch.daemon import system_clock
    from killswitch.managed import check_name
    from killswitch.plugins import KEY_WINDOWS, KeyRequest

    cfg = _load(config)
    if (why := check_name(provider, name)) is not None:
        _fail(f"--name: {why}")
    limit = _limit_usd(limit_usd)
    if window not in KEY_WINDOWS:
        _fail(f"--window: use one of {', '.join(KEY_WINDOWS)}")
    issuer = _issuer(cfg, provider)
    now = system_clock()
    expires_at = None if expires is None else _expires_at(issuer, provider, expires, now)
    store = _store(cfg)
    if any(k.name == name for k in store.managed_keys()):
        _fail(f"--name: a managed key named {name!r} exists; revoke it first or pick another name")
    request = KeyRequest(name, Money(limit, "USD"), window, expires_at)
    key, secret = _issue_key(cfg, store, issuer, provider, request, now)
    _print_created(key, secret, json_out)


def _limit_usd(text: str) -> Any:
    """--limit-usd as a Decimal above 0 (else exit 2)."""

    try:
        limit = Decimal(text)
    except InvalidOperation:
        _fail("--limit-usd: not a number; give the cap in USD, e.g. 5 or 12.50")
    if not limit.is_finite() or limit <= 0:
        _fail("--limit-usd: must be above 0, e.g. 5")
    return limit


def _expires_at(issuer: Any, provider: str, expires: str, now: Any) -> Any:
    """When --expires ends the key (aware UTC); exit 2 when the provider's keys cannot expire."""

    from killswitch.durations import parse_duration

    try:
        expires_at = (now + parse_duration(expires)).astimezone(UTC)
    except ValueError as exc:
        _fail(f"--expires: {exc}")
    if not type(issuer).key_expiry:
        _fail(
            f"--expires: {provider} keys cannot expire at the provider; leave it out and "
            "run `killswitch keys revoke` when done"
        )
    return expires_at


def _issue_key(
    cfg: Any, store: Any, issuer: Any, provider: str, request: Any, now: Any
) -> tuple[Any, str]:
    """Create the key at the provider and record it; the key and its secret.

    A key the store refused is revoked again: an unrecorded key would be uncapped by us."""

    async def go() -> Any:
        try:
            return await issuer.create_key(request)
        finally:
            await issuer.aclose()

    issued = asyncio.run(go())
    key = ManagedKey(
        request.name,
        provider,
        issued.id,
        request.limit,
        request.window,
        issued.native_cap,
        dict(issued.ref),
        request.expires_at,
        datetime.now(UTC),
    )
    try:
        store.add_managed_key(key, now)
    except Exception:
        asyncio.run(_revoke_quietly(cfg, key))
        raise
    return key, issued.secret.get_secret_value()


def _print_created(key: Any, secret: str, json_out: bool) -> None:
    """What ``keys create`` prints: the key, its cap and budget, then its secret (once)."""
    from killswitch.managed import budget_name

    if json_out:
        typer.echo(json.dumps({**_key_json(key, True), "secret": secret}, indent=2))
        return
    cap = "native" if key.native_cap else "enforced"
    typer.echo(
        f"created {key.name} on {key.provider} (id {key.id}): {key.limit.amount} USD "
        f"{key.window}; cap {CAP_TEXT[cap]}; budget {budget_name(key.provider, key.name)}"
        + (f"; expires {key.expires_at:%Y-%m-%d %H:%M:%S} UTC" if key.expires_at else "")
    )
    typer.echo("secret (shown once, never stored; keep it now):")
    typer.echo(secret)


async def _revoke_quietly(cfg: Any, key: Any) -> None:
    issuer = _issuer(cfg, key.provider)
    try:
        await issuer.revoke_key(key)
    except Exception:  # the store error that got us here is the one to report
        typer.echo(
            f"warning: could not revoke {key.name} ({key.id}); delete it at the provider", err=True
        )
    finally:
        await issuer.aclose()


@keys_app.command("list")
def keys_list(config: ConfigOpt, json_out: JsonOpt = False) -> None:
    """The managed keys in the state: limit, window, cap, expiry (never a secret)."""
    from killswitch.managed import unenforced, with_managed

    cfg = _load(config)
    keys = _store(cfg).managed_keys()
    loose = set(unenforced(with_managed(cfg, keys), keys))
    rows = [_key_json(k, k.name not in loose) for k in keys]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no managed keys: create one with `killswitch keys create`")
    for r in rows:
        typer.echo(
            f"{r['name']:20} {r['provider']:12} {r['limit']} {r['currency']} {r['window']:8} "
            f"cap {r['cap']:8} id {r['id']}"
            + (
                f" {'expired' if r['expired'] else 'expires'} {r['expires_at']}"
                if r["expires_at"]
                else ""
            )
            + ("" if r["enforced_by_daemon"] else "  NOT ENFORCED: provider not in the config")
        )


@keys_app.command("revoke")
def keys_revoke(
    config: ConfigOpt, name: Annotated[str, typer.Argument(help="the managed key's name")]
) -> None:
    """Delete the key at its provider, then forget it (the daemon stops enforcing it)."""
    from killswitch.managed import budget_name

    cfg = _load(config)
    store = _store(cfg)
    keys = {k.name: k for k in store.managed_keys()}
    key = keys.get(name)
    if key is None:
        _fail(f"NAME: no managed key named {name!r} (managed: {', '.join(keys) or 'none'})")
    if key.provider not in cfg.providers:
        _fail(
            f"NAME: {name} belongs to provider {key.provider!r}, no longer under providers:; "
            "add it back to revoke the key"
        )
    issuer = _issuer(cfg, key.provider)

    async def go() -> None:
        try:
            await issuer.revoke_key(key)
        finally:
            await issuer.aclose()

    asyncio.run(go())
    store.remove_managed_key(name, budget_name(key.provider, name))
    typer.echo(f"revoked {name} on {key.provider} (id {key.id})")


# ---- overrides -----------------------------------------------------------------------------

override_app = typer.Typer(
    no_args_is_help=True, help="Operator overrides: manual restores that hold, manual kills."
)
app.add_typer(override_app, name="override")


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def _override_end(for_: str | None, until: str | None, now: Any) -> Any:
    """The end --for or --until asks for (aware UTC, after ``now``), or None for the window's."""

    from killswitch.durations import parse_duration

    if for_ is not None:
        try:
            return now + parse_duration(for_)
        except ValueError as exc:
            _fail(f"--for: {exc}")
    if until is None:
        return None
    try:
        end = datetime.fromisoformat(until.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--until: {until!r} is not an ISO-8601 time: use e.g. 2026-12-02T18:00:00Z")
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    if end <= now:
        _fail(f"--until: {end.isoformat()} is in the past: give a time to come (UTC)")
    return end


def _still_over(rt: Any, b: Any, group: str, now: Any) -> bool:
    """The group's last published spend is at or over the kill line in this window. Unknown
    (no status of this window) is not over: an override is never recorded on a guess."""

    start = b.window_spec.at(now).start.isoformat()
    for r in rt.store.statuses():
        same = r["budget"] == b.name and r["group"] == group and r["window_start"] == start
        if same and r.get("spend") is not None:
            return bool(Decimal(r["spend"]) >= Decimal(r["limit"]) * b.kill_at)
    return False


def _hold(rt: Any, b: Any, group: str, end: Any, who: str, why: str) -> None:
    """Record the override a manual restore needs: always with --for/--until, else only when
    the group is still over its limit (it would be killed again at the next cycle)."""
    from killswitch.act import announce

    now = rt.engine.clock()
    if end is None and not _still_over(rt, b, group, now):
        return
    window = b.window_spec.at(now)
    o = Override(b.name, group, OVERRIDE_RESTORED, end or window.end, who, why, created_at=now)
    rt.engine.executor.journal.set_override(o, window.start, now)
    text = f"{b.name}/{group}: restored by hand, not killed again: {o.describe()}"
    rt.engine.enqueue(announce.override("override_set", o, now, text))


def _lift(rt: Any, budget: str, group: str | None, who: str, why: str) -> list[Any]:
    """Clear the overrides of a budget (one group, or all): journaled and announced."""

    from killswitch.act import announce

    now = rt.engine.clock()
    gone = rt.engine.executor.journal.clear_overrides(budget, group, who, why, now)
    for o in gone:
        text = (
            f"{o.budget}/{o.group}: override lifted by {who} (was: {o.describe()}); "
            "the budget's rules apply again"
        )
        lifted = replace(o, actor=who, reason=why)
        rt.engine.enqueue(announce.override("override_cleared", lifted, now, text))
    return list(gone)


@override_app.command("list")
def override_list(config: ConfigOpt, json_out: JsonOpt = False) -> None:
    """The overrides in force: manual restores that hold, and groups killed by hand."""
    from killswitch.act.journal import Journal
    from killswitch.daemon import system_clock

    cfg = _load(config)
    store = _store(cfg)
    found = Journal(store, "cli").overrides([b.name for b in cfg.budgets], system_clock())
    if json_out:
        typer.echo(json.dumps([o.to_json() for o in found], indent=2))
    elif not found:
        typer.echo("no override in force")
    for o in found if not json_out else ():
        typer.echo(f"{o.budget}/{o.group}: {o.describe()}")


@override_app.command("clear")
def override_clear(
    config: ConfigOpt,
    budget: BudgetArg,
    target: Annotated[str | None, typer.Option(help="only this target's group")] = None,
    actor: ActorOpt = None,
    reason: Annotated[str, typer.Option(help="why (journaled)")] = "",
) -> None:
    """Lift overrides: the budget's rules apply again at the next cycle (journaled, announced).

    A group killed by hand is lifted with `killswitch restore`, not here.
    """

    rt = _runtime(config)
    b = _budget_or_fail(rt.config, budget)
    group = target if target is None or b.scope_spec.each else ALL_GROUP

    async def lift() -> list[Any]:
        gone = _lift(rt, b.name, group, _actor(actor), reason)
        await rt.engine.drain_outbox()
        return gone

    gone = _run_closing(rt, lift)
    for o in gone:
        typer.echo(f"cleared: {o.budget}/{o.group} (was: {o.describe()})")
    if not gone:
        where = f"{b.name}/{target}" if target else b.name
        typer.echo(
            f"nothing to clear: {where} has no override (a manual kill is lifted by restore)"
        )


@app.command()
def providers(json_out: JsonOpt = False) -> None:
    """What each registered provider can read and do (the capability matrix)."""
    from killswitch.capabilities import matrix, render_text

    rows = matrix()
    typer.echo(json.dumps(rows, indent=2) if json_out else render_text(rows))


@app.command()
def schema() -> None:
    """JSON Schema of the config file."""
    from killswitch.config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2, default=str))


@app.command()
def doctor(config: ConfigOpt, json_out: JsonOpt = False) -> None:
    """Check each provider's credentials and the permissions its configured actions need.

    Exit 0 when every check passed, 1 otherwise.
    """
    rt = _runtime(config)

    async def go() -> dict[str, Any]:
        try:
            found = [await _doctor_one(rt, name, p) for name, p in rt.providers.items()]
        finally:
            await rt.aclose()
        state = {"ok": rt.store.ping(), "url": rt.store.redacted_url()}
        ok = state["ok"] and all(c["ok"] for p in found for c in p["checks"])
        return {"ok": ok, "providers": found, "state": state}

    report = asyncio.run(go())
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        for p in report["providers"]:
            typer.echo(f"{p['provider']} ({p['type']}):")
            for c in p["checks"]:
                typer.echo(f"  [{'ok' if c['ok'] else 'FAIL'}] {c['check']}: {c['detail']}")
        st = report["state"]
        typer.echo(f"state: {'ok' if st['ok'] else 'FAIL'} ({st['url']})")
    raise typer.Exit(0 if report["ok"] else 1)


async def _doctor_one(rt: Any, name: str, p: Any) -> dict[str, Any]:

    acts = sorted(
        {
            a.name
            for b in rt.config.budgets
            for a in rt.config.actions[b.name]
            if (a.provider or b.home) == name
        }
    )
    try:
        checks = [
            {"check": f.check, "ok": bool(f.ok), "detail": redact(str(f.detail))}
            for f in await p.doctor(acts)
        ]
    except Exception as exc:  # a provider's doctor that raises is a failed check, not a crash
        checks = [{"check": "doctor", "ok": False, "detail": f"raised: {redact(str(exc))}"}]
    return {"provider": name, "type": p.config.type, "actions": acts, "checks": checks}


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point: quiet CLI logging, and the guard that turns exceptions into one line."""
    from killswitch import logs
    from killswitch.state.schema import SchemaError

    argv = sys.argv[1:]
    debug = "--debug" in argv or os.environ.get("KILLSWITCH_DEBUG", "") not in ("", "0")
    logs.setup_cli()
    try:
        app(args=[a for a in argv if a != "--debug"], prog_name="killswitch")
    except KeyboardInterrupt:
        sys.exit(130)
    except SchemaError as exc:  # the state's schema does not fit this version: say what to run
        typer.echo(f"state: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        sys.exit(_report(exc, debug=debug))


def _report(exc: Exception, *, debug: bool) -> int:
    """Print one line for ``exc`` (the traceback too with --debug); return the exit code."""
    from sqlalchemy.exc import SQLAlchemyError

    from killswitch.preflight import first_line

    if debug:
        typer.echo(redact("".join(traceback.format_exception(exc))).rstrip(), err=True)
    if isinstance(exc, ConfigError):
        typer.echo(redact(exc.render()), err=True)
        return 2
    if isinstance(exc, KillswitchError):
        msg = str(exc)
    elif isinstance(exc, SQLAlchemyError):
        msg = f"state: {first_line(exc)}; check state: in the config (rerun with --debug for more)"
    elif isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        msg = f"{where}{exc.strerror.lower()} (rerun with --debug for the traceback)"
    else:
        msg = (
            f"unexpected {type(exc).__name__}: {first_line(exc)} - this is a bug; rerun with "
            "--debug (or KILLSWITCH_DEBUG=1) for the traceback and please report it"
        )
    typer.echo(f"error: {redact(msg)}", err=True)
    return 1


if __name__ == "__main__":
    main()
