"""The store on SQLite and PostgreSQL: the same code, the same guarantees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from killswitch.model import Coverage, Money, ObservationKind, SpendObservation, TargetState
from killswitch.state import Store

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def obs(
    amount: str, at: datetime = NOW, kind: ObservationKind = ObservationKind.TO_DATE
) -> SpendObservation:
    start = at.replace(hour=0, minute=0)
    return SpendObservation(
        "s",
        "k1",
        kind,
        Money(Decimal(amount)),
        at,
        None if kind is ObservationKind.COUNTER else start,
        None if kind is ObservationKind.COUNTER else start + timedelta(days=1),
        {"key": "k1"},
    )


def test_observations_roundtrip_exact_decimal_and_upsert(store_url: str) -> None:
    s = Store(store_url)
    s.record_observations([obs("0.1000000001")])
    s.record_observations([obs("0.3", NOW + timedelta(minutes=1))])  # same period: replaces
    got = [o for o in s.load_observations("s", NOW.replace(hour=0)) if o.kind.value == "to_date"]
    assert len(got) == 1 and got[0].amount.amount == Decimal("0.3")
    assert got[0].observed_at.tzinfo is not None


def test_counter_baseline_before_since_is_loaded(store_url: str) -> None:
    s = Store(store_url)
    for h, v in ((40, "0.5"), (30, "1"), (20, "2"), (1, "5")):
        s.record_observations([obs(v, NOW - timedelta(hours=h), ObservationKind.COUNTER)])
    since = NOW - timedelta(hours=24)
    got = sorted(s.load_observations("s", since), key=lambda o: o.observed_at)
    # the latest sample at or before `since` is the baseline; older ones are not needed
    assert [o.amount.amount for o in got] == [Decimal(1), Decimal(2), Decimal(5)]
    s.prune_observations("s", since)
    everything = s.load_observations("s", NOW - timedelta(hours=48))
    assert sorted(o.amount.amount for o in everything) == [Decimal(1), Decimal(2), Decimal(5)]


def test_states_journal_outbox_dedup(store_url: str) -> None:
    s = Store(store_url)
    st = TargetState(
        window_start=NOW,
        warned=frozenset({"0.5"}),
        killed=True,
        killed_window_start=NOW,
        kill_mode="enforce",
    )
    s.save_states("b", {"g": st}, NOW)
    assert s.states("b") == {"g": st}
    with s.tx() as conn:
        (rid,) = s.journal_add(
            conn,
            [
                {
                    "budget": "b",
                    "grp": "g",
                    "target": "t",
                    "action": "a",
                    "op": "kill",
                    "status": "pending",
                    "params": {},
                }
            ],
            NOW,
        )
    assert [r.id for r in s.journal_rows(status=["pending"])] == [rid]
    s.journal_finish(rid, "done", NOW, prior={"disabled": False})
    (row,) = s.journal_rows()
    assert (row.status, row.prior, row.attempts) == ("done", {"disabled": False}, 1)
    assert s.enqueue("slack", "kill:b:g", {"x": 1}, NOW) is True
    assert s.enqueue("slack", "kill:b:g", {"x": 1}, NOW) is False  # one alert per event
    (item,) = s.outbox_due(NOW)
    s.outbox_retry(item.id, NOW + timedelta(seconds=30), "down")
    assert s.outbox_due(NOW) == []
    assert len(s.outbox_due(NOW + timedelta(seconds=31))) == 1


def test_coverage_spans_merge(store_url: str) -> None:
    s = Store(store_url)
    s.record_source("p", "s", NOW, None, NOW, [Coverage("s", NOW - timedelta(hours=2), NOW)])
    s.record_source(
        "p",
        "s",
        NOW,
        None,
        NOW,
        [Coverage("s", NOW - timedelta(hours=1), NOW + timedelta(hours=1))],
    )
    (c,) = s.coverage("s")
    assert (c.start, c.end) == (NOW - timedelta(hours=2), NOW + timedelta(hours=1))


def test_lease_exactly_one_holder(store_url: str) -> None:
    a, b = Store(store_url), Store(store_url)
    ttl = timedelta(seconds=30)
    assert a.acquire_lease("L", "a", NOW, ttl)
    assert not b.acquire_lease("L", "b", NOW + timedelta(seconds=10), ttl)
    assert a.acquire_lease("L", "a", NOW + timedelta(seconds=20), ttl)  # renew
    assert not b.acquire_lease("L", "b", NOW + timedelta(seconds=40), ttl)
    assert b.acquire_lease("L", "b", NOW + timedelta(seconds=51), ttl)  # a's lease expired
    assert not a.acquire_lease("L", "a", NOW + timedelta(seconds=52), ttl)
