"""The state schema's version: read it, migrate it under a database lock, or refuse to run on it.

Alembic revisions live in ``killswitch/state/migrations/versions``. Every way of opening the state
goes through :func:`ensure`: with ``state_migrate: auto`` (the default) it upgrades to the newest
revision this code knows, holding a lock so replicas starting together on an empty database do not
race (PostgreSQL: a transaction-scoped advisory lock; SQLite: an exclusive transaction); with
``manual`` it refuses an older schema and names the command to run. A schema newer than the code
is always refused: the code would misread it.

A database that 0.1.0 made with ``create_all`` has no ``alembic_version``. It is recognised by
comparing its tables and columns with the baseline revision, then stamped and upgraded. A
pre-release database missing only nullable columns or whole tables of the baseline (such as
``journal.spend``) is completed first; anything else unknown is refused rather than guessed at.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from killswitch.errors import KillswitchError

if TYPE_CHECKING:  # alembic (~10 MB resident) loads only when a migration is to be read or run
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
MigrateMode = Literal["auto", "manual"]
# Namespace of the PostgreSQL advisory lock; the second key is the schema, so killswitch
# instances on different schemas of one database do not wait for each other.
_PG_LOCK_NAMESPACE = 0x6B73  # "ks"
LOCK_WAIT_SECONDS = 120


class SchemaError(KillswitchError):
    """The state schema cannot be used as it is; the message says what to run."""


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands relative to the revisions this code ships."""

    current: str | None  # the stamped revision; None when unversioned
    head: str
    legacy: bool = False  # killswitch tables without alembic_version (0.1.0's create_all)
    pending: tuple[str, ...] = ()  # revisions an upgrade would apply, oldest first
    repairs: tuple[str, ...] = field(default=())  # pre-release gaps adoption would fill

    @property
    def empty(self) -> bool:
        return self.current is None and not self.legacy

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.legacy:
            return "unversioned (created by killswitch 0.1.0)"
        return "empty" if self.current is None else f"revision {self.current}"


def alembic_config(**attributes: Any) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes.update(attributes)
    return cfg


@cache
def scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


_REVISION = re.compile(r'^revision = "(\w+)"$', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision = (?:None|"(\w+)")$', re.MULTILINE)


def head() -> str:
    """The newest revision shipped, read from the revision files' text rather than through
    alembic, so a daemon whose state is already current never imports alembic (a test checks
    this agrees with alembic's own view)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        rev, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if rev is not None:
            revisions.add(rev.group(1))
        if down is not None and down.group(1):
            parents.add(down.group(1))
    heads = sorted(revisions - parents)
    if len(heads) != 1:  # two migrations written on the same parent: a merge is missing
        raise SchemaError(
            f"the migrations have {len(heads)} heads ({', '.join(heads)}); expected 1"
        )
    return heads[0]


def _baseline() -> ModuleType:
    rev = scripts().get_revision(BASELINE)
    assert rev is not None
    return rev.module


def describe_revision(rev: str) -> str:
    """The first line of a revision's docstring: what it changes, for ``migrate --dry-run``."""
    script = scripts().get_revision(rev)
    return (script.doc if script is not None else "").strip().splitlines()[0] if script else rev


def _known(rev: str) -> bool:
    try:
        return scripts().get_revision(rev) is not None
    except Exception:  # alembic raises its own errors for ids it has never seen
        return False


def _pending(current: str | None) -> tuple[str, ...]:
    top = head()
    if current == top:
        return ()
    revs = scripts().iterate_revisions(top, current or "base")
    return tuple(reversed([r.revision for r in revs]))


def status(conn: Connection) -> SchemaStatus:
    """Read the schema version (and, for an unversioned database, whether it is 0.1.0's)."""
    top = head()
    names = set(inspect(conn).get_table_names())
    if VERSION_TABLE in names:
        rows = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
        if len(rows) > 1:
            raise SchemaError(f"state schema has several revisions stamped ({', '.join(rows)})")
        if rows:
            current = rows[0]
            if current == top:  # the usual start: nothing to read from the migrations
                return SchemaStatus(current, top)
            if not _known(current):
                raise SchemaError(
                    f"state schema is at revision {current}, newer than this killswitch "
                    f"(it knows up to {top}): run the newer killswitch, or restore the backup "
                    "taken before the upgrade"
                )
            return SchemaStatus(current, top, pending=_pending(current))
    ours = names & set(_baseline().TABLES)
    if not ours:
        return SchemaStatus(None, top, pending=_pending(None))
    repairs = tuple(_legacy_gaps(conn, names))
    return SchemaStatus(None, top, legacy=True, pending=_pending(BASELINE), repairs=repairs)


def _legacy_gaps(conn: Connection, names: set[str]) -> Iterator[str]:
    """What an unversioned database lacks of the baseline; raise if it has what we never made."""
    base = _baseline()
    insp = inspect(conn)
    for table, items in base.TABLES.items():
        cols = {c.name: c for c in items() if hasattr(c, "nullable")}
        if table not in names:
            yield f"create table {table}"
            continue
        have = {c["name"] for c in insp.get_columns(table)}
        extra = have - set(cols)
        if extra:
            raise SchemaError(
                f"state table {table} has columns no killswitch release made "
                f"({', '.join(sorted(extra))}): point state: at the right database, or restore "
                "a backup"
            )
        for name in [n for n in cols if n not in have]:
            if not cols[name].nullable:
                raise SchemaError(
                    f"state table {table} lacks the required column {name} and cannot be "
                    "completed: point state: at the right database, or restore a backup"
                )
            yield f"add column {table}.{name}"


def _adopt(conn: Connection, st: SchemaStatus) -> None:
    """Complete a pre-release database to the baseline, then stamp it (no DDL for a true 0.1.0)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    base = _baseline()
    ops = Operations(MigrationContext.configure(conn))
    with Operations.context(ops.migration_context):
        for repair in st.repairs:
            if repair.startswith("create table "):
                base.create(repair.removeprefix("create table "))
                continue
            table, _, col = repair.removeprefix("add column ").partition(".")
            column = next(c for c in base.TABLES[table]() if getattr(c, "name", None) == col)
            with ops.batch_alter_table(table) as batch:
                batch.add_column(column)
    MigrationContext.configure(conn).stamp(scripts(), BASELINE)


def check(engine: Engine, mode: MigrateMode, config_path: str | None = None) -> SchemaStatus:
    """Raise :class:`SchemaError` unless the schema is usable as it is (or ``auto`` may fix it)."""
    with engine.connect() as conn:
        st = status(conn)
    if st.up_to_date or mode == "auto":
        return st
    cmd = f"killswitch migrate -c {config_path or 'FILE'}"
    if st.empty:
        raise SchemaError(f"state database has no killswitch schema yet: run `{cmd}`")
    raise SchemaError(
        f"state schema is {st.describe()}, this killswitch needs revision {st.head}: back up the "
        f"state, then run `{cmd}` (or set state_migrate: auto)"
    )


def ensure(engine: Engine, mode: MigrateMode, config_path: str | None = None) -> SchemaStatus:
    """The schema at head, or :class:`SchemaError`. Cheap when nothing is to do (one SELECT)."""
    st = check(engine, mode, config_path)
    if st.up_to_date:
        return st
    return upgrade(engine)


def upgrade(engine: Engine) -> SchemaStatus:
    """Migrate to head under the database's migration lock; returns the status found under it."""
    from alembic import command

    with _locked(engine) as conn:
        st = status(conn)  # read under the lock: another replica may have just migrated
        if st.up_to_date:
            return st
        if st.legacy:
            _adopt(conn, st)
        command.upgrade(alembic_config(connection=conn), "head")
        return st


def sql_script(engine: Engine) -> str:
    """The SQL an upgrade would run from the database's current revision (changes nothing)."""
    from alembic import command

    with engine.connect() as conn:
        st = status(conn)
    if st.up_to_date:
        return ""
    if st.repairs:
        raise SchemaError(
            "this pre-release database must be completed before it can be stamped: "
            "run `killswitch migrate` instead of --sql"
        )
    out = io.StringIO()
    cfg = alembic_config(dialect=engine.dialect.name)
    cfg.output_buffer = out
    if st.legacy:
        command.stamp(cfg, BASELINE, sql=True)
    start = st.current or (BASELINE if st.legacy else None)
    command.upgrade(cfg, f"{start}:head" if start else "head", sql=True)
    return out.getvalue()


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that holds the migration lock; commits on success."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'"))
            # The session's idle-in-transaction bound is sized for cycles (half a lease, down
            # to 1 s); between a migration's statements Alembic does Python work that can take
            # longer on a loaded host, and the server would end the session mid-migration.
            conn.execute(
                text(f"SET LOCAL idle_in_transaction_session_timeout = '{LOCK_WAIT_SECONDS}s'")
            )
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, hashtext(current_schema()))"),
                {"ns": _PG_LOCK_NAMESPACE},
            )
            yield conn
        return
    if engine.dialect.name == "sqlite" and make_url(engine.url).database not in (
        None,
        "",
        ":memory:",
    ):
        exclusive = _sqlite_exclusive_engine(engine)
        try:
            with exclusive.begin() as conn:
                yield conn
        finally:
            exclusive.dispose()
        return
    with engine.begin() as conn:  # in-memory SQLite: one connection, nobody to race with
        yield conn


def _sqlite_exclusive_engine(engine: Engine) -> Engine:
    """pysqlite begins transactions lazily and not for DDL; take BEGIN EXCLUSIVE ourselves.

    This is SQLAlchemy's documented recipe. The exclusive transaction is the lock (a second
    process waits in BEGIN up to the timeout) and makes the migration atomic.
    """
    eng = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": LOCK_WAIT_SECONDS})

    @event.listens_for(eng, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(eng, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")

    return eng


def new_revision(message: str) -> str:
    """For developers: write the next revision, autogenerated from ``tables.py`` (then review it).

    Compares the models with a scratch SQLite database migrated to head, so the draft holds
    exactly what changed since the last revision. Run ``python -m killswitch.state.migrations MSG``.
    """
    import tempfile

    from alembic import command

    with tempfile.TemporaryDirectory() as d:
        engine = create_engine(f"sqlite:///{d}/scratch.db")
        upgrade(engine)
        rev_id = f"{int(head()) + 1:04d}"
        with engine.begin() as conn:
            script = command.revision(
                alembic_config(connection=conn), message, autogenerate=True, rev_id=rev_id
            )
        engine.dispose()
    scripts.cache_clear()
    assert script is not None and not isinstance(script, list)
    return str(script.path)
