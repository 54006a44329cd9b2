"""The store on SQLite and PostgreSQL: the same code, the same guarantees."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from killswitch.model import Coverage, Money, ObservationKind, SpendObservation, TargetState
from killswitch.state import Store
from killswitch.state.lease import Claimant, Grant, Holder

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
    """The lease decides on database time: renewals keep it, expiry lets another take it."""
    a, b = Store(store_url), Store(store_url)
    me_a, me_b = Claimant("a", "token-a", host="ha"), Claimant("b", "token-b", host="hb")
    ttl = timedelta(seconds=0.6)
    assert isinstance(a.lease_acquire("L", me_a, ttl), Grant)
    held = b.lease_acquire("L", me_b, ttl)
    assert isinstance(held, Holder) and held.identity == "a"
    assert isinstance(a.lease_acquire("L", me_a, ttl), Grant)  # renew
    assert isinstance(b.lease_acquire("L", me_b, ttl), Holder)
    time.sleep(0.7)  # a's lease expired
    assert isinstance(b.lease_acquire("L", me_b, ttl), Grant)
    again = a.lease_acquire("L", me_a, ttl)
    assert isinstance(again, Holder) and again.identity == "b"


def test_overrides_are_journaled_replaced_lifted_and_pruned(store_url: str) -> None:
    from killswitch.act.journal import Journal
    from killswitch.model import OVERRIDE_RESTORED, Override

    s = Store(store_url)
    j = Journal(s, "daemon")
    end = NOW + timedelta(hours=1)
    o = Override("b", "k1", OVERRIDE_RESTORED, end, "alice", "demo", created_at=NOW)
    j.set_override(o, NOW, NOW)
    j.set_override(Override("b", "k1", OVERRIDE_RESTORED, end, "bob", "", created_at=NOW), NOW, NOW)
    j.set_override(
        Override("b", "k2", OVERRIDE_RESTORED, NOW + timedelta(minutes=5), "c"), NOW, NOW
    )
    assert [(x.group, x.actor, x.until) for x in s.overrides("b")] == [
        ("k1", "bob", end),  # the newer override of a group replaces the older one
        ("k2", "c", NOW + timedelta(minutes=5)),
    ]
    assert [o.group for o in j.overrides(["b"], NOW + timedelta(minutes=10))] == ["k1"]
    assert s.prune_overrides(NOW + timedelta(minutes=10)) == 1
    (gone,) = j.clear_overrides("b", "k1", "carol", "done", NOW)
    assert gone.actor == "bob" and s.overrides() == []
    rows = [(r.op, r.action, r.actor, r.manual, r.status) for r in s.journal_rows()]
    assert rows == [
        ("override", "set", "alice", True, "done"),
        ("override", "set", "bob", True, "done"),
        ("override", "set", "c", True, "done"),
        ("override", "clear", "carol", True, "done"),
    ]
    assert s.journal_rows()[-1].reason.startswith("lifted by carol: done (was: override until")
    assert s.prune_journal(NOW + timedelta(days=1)) == 4  # history ages out like the rest


def test_states_read_what_another_writer_changed_and_one_group_reads_alone(store_url: str) -> None:
    """The daemon parses each stored state text once and reuses it; a change written by another
    process (a CLI restore, another replica) must still be read, and ``state`` reads one row."""
    daemon, cli = Store(store_url), Store(store_url)
    warned = TargetState(NOW, frozenset({"0.8"}))
    daemon.save_states("b", {"g1": TargetState(NOW), "g2": warned}, NOW)
    first = daemon.states("b")
    assert first == {"g1": TargetState(NOW), "g2": warned}
    assert daemon.states("b")["g2"] is first["g2"]  # unchanged text: the same object again
    cli.save_states("b", {"g2": TargetState(NOW)}, NOW + timedelta(minutes=1))
    assert daemon.states("b") == {"g1": TargetState(NOW), "g2": TargetState(NOW)}
    assert daemon.state("b", "g2") == TargetState(NOW)
    assert daemon.state("b", "nope") is None
