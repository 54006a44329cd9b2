"""State migrations: the baseline is 0.1.0's schema, migrations equal the models, upgrades keep
kills, restores and resumes working, and simultaneous first starts are safe.

The 0.1.0 code is taken from git (commit 46df619) and run in a subprocess, so the databases
upgraded here are the ones that release really wrote, not a reconstruction.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from tests.conftest import REPO, postgres_schema

from killswitch.state import Store, schema
from killswitch.state.schema import SchemaError
from killswitch.state.tables import metadata
from killswitch.testing import StandIn

V010 = "46df619"


@pytest.fixture(scope="session")
def v010_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source tree of killswitch 0.1.0, from this repository's history."""
    out = tmp_path_factory.mktemp("killswitch-0.1.0")
    git = shutil.which("git")
    archive = (
        subprocess.run(
            [git, "-C", str(REPO), "archive", V010, "src"], capture_output=True, check=False
        )
        if git
        else None
    )
    if archive is None or archive.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"git cannot read commit {V010} (a full clone is needed in CI)")
        pytest.skip(f"needs git and commit {V010} of this repository")
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "src"


def run_old(
    src: Path, code: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` under the 0.1.0 package (PYTHONPATH wins over the editable install)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def create_all_010(src: Path, url: str) -> None:
    done = run_old(
        src,
        "import sys, killswitch; from killswitch.state import Store; "
        "assert killswitch.__file__.startswith(sys.argv[2]), killswitch.__file__; Store(sys.argv[1])",
        url,
        str(src),
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_schema(f"ks_mig_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}") as u:
        yield u


def tables_of(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def version_of(url: str) -> list[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return [r[0] for r in c.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        eng.dispose()


def schema_dump(url: str) -> dict[str, Any]:
    """Everything a schema is made of, as the database reports it."""
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            if eng.dialect.name == "sqlite":
                rows = conn.execute(
                    text(
                        "SELECT type, name, tbl_name, sql FROM sqlite_master "
                        "WHERE tbl_name NOT IN ('alembic_version', 'sqlite_sequence')"
                    )
                )
                return {"sqlite_master": sorted(tuple(r) for r in rows)}
            insp = inspect(conn)
            out: dict[str, Any] = {}
            for t in sorted(set(insp.get_table_names()) - {"alembic_version"}):
                out[t] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in insp.get_columns(t)
                    ],
                    "pk": insp.get_pk_constraint(t),
                    "unique": sorted(
                        (u["name"], tuple(u["column_names"]))
                        for u in insp.get_unique_constraints(t)
                    ),
                    "indexes": sorted(
                        (i["name"], tuple(i["column_names"]), i["unique"])
                        for i in insp.get_indexes(t)
                    ),
                    "fks": insp.get_foreign_keys(t),
                }
            own = conn.execute(text("SELECT current_schema()")).scalar_one()
            out["pg_indexes"] = sorted(
                (r[0], r[1], r[2].replace(f" {own}.", " "))
                for r in conn.execute(
                    text(
                        "SELECT tablename, indexname, indexdef FROM pg_indexes "
                        "WHERE schemaname = current_schema() AND tablename != 'alembic_version'"
                    )
                )
            )
            out["sequences"] = sorted(insp.get_sequence_names())
            return out
    finally:
        eng.dispose()


# ---- the revisions themselves ---------------------------------------------------------------
def test_one_linear_history_starting_at_the_baseline() -> None:
    revs = list(schema.scripts().walk_revisions())
    assert len(schema.scripts().get_heads()) == 1
    assert revs[-1].revision == schema.BASELINE and revs[-1].down_revision is None
    for r in revs:  # every revision can be described to an operator (migrate --dry-run)
        assert schema.describe_revision(r.revision)


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    """schema.head() parses the revision files instead of importing alembic: same answer."""
    assert [schema.head()] == list(schema.scripts().get_heads())


def test_opening_a_current_state_does_not_import_alembic(tmp_path: Path) -> None:
    """A daemon restarting on a migrated state never loads alembic (about 10 MB resident)."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    Store(url).close()  # migrates: alembic is loaded in this process, so look from a fresh one
    probe = (
        "import sys; from killswitch.state import Store; "
        f"Store({url!r}).close(); print(sorted(m for m in sys.modules if m.startswith('alembic')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"


def test_migrations_equal_the_models(fresh_url: str) -> None:
    """Autogenerate finds nothing to do: every change to tables.py came with its migration."""
    Store(fresh_url).close()
    eng = create_engine(fresh_url)
    try:
        with eng.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, metadata) == []
    finally:
        eng.dispose()


def test_baseline_is_exactly_the_0_1_0_schema(v010_src: Path, tmp_path: Path) -> None:
    for backend in ("sqlite", "postgres"):
        if backend == "sqlite":
            old, new = (f"sqlite:///{tmp_path / n}" for n in ("old.db", "new.db"))
            _compare_baseline(v010_src, old, new)
            continue
        with (
            postgres_schema(f"ks_b0_{os.getpid()}") as old,
            postgres_schema(f"ks_b1_{os.getpid()}") as new,
        ):
            _compare_baseline(v010_src, old, new)


def _compare_baseline(src: Path, old: str, new: str) -> None:
    create_all_010(src, old)
    eng = create_engine(new)
    try:
        with eng.begin() as conn:
            from alembic import command

            command.upgrade(schema.alembic_config(connection=conn), schema.BASELINE)
    finally:
        eng.dispose()
    assert schema_dump(old) == schema_dump(new)


# ---- opening a database -----------------------------------------------------------------------
def test_a_0_1_0_database_is_recognised_stamped_and_upgraded(
    v010_src: Path, fresh_url: str
) -> None:
    create_all_010(v010_src, fresh_url)
    assert "alembic_version" not in tables_of(fresh_url)
    with pytest.raises(SchemaError, match=r"0\.1\.0.*killswitch migrate -c cfg\.yaml"):
        Store(fresh_url, migrate="manual", config_path="cfg.yaml")
    Store(fresh_url).close()
    assert version_of(fresh_url) == [schema.head()]
    Store(fresh_url, migrate="manual").close()  # at head: manual mode opens it


def test_manual_mode_refuses_an_empty_database_with_the_command(fresh_url: str) -> None:
    with pytest.raises(SchemaError) as exc:
        Store(fresh_url, migrate="manual", config_path="/etc/killswitch.yaml")
    assert "killswitch migrate -c /etc/killswitch.yaml" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert not tables_of(fresh_url) & set(metadata.tables)  # refused means untouched


def test_a_newer_schema_is_refused_in_every_mode(fresh_url: str) -> None:
    Store(fresh_url).close()
    eng = create_engine(fresh_url)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    eng.dispose()
    for mode in ("auto", "manual"):
        with pytest.raises(SchemaError, match="revision 9999, newer than this killswitch"):
            Store(fresh_url, migrate=mode)  # type: ignore[arg-type]
    assert version_of(fresh_url) == ["9999"]


def test_a_pre_release_database_without_journal_spend_is_completed(
    v010_src: Path, tmp_path: Path
) -> None:
    """The database of the issue: built before ``journal.spend``; every kill insert failed."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    create_all_010(v010_src, url)
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("ALTER TABLE journal DROP COLUMN spend"))
        c.execute(text("DROP TABLE lease"))
    eng.dispose()
    with eng.connect() as c:
        st = schema.status(c)
    assert st.legacy and set(st.repairs) == {"add column journal.spend", "create table lease"}
    s = Store(url)
    with s.tx() as conn:
        s.journal_add(conn, [_kill_row(spend="12.5")], datetime.now(UTC))
    assert s.journal_rows()[0].spend == "12.5"
    s.close()


def test_unknown_tables_are_refused_not_guessed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text("CREATE TABLE journal (id INTEGER PRIMARY KEY, whatever TEXT)"))
    eng.dispose()
    with pytest.raises(SchemaError, match=r"journal has columns no killswitch release made"):
        Store(url)


def _kill_row(**over: Any) -> dict[str, Any]:
    return {
        "budget": "b",
        "grp": "g",
        "target": "t",
        "action": "a",
        "op": "kill",
        "status": "pending",
        "params": {},
        "manual": False,
        "actor": "x",
        "reason": "r",
        **over,
    }


def test_simultaneous_first_opens_of_an_empty_database(fresh_url: str) -> None:
    """Replicas starting together: one migrates under the lock, the others find it done."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_store() -> None:
        barrier.wait()
        try:
            Store(fresh_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert version_of(fresh_url) == [schema.head()]


# ---- the CLI ----------------------------------------------------------------------------------
def cli(
    cfg: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "killswitch", *args, "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cfg.parent,
    )


def test_migrate_command_dry_run_sql_and_apply(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from killswitch.cli import app

    state = tmp_path / "state.db"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "state": f"sqlite:///{state}",
                "state_migrate": "manual",
                "providers": {"sim": {"type": "simulated", "targets": [{"id": "a"}]}},
            }
        )
    )
    refused = cli(cfg, "run", "--once")  # the real entry point: exit 2, one line, no traceback
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"state: state database has no killswitch schema yet: run `killswitch migrate -c {cfg}`"
    ]
    runner = CliRunner()

    def migrate(*args: str) -> str:
        res = runner.invoke(app, ["migrate", "-c", str(cfg), *args])
        assert res.exit_code == 0, res.output
        return res.output

    dry = migrate("--dry-run")
    assert "schema empty" in dry and f"would apply {schema.BASELINE}" in dry
    assert "CREATE TABLE journal" in migrate("--sql")
    assert "alembic_version" not in tables_of(f"sqlite:///{state}")  # neither changed anything
    assert f"-> {schema.head()}" in migrate()
    assert "nothing to do" in migrate()
    Store(f"sqlite:///{state}", migrate="manual").close()


# ---- a real 0.1.0 database, upgraded ------------------------------------------------------------
# Run under the 0.1.0 code: one cycle kills `a` (journaled done, announced, outbox drained), the
# next warns about `b` (queued), the last journals the kill of `b` and the process dies before
# calling the provider, exactly
# like a crash mid-action. The clock is virtual; T0 is the real time, so the current code that
# resumes and restores afterwards on the system clock is still in the same window.
OLD_DRIVER = r"""
import asyncio, os, sys
from datetime import datetime, timedelta
from killswitch import config, daemon
from killswitch.providers.simulated.provider import SimulatedDisable

t0 = datetime.fromisoformat(sys.argv[2])
clock = {"now": t0}
rt = daemon.build(config.load(sys.argv[1]), clock=lambda: clock["now"], identity="v0.1.0")
real = SimulatedDisable.execute

async def crash_on_b(self, provider, target, params, ctx):
    if target == "b":
        os._exit(17)  # the intent is journaled, the provider was not called
    return await real(self, provider, target, params, ctx)

SimulatedDisable.execute = crash_on_b

async def main():
    await rt.engine.cycle("sim")
    await rt.engine.drain_outbox()
    clock["now"] = t0 + timedelta(seconds=20)  # b passes its warning line: queued, not sent
    await rt.engine.cycle("sim")
    clock["now"] = t0 + timedelta(seconds=60)
    await rt.engine.cycle("sim")

asyncio.run(main())
sys.exit(3)  # not reached: b's kill crashes the process
"""


def upgrade_config(state: str, world: Path, hook: str, t0: datetime) -> dict[str, Any]:
    return {
        "state": state,
        "providers": {
            "sim": {
                "type": "simulated",
                "poll_interval": "1s",
                "state_file": str(world),
                "start": (t0 - timedelta(seconds=10)).isoformat(),
                "targets": [
                    {"id": "a", "rate_usd_per_second": 1},
                    {"id": "b", "rate_usd_per_second": "0.1"},
                ],
            }
        },
        "budgets": [
            {
                "name": "per-key",
                "provider": "sim",
                "scope": {"each": "key"},
                "window": "interval:1d",
                "limit_usd": 4,
                "warn_at": [0.5],
                "actions": ["simulated.disable"],
                "restore": "manual",
            }
        ],
        "notifiers": [{"type": "webhook", "url": hook}],
    }


def test_upgrade_a_0_1_0_database_then_resume_and_restore(
    v010_src: Path, fresh_url: str, tmp_path: Path
) -> None:
    hook = StandIn()
    hook.route("POST", "/hook")(lambda req: (200, {"ok": True}))
    hook.start()
    try:
        _upgrade_scenario(v010_src, fresh_url, tmp_path, hook)
    finally:
        hook.stop()


def _upgrade_scenario(src: Path, url: str, tmp_path: Path, hook: StandIn) -> None:
    world = tmp_path / "world.json"
    t0 = datetime.now(UTC).replace(microsecond=0)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(upgrade_config(url, world, f"{hook.url}/hook", t0)))

    old = run_old(src, OLD_DRIVER, str(cfg), t0.isoformat())
    assert old.returncode == 17, old.stderr[-3000:]
    assert "alembic_version" not in tables_of(url)
    eng = create_engine(url)
    with eng.connect() as c:
        journal = [dict(r) for r in c.execute(text("SELECT * FROM journal ORDER BY id")).mappings()]
        outbox = {r[0] for r in c.execute(text("SELECT status FROM outbox"))}
    eng.dispose()
    assert [(j["target"], j["op"], j["status"]) for j in journal] == [
        ("a", "kill", "done"),
        ("b", "kill", "pending"),
    ]
    assert outbox == {"sent", "pending"}  # a's announcements went out; b's warning waits
    sent_before = [r.json()["dedup_key"] for r in hook.requests]
    assert [c["op"] for c in json.loads(world.read_text())["calls"]] == ["disable"]

    migrated = cli(cfg, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "unversioned (created by killswitch 0.1.0)" in migrated.stdout
    assert version_of(url) == [schema.head()]

    # The daemon resumes b's pending intent exactly once and announces it.
    run = cli(cfg, "run", "--once")
    assert run.returncode == 0, run.stderr[-3000:]
    calls = json.loads(world.read_text())["calls"]
    assert [(c["op"], c["target"]) for c in calls] == [("disable", "a"), ("disable", "b")]

    restored = cli(cfg, "restore", "per-key", "--target", "a")
    assert restored.returncode == 0, restored.stderr[-3000:]
    calls = json.loads(world.read_text())["calls"]
    assert [(c["op"], c["target"]) for c in calls][-1] == ("enable", "a")

    hist = json.loads(cli(cfg, "history", "--json").stdout)
    rows = sorted((h["target"], h["op"], h["status"], h["kill_id"]) for h in hist)
    kill_a = next(h["id"] for h in hist if h["target"] == "a" and h["op"] == "kill")
    assert rows == [
        ("a", "kill", "done", None),
        ("a", "override", "done", None),  # a is still over its limit: the restore holds
        ("a", "restore", "done", kill_a),
        ("b", "kill", "done", None),
    ]
    delivered = [r.json()["dedup_key"] for r in hook.requests]
    assert len(delivered) == len(set(delivered))  # nothing announced twice across the upgrade
    assert set(sent_before) < set(delivered)
    assert any(k.startswith("kill:per-key:b:") for k in delivered)


# ---- two daemons, one empty PostgreSQL ------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.postgres
def test_two_daemons_started_together_on_an_empty_postgres_both_come_up(tmp_path: Path) -> None:
    from killswitch.testing import DaemonProcess

    cfg: dict[str, Any] = {
        "ha": {"enabled": True, "lease_seconds": 3},
        "providers": {
            "sim": {"type": "simulated", "poll_interval": "1s", "targets": [{"id": "a"}]}
        },
    }
    for round_ in range(2):
        with postgres_schema(f"ks_start_{os.getpid()}_{round_}") as url:
            cfg["state"] = url
            a = DaemonProcess(cfg, tmp_path / f"a{round_}", env={"KILLSWITCH_IDENTITY": "a"})
            b = DaemonProcess(cfg, tmp_path / f"b{round_}", env={"KILLSWITCH_IDENTITY": "b"})
            with a, b:
                starters = [
                    threading.Thread(target=d.start, kwargs={"wait_ready": False}) for d in (a, b)
                ]
                for t in starters:
                    t.start()
                for t in starters:
                    t.join(40)
                for d in (a, b):
                    assert d.proc is not None and d.proc.poll() is None, d.logs()[-3000:]
                    assert d.get_status("/healthz") == 200
                assert "UniqueViolation" not in a.logs() + b.logs()
                assert version_of(url) == [schema.head()]
                assert a.stop() == 0 and b.stop() == 0
