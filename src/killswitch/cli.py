"""The ``killswitch`` command. Invalid config or arguments: exit 2, a message naming the field."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from killswitch import __version__
from killswitch.errors import ConfigError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Hard spending caps for LLM APIs and clouds."
)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="config file (YAML)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _fail(msg: str, code: int = 2) -> NoReturn:
    typer.echo(msg, err=True)
    raise typer.Exit(code)


def _load(path: Path) -> Any:
    from killswitch import config

    try:
        return config.load(path)
    except ConfigError as exc:
        _fail(exc.render())


def _runtime(path: Path, *, dry_run: bool = False) -> Any:
    from killswitch import daemon, logs

    cfg = _load(path)
    if dry_run:
        object.__setattr__(cfg, "base", cfg.base.model_copy(update={"dry_run": True}))
    logs.setup(cfg.base.log_level)
    return daemon.build(cfg)


@app.command()
def run(
    config: ConfigOpt,
    once: Annotated[bool, typer.Option(help="one poll/evaluate/act cycle, then exit")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="journal, never execute")] = False,
) -> None:
    """Run the daemon."""
    from killswitch.daemon import Daemon

    rt = _runtime(config, dry_run=dry_run)
    code = asyncio.run(Daemon(rt).run(once=once))
    raise typer.Exit(code)


@app.command("check-config")
def check_config(config: ConfigOpt) -> None:
    """Validate the config (secret references included) and exit."""
    cfg = _load(config)
    typer.echo(
        f"ok: {len(cfg.providers)} provider(s), {len(cfg.budgets)} budget(s), "
        f"{len(cfg.base.notifiers)} notifier(s)"
    )


@app.command()
def plan(
    config: ConfigOpt,
    json_out: JsonOpt = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="overall deadline for reading every source, seconds")
    ] = 30.0,
) -> None:
    """Poll once and show what the daemon would do now, and why. Changes nothing.

    Exit 0 when every source was read, 1 when any could not be (each is listed with the reason).
    """
    from killswitch import views

    rt = _runtime(config)

    async def go() -> dict[str, Any]:
        try:
            reports, reads = await views.preview_all(rt.engine, timeout)
            rows = views.plan_rows(rt.engine, reports)
        finally:
            await rt.aclose()
        ok = all(r.error is None for r in reads)
        return {"ok": ok, "sources": [r.to_json() for r in reads], "budgets": rows}

    report = asyncio.run(go())
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo("\n".join(views.render_plan(report)))
    if not report["ok"]:
        failed = [f"{s['provider']}/{s['source']}" for s in report["sources"] if not s["ok"]]
        typer.echo(f"plan: could not read {', '.join(failed)}; see above", err=True)
        raise typer.Exit(1)


@app.command()
def status(config: ConfigOpt, json_out: JsonOpt = False) -> None:
    """Every budget group: spend, limit, ratio, window and when it resets, state (as of the
    daemon's last cycle). Exit 1 when that data is stale or there is none yet."""
    from killswitch import views
    from killswitch.daemon import system_clock

    cfg = _load(config)
    store = _store(cfg)
    now = system_clock()
    sources = views.source_freshness(cfg, store.source_statuses(), now)
    rows = views.status_rows(cfg, store.statuses(), sources, now)
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
    """The action journal, newest first."""
    cfg = _load(config)
    if budget is not None:
        _budget_or_fail(cfg, budget)
    rows = _store(cfg).journal_rows(budget=budget, limit=limit, newest_first=True)
    if json_out:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    for r in rows:
        typer.echo(
            f"#{r.id} {r.created_at:%Y-%m-%d %H:%M:%S} {r.op:7} {r.status:9} {r.action} "
            f"on {r.target} [{r.budget}/{r.group}]"
            + (" manual" if r.manual else "")
            + (f" error: {r.error}" if r.error else "")
        )


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
        from killswitch.secrets import redact

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
    from killswitch.core.scope import ALL_GROUP
    from killswitch.model import Decision

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
    )


@app.command()
def kill(
    config: ConfigOpt,
    budget: Annotated[str, typer.Argument(help="budget name")],
    target: Annotated[str | None, typer.Option(help="only this target")] = None,
) -> None:
    """Kill now (journaled, notified, like an automatic kill; ignores the blast-radius limit)."""
    from killswitch.model import DecisionKind

    rt = _runtime(config)
    b = _budget_or_fail(rt.config, budget)
    if not rt.config.actions.get(b.name):
        _fail(f"BUDGET: {b.name} has no actions configured")
    if b.scope_spec.each and not target:
        _fail(f"--target: {b.name} has one group per {b.scope_spec.each}; name the target")
    d = _manual_decision(rt, budget, target, DecisionKind.KILL)

    async def go() -> None:
        kills = rt.engine.executor.run_kills(
            [d], rt.engine.clock(), manual=True, only_target=target
        )
        async for acted in kills:
            rt.engine.emit(acted)
        await rt.engine.drain_outbox()
        await rt.aclose()

    asyncio.run(go())
    _print_latest(rt, b.name)


@app.command()
def restore(
    config: ConfigOpt,
    budget: Annotated[str, typer.Argument(help="budget name")],
    target: Annotated[str | None, typer.Option(help="only this target")] = None,
) -> None:
    """Undo what killswitch did for a budget (all groups, or one target)."""
    from killswitch.model import DecisionKind

    rt = _runtime(config)
    b = _budget_or_fail(rt.config, budget)
    ex = rt.engine.executor
    open_ = [k for k in ex.open_kills(b.name) if target in (None, k.target, k.group)]
    if not open_:
        typer.echo("nothing to restore: no open kill for that budget/target")
        raise typer.Exit(0)

    async def go() -> bool:
        ok = True
        for group in sorted({k.group for k in open_}):
            d = _manual_decision(rt, budget, None, DecisionKind.RESTORE)
            from dataclasses import replace

            d = replace(d, group=group)
            acted = await ex.run_restore(d, rt.engine.clock(), manual=True, only_target=target)
            rt.engine.emit(acted)
            ok &= acted.ok
        await rt.engine.drain_outbox()
        await rt.aclose()
        return ok

    ok = asyncio.run(go())
    _print_latest(rt, b.name)
    raise typer.Exit(0 if ok else 1)


def _print_latest(rt: Any, budget: str) -> None:
    for r in rt.store.journal_rows(budget=budget, limit=10, newest_first=True):
        if r.manual:
            typer.echo(
                f"#{r.id} {r.op} {r.status}: {r.action} on {r.target}"
                + (f" ({r.error})" if r.error else "")
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
def doctor(config: ConfigOpt) -> None:
    """Check each provider's credentials and the permissions its configured actions need."""
    rt = _runtime(config)

    async def go() -> bool:
        ok = True
        for name, p in rt.providers.items():
            acts = sorted(
                {
                    a.name
                    for b in rt.config.budgets
                    if b.provider == name
                    for a in rt.config.actions[b.name]
                }
            )
            typer.echo(f"{name} ({p.config.type}):")
            try:
                findings = await p.doctor(acts)
            except Exception as exc:
                from killswitch.secrets import redact

                findings = []
                typer.echo(f"  [FAIL] doctor raised: {redact(str(exc))}")
                ok = False
            for f in findings:
                typer.echo(f"  [{'ok' if f.ok else 'FAIL'}] {f.check}: {f.detail}")
                ok &= f.ok
        typer.echo(f"state: {'ok' if rt.store.ping() else 'FAIL'} ({rt.store.redacted_url()})")
        await rt.aclose()
        return ok

    raise typer.Exit(0 if asyncio.run(go()) else 1)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    from killswitch.state.schema import SchemaError

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except SchemaError as exc:  # the state's schema does not fit this version: say what to run
        typer.echo(f"state: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
