"""The ``ingest_events`` table: storing a batch in one transaction, and reading it as buckets.

Each event counts in the minute it happened (``bucket_start``); the source sums a minute's events
per target into one ``bucket`` observation, which a window adds up like any bucket source's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from killswitch.providers.ingest.batch import EventRow
from killswitch.state import Store
from killswitch.state import tables as t

CHUNK = 500  # rows per statement: far below SQLite's bound-parameter limit

E = t.ingest_events


@dataclass(frozen=True, slots=True)
class Stored:
    accepted: int
    duplicates: int


def store_batch(store: Store, provider: str, rows: Sequence[EventRow], now: datetime) -> Stored:
    """Insert the rows in ONE transaction, skipping ids already stored; committed on return.

    The caller answers 2xx only after this returns, so an acknowledged event survives a crash;
    if it raises, the transaction rolled back and nothing of the batch is stored.
    """
    insert = postgresql.insert if store.dialect == "postgresql" else sqlite.insert
    values = [
        {
            "provider": provider,
            "event_id": r.event_id,
            "target": r.target,
            "dims": dict(r.dims),
            "time": r.time,
            "bucket_start": r.bucket_start,
            "amount": str(r.amount),
            "currency": r.currency,
            "received_at": now,
        }
        for r in rows
    ]
    accepted = 0
    with store.tx() as conn:
        for i in range(0, len(values), CHUNK):
            stmt = (
                insert(E)
                .values(values[i : i + CHUNK])
                .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                .returning(E.c.id)
            )
            accepted += len(conn.execute(stmt).all())
    return Stored(accepted, len(rows) - accepted)


@dataclass(frozen=True, slots=True)
class BucketSum:
    target: str
    dims: dict[str, str]
    start: datetime
    amount: Decimal
    currency: str


Key = tuple[str, datetime]  # (target, bucket start)


def touched(store: Store, provider: str, received_since: datetime, since: datetime) -> set[Key]:
    """The buckets (from ``since`` on) that events received since ``received_since`` fall in."""
    q = (
        select(E.c.target, E.c.bucket_start)
        .where(E.c.provider == provider, E.c.received_at >= received_since)
        .where(E.c.bucket_start >= since)
        .distinct()
    )
    with store.engine.connect() as conn:
        return {(r.target, r.bucket_start) for r in conn.execute(q)}


def buckets(
    store: Store, provider: str, since: datetime, only: Iterable[Key] | None = None
) -> list[BucketSum]:
    """Per (target, minute) sums of the events from ``since`` on; ``only`` narrows to some."""
    base = select(E.c.target, E.c.dims, E.c.bucket_start, E.c.amount, E.c.currency).where(
        E.c.provider == provider, E.c.bucket_start >= since
    )
    sums: dict[Key, BucketSum] = {}
    with store.engine.connect() as conn:
        if only is None:
            results = [conn.execute(base)]
        else:
            keys = set(only)
            starts = sorted({s for _, s in keys})
            results = [
                conn.execute(base.where(E.c.bucket_start.in_(starts[i : i + CHUNK])))
                for i in range(0, len(starts), CHUNK)
            ]
        for result in results:
            for r in result:
                key = (r.target, r.bucket_start)
                if only is not None and key not in keys:
                    continue
                acc = sums.get(key)
                amount = Decimal(r.amount)
                if acc is None:
                    sums[key] = BucketSum(
                        r.target, dict(r.dims), r.bucket_start, amount, r.currency
                    )
                else:
                    sums[key] = BucketSum(
                        acc.target, acc.dims, acc.start, acc.amount + amount, acc.currency
                    )
    return list(sums.values())


def prune(store: Store, provider: str, before: datetime) -> int:
    """Delete the events of buckets that start before ``before`` (no window reads them)."""
    with store.tx() as conn:
        q = delete(E).where(E.c.provider == provider, E.c.bucket_start < before)
        return conn.execute(q).rowcount or 0


def count(store: Store, provider: str) -> int:
    """How many events are stored (for doctor and tests)."""
    with store.engine.connect() as conn:
        q = select(func.count()).select_from(E).where(E.c.provider == provider)
        return int(conn.execute(q).scalar_one())
