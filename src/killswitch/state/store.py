"""Persistent state on SQLAlchemy: SQLite by default, PostgreSQL for several replicas.

Everything the daemon must remember across a crash lives here: observations (so windows survive
restarts), per-group budget state (what was warned and killed), the action journal (intent before
the provider call, outcome after), the notification outbox, source health and the HA lease.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    and_,
    cast,
    create_engine,
    delete,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from killswitch.core.retention import Horizon
from killswitch.model import (
    OVERRIDE_RESTORED,
    Coverage,
    GroupStatus,
    ManagedKey,
    Money,
    ObservationKind,
    Override,
    SpendObservation,
    TargetState,
)
from killswitch.state import lease as lease_sql
from killswitch.state import schema
from killswitch.state import tables as t
from killswitch.state.lease import Claimant, Fence, Grant, Holder, ShardedFence, scoped
from killswitch.state.schema import MigrateMode


class DuplicateKill(RuntimeError):
    """The database refused a second open kill of the same (budget, group, action, target)."""


@dataclass(frozen=True)
class DbTimeouts:
    """Bounds on every statement, so a stuck database or a frozen peer never stalls us for long.

    On PostgreSQL they are session settings (``lock_timeout``, ``statement_timeout``,
    ``idle_in_transaction_session_timeout``: the server ends the session of a replica frozen
    inside a transaction, which releases its row locks); on SQLite the busy timeout.
    """

    lock_s: float = 5.0
    statement_s: float = 30.0
    idle_in_tx_s: float = 15.0
    connect_s: float = 5.0

    @classmethod
    def for_lease(cls, lease_seconds: float) -> DbTimeouts:
        """Main-store timeouts for a lease of ``lease_seconds``: a lock wait never outlives it."""
        return cls(
            lock_s=max(0.5, min(5.0, lease_seconds / 3)),
            statement_s=30.0,
            idle_in_tx_s=max(1.0, lease_seconds / 2),
            connect_s=max(1.0, min(5.0, lease_seconds / 3)),
        )


def make_engine(
    url: str,
    timeouts: DbTimeouts | None = None,
    *,
    application_name: str = "killswitch",
    pool_size: int = 5,
) -> Engine:
    """The engine for a state URL: SQLite's directory made and pragmas set, PostgreSQL pooled;
    every connection carries ``timeouts``."""
    timeouts = timeouts or DbTimeouts()
    parsed = make_url(url)
    dialect = parsed.get_backend_name()
    if dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"future": True}
    if dialect == "postgresql":
        kwargs.update(pool_pre_ping=True, pool_size=pool_size)
        if "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": max(1, round(timeouts.connect_s))}
    elif parsed.database not in (None, "", ":memory:"):
        kwargs["connect_args"] = {"timeout": timeouts.lock_s}
    engine = create_engine(url, **kwargs)
    if dialect == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas(timeouts))
    elif dialect == "postgresql":
        event.listen(engine, "connect", _pg_session(timeouts, application_name))
    return engine


@dataclass(frozen=True)
class JournalRow:
    id: int
    budget: str
    group: str
    target: str
    action: str
    op: str
    status: str
    params: dict[str, Any]
    prior: dict[str, Any] | None
    error: str | None
    attempts: int
    window_start: datetime | None
    kill_id: int | None
    manual: bool
    actor: str
    reason: str
    created_at: datetime
    updated_at: datetime
    spend: str | None = None
    provider: str = ""  # the provider acted through ("" in rows from before it was recorded)

    def to_json(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        for k in ("window_start", "created_at", "updated_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass(frozen=True)
class OutboxItem:
    id: int
    notifier: str
    dedup_key: str
    event: dict[str, Any]
    attempts: int


def _span(period_key: str) -> tuple[datetime, datetime]:
    a, _, b = period_key.partition("|")
    return datetime.fromisoformat(a), datetime.fromisoformat(b)


def _period_key(o: SpendObservation) -> str:
    if o.kind is ObservationKind.COUNTER:
        return o.observed_at.isoformat()
    assert o.start is not None and o.end is not None
    return f"{o.start.isoformat()}|{o.end.isoformat()}"


class Store:
    """The daemon's state database. Opening it brings the schema to this code's revision.

    ``migrate="auto"`` upgrades under a database lock; ``"manual"`` refuses an older schema with
    the command to run (see :mod:`killswitch.state.schema`). Either way a newer schema is refused.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: MigrateMode = "auto",
        config_path: str | None = None,
        timeouts: DbTimeouts | None = None,
        application_name: str = "killswitch",
    ) -> None:
        self.url = url
        self.timeouts = timeouts or DbTimeouts()
        self.engine: Engine = make_engine(url, self.timeouts, application_name=application_name)
        self.dialect = self.engine.dialect.name
        try:
            schema.ensure(self.engine, migrate, config_path)
        except BaseException:
            self.engine.dispose()
            raise
        # what we last wrote, per source: (target, kind, period) -> (value, period end); counters
        # are keyed by target alone. Pruned with the observations, so closed periods are forgotten.
        self._written: dict[str, dict[tuple[str, str, str], tuple[str, datetime | None]]] = {}
        # Set by the daemon: every intent is journaled only while this replica holds the lease.
        self.fence: Fence | None = None
        # Write only what changed. States: what the database holds as far as we last read or
        # committed it, per budget and group (a write inside a caller's transaction forgets the
        # entry, since that transaction may roll back). Statuses: what this store last wrote;
        # trusted only while the budget's heartbeat row still names this store as its writer.
        self._states_seen: dict[str, dict[str, TargetState]] = {}
        self._state_texts: dict[str, dict[str, TargetState]] = {}  # see _decode_states
        self._status_written: dict[str, dict[str, dict[str, Any]]] = {}
        self._writer = uuid.uuid4().hex

    def redacted_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # readiness reports it; the reason is logged by whoever needs it
            return False

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: Any) -> Any:
        return t.insert(self.dialect, table)

    def _group_upsert(self, table: Any, payload: str) -> Any:
        """An insert of (budget, grp) rows that replaces ``payload`` and ``updated_at`` of a row
        already there (target states and budget statuses are one row per group)."""
        stmt = self._insert(table)
        return stmt.on_conflict_do_update(
            index_elements=["budget", "grp"],
            set_={payload: stmt.excluded[payload], "updated_at": stmt.excluded.updated_at},
        )

    # ---- observations -------------------------------------------------------------------
    def record_observations(self, obs: Sequence[SpendObservation]) -> int:
        """Upsert; skip rows whose amount did not change since we last wrote them."""
        rows = []
        for o in obs:
            pkey = _period_key(o)
            val = f"{o.amount.amount}|{o.amount.currency}|{o.complete}"
            written = self._written.setdefault(o.source, {})
            wkey = (o.target, o.kind.value, "" if o.kind is ObservationKind.COUNTER else pkey)
            prev = written.get(wkey)
            if prev is not None and prev[0] == val:
                continue  # unchanged: for a counter, the older sample still tells the truth
            written[wkey] = (val, o.end)
            rows.append(
                {
                    "source": o.source,
                    "target": o.target,
                    "kind": o.kind.value,
                    "period_key": pkey,
                    "start": o.start,
                    "end": o.end,
                    "observed_at": o.observed_at,
                    "amount": str(o.amount.amount),
                    "currency": o.amount.currency,
                    "dims": dict(o.dims),
                    "complete": o.complete,
                    "note": o.note,
                }
            )
        if not rows:
            return 0
        stmt = self._insert(t.observations)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "target", "kind", "period_key"],
            set_={
                c: getattr(stmt.excluded, c)
                for c in ("observed_at", "amount", "currency", "dims", "complete", "note")
            },
            # a redelivered older reading must not overwrite a newer one
            where=t.observations.c.observed_at <= stmt.excluded.observed_at,
        )
        with self.tx() as conn:
            for i in range(0, len(rows), 2000):
                conn.execute(stmt, rows[i : i + 2000])
        return len(rows)

    def load_observations(self, source: str, since: datetime) -> list[SpendObservation]:
        o = t.observations
        q = select(o).where(
            o.c.source == source,
            or_(
                and_(o.c.kind != "counter", o.c.end > since),
                and_(o.c.kind == "counter", o.c.observed_at > since),
            ),
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(q).mappings())
            baseline: dict[str, Any] = {}
            for r in conn.execute(
                select(o)
                .where(o.c.source == source, o.c.kind == "counter", o.c.observed_at <= since)
                .order_by(o.c.observed_at)
            ).mappings():
                baseline[r["target"]] = r  # keeps the latest per target
        return [_obs(r) for r in [*rows, *baseline.values()]]

    def prune_observations(self, source: str, keep: Horizon | datetime) -> int:
        """Delete what the horizon no longer needs (a time: everything before it, keeping each
        target's counter baseline there). One statement per rule, whatever the key count."""
        h = keep if isinstance(keep, Horizon) else Horizon.before(keep)
        o = t.observations
        deleted = 0
        with self.tx() as conn:
            periods = delete(o).where(o.c.source == source, o.c.kind != "counter")
            deleted += conn.execute(periods.where(o.c.end < h.periods_from)).rowcount or 0
            if h.spans is not None:
                read = [and_(o.c.start == a, o.c.end == b) for a, b in sorted(h.spans)]
                stale = delete(o).where(o.c.source == source, o.c.kind == "to_date")
                if read:
                    stale = stale.where(~or_(*read))
                deleted += conn.execute(stale).rowcount or 0
            deleted += conn.execute(self._counter_prune(source, h)).rowcount or 0
        self._forget_written(source, h)
        return deleted

    def _counter_prune(self, source: str, h: Horizon) -> Any:
        """Counter samples at or before ``history_from`` that are no anchor's latest sample."""
        o = t.observations
        later = t.observations.alias("later")

        def latest_at(point: datetime) -> Any:
            newer = (
                select(later.c.id)
                .where(
                    later.c.source == o.c.source,
                    later.c.target == o.c.target,
                    later.c.kind == "counter",
                    later.c.observed_at > o.c.observed_at,
                    later.c.observed_at <= point,
                )
                .exists()
            )
            return and_(o.c.observed_at <= point, ~newer)

        points = sorted({*h.anchors, h.history_from})
        return delete(o).where(
            o.c.source == source,
            o.c.kind == "counter",
            o.c.observed_at <= h.history_from,
            ~or_(*[latest_at(p) for p in points]),
        )

    def _forget_written(self, source: str, h: Horizon) -> None:
        written = self._written.get(source, {})
        for key in [
            k
            for k, (_, end) in written.items()
            if k[1] != "counter"
            and (
                end is None
                or end < h.periods_from
                or (k[1] == "to_date" and h.spans is not None and _span(k[2]) not in h.spans)
            )
        ]:
            del written[key]

    def prune_outbox(self, before: datetime) -> int:
        """Sent notifications older than ``before`` (and dead ones given up before it).

        The outbox is also the deduplication memory: an event still recurring after this age is
        announced again, which is what an operator wants of a condition that long.
        """
        ob = t.outbox
        with self.tx() as conn:
            res = conn.execute(
                delete(ob).where(
                    or_(
                        and_(ob.c.status == "sent", ob.c.sent_at < before),
                        and_(ob.c.status == "dead", ob.c.next_attempt_at < before),
                    )
                )
            )
            return res.rowcount or 0

    def prune_journal(self, before: datetime) -> int:
        """Closed history older than ``before``: a kill goes only together with its restore.

        A kill that was never undone stays, however old: it is what ``restore`` must undo. So do
        pending and failed rows (resume and retry read them) and anything touched since.
        """
        j = t.journal
        r = t.journal.alias("r")
        undone = (
            select(r.c.id)
            .where(r.c.kill_id == j.c.id, r.c.op == "restore", r.c.status.in_(["done", "dry_run"]))
            .exists()
        )
        busy = (
            select(r.c.id)
            .where(r.c.kill_id == j.c.id, or_(r.c.updated_at >= before, r.c.status == "pending"))
            .exists()
        )
        closed = select(j.c.id).where(
            j.c.op == "kill",
            j.c.updated_at < before,
            or_(j.c.status == "abandoned", and_(j.c.status.in_(["done", "dry_run"]), undone)),
            ~busy,
        )
        with self.tx() as conn:
            ids = list(conn.execute(closed).scalars())
            # override set/clear rows are history only: they go with the same age
            notes = delete(j).where(j.c.op == "override", j.c.updated_at < before)
            gone = conn.execute(notes).rowcount or 0
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                gone += conn.execute(delete(j).where(j.c.kill_id.in_(chunk))).rowcount or 0
                gone += conn.execute(delete(j).where(j.c.id.in_(chunk))).rowcount or 0
            return gone

    # ---- source health ------------------------------------------------------------------
    def record_source(
        self,
        provider: str,
        source: str,
        now: datetime,
        error: str | None,
        data_as_of: datetime | None,
        coverage: Sequence[Coverage],
    ) -> None:
        s = t.source_status
        with self.tx() as conn:
            row = (
                conn.execute(select(s).where(s.c.provider == provider, s.c.source == source))
                .mappings()
                .first()
            )
            spans = list(row["coverage"]) if row else []
            spans += [[c.start.isoformat(), c.end.isoformat()] for c in coverage]
            spans = _merge_spans(spans)
            values: dict[str, Any] = {"last_attempt": now, "last_error": error, "coverage": spans}
            if error is None:
                values["last_success"] = now
                values["data_as_of"] = data_as_of or now
            if row is None:
                conn.execute(self._insert(s).values(provider=provider, source=source, **values))
            else:
                conn.execute(
                    update(s).where(s.c.provider == provider, s.c.source == source).values(**values)
                )

    def source_statuses(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(t.source_status)).mappings()]

    def coverage(self, source: str) -> list[Coverage]:
        s = t.source_status
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.c.coverage).where(s.c.source == source)).scalars()
            return [
                Coverage(source, datetime.fromisoformat(a), datetime.fromisoformat(b))
                for spans in rows
                for a, b in spans
            ]

    # ---- budget state -------------------------------------------------------------------
    def states(self, budget: str, conn: Connection | None = None) -> dict[str, TargetState]:
        s = t.target_states
        q = select(s.c.grp, cast(s.c.state, Text)).where(s.c.budget == budget)
        if conn is not None:
            return self._decode_states(budget, conn.execute(q))
        with self.engine.connect() as c:
            out = self._decode_states(budget, c.execute(q))
        self._states_seen[budget] = dict(out)
        return out

    def _decode_states(
        self, budget: str, rows: Iterable[tuple[str, str]]
    ) -> dict[str, TargetState]:
        """Each distinct stored text is parsed once: the state of a group that did not change
        since the last read (nearly all of 10k, every cycle) is a dict lookup, not a JSON parse.
        The cache holds the texts of this read only, so it stays the size of the budget."""
        known = self._state_texts.get(budget, {})
        texts: dict[str, TargetState] = {}
        out = {}
        for g, raw in rows:
            st = known.get(raw) or texts.get(raw)
            if st is None:
                st = TargetState.from_json(json.loads(raw))
            texts[raw] = out[g] = st
        self._state_texts[budget] = texts
        return out

    def state(self, budget: str, group: str, conn: Connection | None = None) -> TargetState | None:
        """One group's state: a kill marks its own group without reading the budget's 10k."""
        s = t.target_states
        q = select(s.c.state).where(s.c.budget == budget, s.c.grp == group)
        if conn is not None:
            v = conn.execute(q).scalar()
        else:
            with self.engine.connect() as c:
                v = c.execute(q).scalar()
        return TargetState.from_json(v) if v is not None else None

    def save_states(
        self,
        budget: str,
        states: Mapping[str, TargetState],
        now: datetime,
        conn: Connection | None = None,
    ) -> int:
        """Upsert the groups whose state differs from what the database holds; returns how many.

        An unchanged cycle over 10k groups writes nothing (``updated_at`` of a state row is when
        it last changed; nothing reads it as a heartbeat).
        """
        seen = self._states_seen.setdefault(budget, {})
        if conn is not None:
            for g in states:
                seen.pop(g, None)
        else:
            states = {g: st for g, st in states.items() if seen.get(g) != st}
        if not states:
            return 0
        stmt = self._group_upsert(t.target_states, "state")
        rows = [
            {"budget": budget, "grp": g, "state": st.to_json(), "updated_at": now}
            for g, st in states.items()
        ]
        if conn is not None:
            conn.execute(stmt, rows)
            return len(rows)
        with self.tx() as c:
            c.execute(stmt, rows)
        seen.update(states)
        return len(rows)

    def save_statuses(self, statuses: Iterable[GroupStatus], now: datetime) -> int:
        """Write the status rows that changed, plus one heartbeat row per budget (its
        ``updated_at`` is how ``status`` tells a live daemon from a dead one); returns how many
        status rows were written."""
        by_budget: dict[str, dict[str, dict[str, Any]]] = {}
        for s in statuses:
            by_budget.setdefault(s.budget, {})[s.group] = status_json(s)
        if not by_budget:
            return 0
        stmt = self._group_upsert(t.budget_status, "status")
        beat = {"heartbeat": True, "writer": self._writer}
        with self.tx() as conn:
            ours = self._heartbeats_of(conn, list(by_budget))
            rows = []
            for budget, fresh in by_budget.items():
                known = self._status_written.get(budget, {}) if budget in ours else {}
                rows += [
                    {"budget": budget, "grp": g, "status": js, "updated_at": now}
                    for g, js in fresh.items()
                    if known.get(g) != js
                ]
            beats = [
                {"budget": b, "grp": HEARTBEAT, "status": beat, "updated_at": now}
                for b in by_budget
            ]
            for i in range(0, len(rows), 2000):
                conn.execute(stmt, rows[i : i + 2000])
            conn.execute(stmt, beats)
        for budget, fresh in by_budget.items():
            known = self._status_written.get(budget, {}) if budget in ours else {}
            self._status_written[budget] = {**known, **fresh}
        return len(rows)

    def _heartbeats_of(self, conn: Connection, budgets: list[str]) -> set[str]:
        """The budgets whose status rows this store wrote last (no other writer since)."""
        b = t.budget_status
        q = select(b.c.budget, b.c.status).where(b.c.grp == HEARTBEAT, b.c.budget.in_(budgets))
        return {name for name, st in conn.execute(q) if st.get("writer") == self._writer}

    def statuses(self) -> list[dict[str, Any]]:
        """Published status rows; each ``updated_at`` is the later of its last change and its
        budget's heartbeat (the last cycle that published it)."""
        with self.engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(t.budget_status).order_by(
                        t.budget_status.c.budget, t.budget_status.c.grp
                    )
                ).mappings()
            )
        beats = {r["budget"]: r["updated_at"] for r in rows if r["grp"] == HEARTBEAT}
        return [
            {
                **r["status"],
                "updated_at": max(
                    r["updated_at"], beats.get(r["budget"], r["updated_at"])
                ).isoformat(),
            }
            for r in rows
            if r["grp"] != HEARTBEAT
        ]

    def forget_budgets(self, keep: Iterable[str]) -> None:
        """A budget removed from config: drop its status rows (the journal stays, as history)."""
        names = list(keep)
        with self.tx() as conn:
            conn.execute(delete(t.budget_status).where(t.budget_status.c.budget.not_in(names)))

    # ---- journal ------------------------------------------------------------------------
    def journal_add(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime
    ) -> list[int]:
        """Journal intents in the caller's transaction, fenced and deduplicated by the database.

        With a fence set (the daemon), the lease is verified in this same transaction first:
        raises :class:`~killswitch.state.lease.LeaseLost` and nothing is written when this replica
        no longer holds it. Each ``pending`` kill also claims its ``open_kills`` row, so a second
        open kill of the same (budget, group, action, target) raises :class:`DuplicateKill`.
        """
        if self.fence is not None:
            # each budget's intent under its shard's lease (the one lease without ha.shard)
            for budget in sorted({str(r["budget"]) for r in rows if r.get("status") == "pending"}):
                scoped(self.fence, budget).verify_in(conn)
        ids = []
        for r in rows:
            res = conn.execute(
                t.journal.insert().values(attempts=0, created_at=now, updated_at=now, **r)
            )
            assert res.inserted_primary_key is not None
            row_id = int(res.inserted_primary_key[0])
            ids.append(row_id)
            if r.get("op") == "kill" and r.get("status") == "pending":
                self._claim_kill(conn, r, row_id, now)
        return ids

    def _claim_kill(
        self, conn: Connection, r: Mapping[str, Any], row_id: int, now: datetime
    ) -> None:
        ok = t.open_kills.c
        key = {"budget": r["budget"], "grp": r["grp"], "action": r["action"], "target": r["target"]}
        what = f"{r['action']} on {r['target']} for {r['budget']}/{r['grp']}"
        held = conn.execute(
            select(ok.journal_id, ok.actor).where(*(ok[k] == v for k, v in key.items()))
        ).first()
        if held is not None:
            raise DuplicateKill(
                f"{what} is already open (journal #{held[0]} by {held[1] or 'unknown'}); "
                "not journaling a second kill"
            )
        try:
            conn.execute(
                t.open_kills.insert().values(
                    **key,
                    journal_id=row_id,
                    window_start=r.get("window_start"),
                    actor=r.get("actor") or "",
                    created_at=now,
                )
            )
        except IntegrityError:  # a concurrent writer claimed it between our read and insert
            raise DuplicateKill(f"{what} was just claimed by another writer") from None

    def _release_kill(self, conn: Connection, kill_id: int) -> None:
        conn.execute(delete(t.open_kills).where(t.open_kills.c.journal_id == kill_id))

    def journal_finish(
        self,
        row_id: int,
        status: str,
        now: datetime,
        *,
        prior: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "updated_at": now,
            "error": error,
            "attempts": t.journal.c.attempts + 1,
        }
        if prior is not None:
            values["prior"] = dict(prior)
        j = t.journal
        with self.tx() as conn:
            conn.execute(update(j).where(j.c.id == row_id).values(**values))
            # A kill stops being open when it is abandoned or a restore of it is done.
            if status == "abandoned":
                self._release_kill(conn, row_id)
            elif status == "done":
                kill_id = conn.execute(
                    select(j.c.kill_id).where(j.c.id == row_id, j.c.op == "restore")
                ).scalar()
                if kill_id is not None:
                    self._release_kill(conn, int(kill_id))

    def journal_set_pending(self, row_id: int, now: datetime) -> None:
        """A replay starts: fenced like a new intent (only the lease holder replays)."""
        with self.tx() as conn:
            if isinstance(self.fence, ShardedFence):
                budget = conn.execute(
                    select(t.journal.c.budget).where(t.journal.c.id == row_id)
                ).scalar()
                scoped(self.fence, str(budget or "")).verify_in(conn)
            elif self.fence is not None:
                self.fence.verify_in(conn)
            conn.execute(
                update(t.journal)
                .where(t.journal.c.id == row_id)
                .values(status="pending", updated_at=now)
            )

    def journal_rows(
        self,
        *,
        budget: str | None = None,
        group: str | None = None,
        status: Sequence[str] | None = None,
        op: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[JournalRow]:
        j = t.journal
        q = select(j)
        if budget is not None:
            q = q.where(j.c.budget == budget)
        if group is not None:
            q = q.where(j.c.grp == group)
        if status is not None:
            q = q.where(j.c.status.in_(list(status)))
        if op is not None:
            q = q.where(j.c.op == op)
        q = q.order_by(j.c.id.desc() if newest_first else j.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_journal(r) for r in conn.execute(q).mappings()]

    # ---- overrides ----------------------------------------------------------------------
    def override_put(self, conn: Connection, o: Override, journal_id: int) -> None:
        """Record (or replace) the override of ``o``'s group, in the caller's transaction."""
        if o.until is None:
            raise ValueError("a stored override needs an end (until)")
        row = {
            "budget": o.budget,
            "grp": o.group,
            "until": o.until,
            "actor": o.actor,
            "reason": o.reason,
            "journal_id": journal_id,
            "created_at": o.created_at or o.until,
        }
        stmt = self._insert(t.overrides).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["budget", "grp"],
            set_={k: getattr(stmt.excluded, k) for k in row if k not in ("budget", "grp")},
        )
        conn.execute(stmt)

    def override_delete(
        self, conn: Connection, budget: str, group: str | None = None
    ) -> list[Override]:
        """Delete the budget's overrides (of one group, or all); returns what was deleted."""
        ov = t.overrides
        cond = ov.c.budget == budget
        if group is not None:
            cond = and_(cond, ov.c.grp == group)
        gone = [_override(r) for r in conn.execute(select(ov).where(cond)).mappings()]
        conn.execute(delete(ov).where(cond))
        return gone

    def overrides(self, budget: str | None = None) -> list[Override]:
        """Stored overrides (expired ones too until pruned: callers ask ``active(now)``)."""
        ov = t.overrides
        q = select(ov).order_by(ov.c.budget, ov.c.grp)
        if budget is not None:
            q = q.where(ov.c.budget == budget)
        with self.engine.connect() as conn:
            return [_override(r) for r in conn.execute(q).mappings()]

    def prune_overrides(self, now: datetime) -> int:
        """Forget overrides that have ended: the table holds only what is in force."""
        with self.tx() as conn:
            res = conn.execute(delete(t.overrides).where(t.overrides.c.until <= now))
            return res.rowcount or 0

    # ---- outbox -------------------------------------------------------------------------
    def enqueue(
        self, notifier: str, dedup_key: str, event_: Mapping[str, Any], now: datetime
    ) -> bool:
        """Queue once per (notifier, dedup_key). Returns False when it was already queued."""
        stmt = (
            self._insert(t.outbox)
            .values(
                notifier=notifier,
                dedup_key=dedup_key,
                event=json.loads(json.dumps(event_)),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["notifier", "dedup_key"])
            .returning(t.outbox.c.id)
        )
        # RETURNING, not rowcount: drivers report -1 for ON CONFLICT DO NOTHING.
        with self.tx() as conn:
            return conn.execute(stmt).first() is not None

    def outbox_due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        o = t.outbox
        q = (
            select(o)
            .where(o.c.status == "pending", o.c.next_attempt_at <= now)
            .order_by(o.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                OutboxItem(r["id"], r["notifier"], r["dedup_key"], r["event"], r["attempts"])
                for r in conn.execute(q).mappings()
            ]

    def outbox_done(self, item_id: int, now: datetime) -> None:
        with self.tx() as conn:
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == item_id)
                .values(
                    status="sent", sent_at=now, attempts=t.outbox.c.attempts + 1, last_error=None
                )
            )

    def outbox_retry(
        self, item_id: int, next_at: datetime, error: str, *, dead: bool = False
    ) -> None:
        with self.tx() as conn:
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id == item_id)
                .values(
                    status="dead" if dead else "pending",
                    next_attempt_at=next_at,
                    attempts=t.outbox.c.attempts + 1,
                    last_error=error[:500],
                )
            )

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            out: dict[str, int] = {}
            for (status,) in conn.execute(select(t.outbox.c.status)):
                out[status] = out.get(status, 0) + 1
            return out

    # ---- HA lease (see killswitch.state.lease) -------------------------------------------
    def lease_acquire(self, name: str, me: Claimant, ttl: timedelta) -> Grant | Holder:
        with self.tx() as conn:
            return lease_sql.acquire(conn, name, me, ttl)

    def lease_release(self, name: str, token: str) -> None:
        with self.tx() as conn:
            lease_sql.release(conn, name, token)

    def lease_holder(self, name: str) -> Holder | None:
        with self.engine.connect() as conn:
            return lease_sql.read(conn, name)

    # ---- managed keys (``killswitch keys``) -----------------------------------------------
    def add_managed_key(self, key: ManagedKey, now: datetime) -> None:
        """Remember a key the CLI created (its secret is not part of ManagedKey)."""
        with self.tx() as conn:
            conn.execute(
                t.managed_keys.insert().values(
                    name=key.name,
                    provider=key.provider,
                    key_id=key.id,
                    ref=dict(key.ref),
                    limit_amount=str(key.limit.amount),
                    currency=key.limit.currency,
                    window=key.window,
                    native_cap=key.native_cap,
                    expires_at=key.expires_at,
                    created_at=now,
                )
            )

    def managed_keys(self) -> list[ManagedKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.managed_keys).order_by(t.managed_keys.c.name)).mappings()
            return [
                ManagedKey(
                    name=r["name"],
                    provider=r["provider"],
                    id=r["key_id"],
                    limit=Money(Decimal(r["limit_amount"]), r["currency"]),
                    window=r["window"],
                    native_cap=bool(r["native_cap"]),
                    ref=dict(r["ref"]),
                    expires_at=r["expires_at"],
                    created_at=r["created_at"],
                )
                for r in rows
            ]

    def remove_managed_key(self, name: str, budget: str) -> bool:
        """Forget a revoked key and the status rows of the budget that enforced it."""
        with self.tx() as conn:
            gone = conn.execute(delete(t.managed_keys).where(t.managed_keys.c.name == name))
            conn.execute(delete(t.budget_status).where(t.budget_status.c.budget == budget))
            return bool(gone.rowcount)

    def open_kill_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(t.open_kills)).mappings()]


# the budget_status row that carries a budget's heartbeat, not a group (no source names a
# target like this)
HEARTBEAT = "(heartbeat)"


def status_fields(s: GroupStatus) -> dict[str, Any]:
    """What every status row shows first (the stored row and ``plan``'s view): which group, its
    state, spend against the limit. Amounts are strings so Decimal survives JSON."""
    return {
        "budget": s.budget,
        "group": s.group,
        "state": s.state.value,
        "spend": str(s.spend.amount) if s.spend else None,
        "limit": str(s.limit.amount),
        "currency": s.limit.currency,
    }


def status_json(s: GroupStatus) -> dict[str, Any]:
    ratio = s.ratio
    return {
        **status_fields(s),
        "ratio": str(ratio.quantize(Decimal("0.0001"))) if ratio is not None else None,
        "window": s.window.spec,
        "window_start": s.window.start.isoformat(),
        "window_end": s.window.end.isoformat(),
        "incomplete": s.incomplete,
        "stale": s.stale,
        "detail": s.detail,
        **({"sources": [p.to_json() for p in s.sources]} if s.sources else {}),
    }


def _obs(r: Mapping[str, Any]) -> SpendObservation:
    return SpendObservation(
        source=r["source"],
        target=r["target"],
        kind=ObservationKind(r["kind"]),
        amount=Money(Decimal(r["amount"]), r["currency"]),
        observed_at=r["observed_at"],
        start=r["start"],
        end=r["end"],
        dims=dict(r["dims"]),
        complete=bool(r["complete"]),
        note=r["note"] or "",
    )


def _override(r: Any) -> Override:
    return Override(
        budget=r["budget"],
        group=r["grp"],
        kind=OVERRIDE_RESTORED,
        until=r["until"],
        actor=r["actor"] or "",
        reason=r["reason"] or "",
        created_at=r["created_at"],
    )


def _journal(r: Any) -> JournalRow:
    return JournalRow(
        id=r["id"],
        budget=r["budget"],
        group=r["grp"],
        target=r["target"],
        action=r["action"],
        op=r["op"],
        status=r["status"],
        params=dict(r["params"] or {}),
        prior=dict(r["prior"]) if r["prior"] is not None else None,
        error=r["error"],
        attempts=r["attempts"],
        window_start=r["window_start"],
        kill_id=r["kill_id"],
        manual=bool(r["manual"]),
        actor=r["actor"] or "",
        reason=r["reason"] or "",
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        spend=r["spend"],
        provider=r["provider"] or "",
    )


def _merge_spans(spans: list[list[str]]) -> list[list[str]]:
    parsed = sorted((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in spans)
    merged: list[list[datetime]] = []
    for a, b in parsed:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [[a.isoformat(), b.isoformat()] for a, b in merged[-50:]]


def _sqlite_pragmas(timeouts: DbTimeouts) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(timeouts.lock_s * 1000)}")
        # Switching to WAL needs the file to itself and does not wait on the busy timeout: when
        # several processes open a new file at once, the loser retries until the winner switched
        # it.
        for attempt in range(50):
            try:
                if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _pg_session(timeouts: DbTimeouts, application_name: str) -> Any:
    """Session settings on each new connection (SET, not the URL's ``options``, which tests and
    operators already use for ``search_path``)."""
    settings = {
        "lock_timeout": f"{int(timeouts.lock_s * 1000)}ms",
        "statement_timeout": f"{int(timeouts.statement_s * 1000)}ms",
        "idle_in_transaction_session_timeout": f"{int(timeouts.idle_in_tx_s * 1000)}ms",
        "application_name": application_name[:63],
    }

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            for k, v in settings.items():
                cur.execute(f"SELECT set_config('{k}', %s, false)", (v,))
        dbapi_conn.commit()

    return on_connect
