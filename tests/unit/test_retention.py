"""Bounded state: each pruning rule, in memory and in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from killswitch.core.ledger import Ledger
from killswitch.core.retention import horizon
from killswitch.core.windows import WindowSpec
from killswitch.model import Money, ObservationKind, SpendObservation
from killswitch.state import Store

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
H = timedelta(hours=1)
DAILY = WindowSpec.parse("daily")
ROLLING = WindowSpec.parse("rolling:6h")


def counter(at: datetime, amount: str, target: str = "k") -> SpendObservation:
    return SpendObservation("s", target, ObservationKind.COUNTER, Money(Decimal(amount)), at)


def period(kind: ObservationKind, start: datetime, end: datetime) -> SpendObservation:
    return SpendObservation("s", "k", kind, Money(Decimal(1)), NOW, start, end)


def hourly_counters(hours: int) -> list[SpendObservation]:
    """One changed sample per hour for ``hours`` hours up to NOW."""
    return [counter(NOW - h * H, str(hours - h)) for h in range(hours, -1, -1)]


def test_tumbling_windows_keep_only_baselines_and_the_latest_counter_sample() -> None:
    led = Ledger()
    led.add(hourly_counters(30))
    led.prune("s", horizon([DAILY], NOW, H))
    kept = sorted(o.observed_at for o in led.observations("s"))
    day = NOW.replace(hour=0)
    assert kept == [day, NOW]  # the baseline at today's start, and the latest
    led.prune("s", horizon([DAILY], day + timedelta(days=1, minutes=30), H))
    # just past midnight the previous day's baseline is kept for the margin
    assert sorted(o.observed_at for o in led.observations("s")) == [day, NOW]


def test_a_rolling_window_keeps_its_history_and_one_baseline_before_it() -> None:
    led = Ledger()
    led.add(hourly_counters(30))
    led.prune("s", horizon([ROLLING], NOW, H))
    kept = sorted(o.observed_at for o in led.observations("s"))
    # the window a margin ago starts 7h back; its start minus the margin is the baseline
    assert kept == [NOW - h * H for h in range(8, -1, -1)]


def test_to_date_rows_no_budget_reads_are_dropped_and_closed_buckets_go() -> None:
    led = Ledger()
    day = DAILY.at(NOW)
    week = WindowSpec.parse("weekly").at(NOW)
    led.add(
        [
            period(ObservationKind.TO_DATE, day.start, day.end),
            period(ObservationKind.TO_DATE, week.start, week.end),  # no weekly budget
            period(ObservationKind.BUCKET, NOW - 2 * H, NOW - H),
            period(ObservationKind.BUCKET, day.start - 3 * H, day.start - 2 * H),  # closed
        ]
    )
    led.prune("s", horizon([DAILY], NOW, H))
    assert sorted((o.kind.value, o.start) for o in led.observations("s")) == [
        ("bucket", NOW - 2 * H),
        ("to_date", day.start),
    ]


def test_unchanged_counter_readings_do_not_grow_the_ledger() -> None:
    led = Ledger()
    for m in range(100):
        led.add([counter(NOW + timedelta(minutes=m), "5")])
    assert led.size() == 2
    led.add([counter(NOW + timedelta(minutes=1), "5")])  # the same instant read again
    assert led.size() == 2
    led.add([counter(NOW - timedelta(minutes=5), "4")])  # a late, older sample is placed in order
    assert [o.amount.amount for o in led.observations("s")] == [4, 5, 5]


def test_store_prunes_counters_like_the_ledger(store_url: str) -> None:
    s = Store(store_url)
    for o in hourly_counters(30):
        s.record_observations([o])
    h = horizon([DAILY], NOW, H)
    assert s.prune_observations("s", h) == 31 - 2
    got = sorted(o.observed_at for o in s.load_observations("s", NOW - timedelta(days=3)))
    day = NOW.replace(hour=0)
    assert got == [day, NOW]
    s.close()


def test_store_prunes_unread_to_date_and_old_periods_and_forgets_what_it_wrote(
    store_url: str,
) -> None:
    s = Store(store_url)
    day, week = DAILY.at(NOW), WindowSpec.parse("weekly").at(NOW)
    yesterday = DAILY.at(NOW - timedelta(days=1))
    s.record_observations(
        [
            period(ObservationKind.TO_DATE, day.start, day.end),
            period(ObservationKind.TO_DATE, week.start, week.end),
            period(ObservationKind.TO_DATE, yesterday.start, yesterday.end),
            period(ObservationKind.BUCKET, yesterday.start, yesterday.start + H),
        ]
    )
    assert len(s._written["s"]) == 4
    s.prune_observations("s", horizon([DAILY], NOW, H))
    left = s.load_observations("s", NOW - timedelta(days=30))
    assert [(o.kind.value, o.start) for o in left] == [("to_date", day.start)]
    assert list(s._written["s"]) == [
        ("k", "to_date", f"{day.start.isoformat()}|{day.end.isoformat()}")
    ]
    s.close()


def test_sent_outbox_rows_are_pruned_after_their_age(store_url: str) -> None:
    s = Store(store_url)
    old = NOW - timedelta(days=8)
    for key, at in (("old", old), ("new", NOW - timedelta(days=1)), ("waiting", old)):
        s.enqueue("n", key, {"k": key}, at)
    for item in s.outbox_due(NOW):
        if item.dedup_key != "waiting":
            s.outbox_done(item.id, NOW - timedelta(days=8 if item.dedup_key == "old" else 1))
    assert s.prune_outbox(NOW - timedelta(days=7)) == 1
    assert s.outbox_counts() == {"sent": 1, "pending": 1}  # never a pending one
    s.close()


def _journal(s: Store, at: datetime, **row: object) -> int:
    with s.tx() as conn:
        base = {"budget": "b", "grp": "g", "target": "t", "action": "a", "params": {}}
        (rid,) = s.journal_add(conn, [{**base, **row}], at)
    return rid


def test_journal_age_limit_keeps_open_kills_and_deletes_kill_restore_pairs(store_url: str) -> None:
    s = Store(store_url)
    old = NOW - timedelta(days=400)
    undone = _journal(s, old, op="kill", status="done")
    _journal(s, old, op="restore", status="done", kill_id=undone)
    still_open = _journal(s, old, op="kill", status="done")  # never restored: restore needs it
    pending = _journal(s, old, op="kill", status="pending")  # resume needs it
    recent = _journal(s, NOW, op="kill", status="done")
    assert s.prune_journal(NOW - timedelta(days=365)) == 2
    assert sorted(r.id for r in s.journal_rows()) == [still_open, pending, recent]
    s.close()


async def test_the_engine_prunes_the_store_every_cycle_it_is_due(tmp_path: object) -> None:
    """Hours of polls against a daily budget leave a constant number of observation rows."""
    from sqlalchemy import func, select

    from killswitch import config as cfgmod
    from killswitch import daemon
    from killswitch.state import tables as t
    from killswitch.testing import FakeClock

    clock = FakeClock(NOW)
    data = {
        "state": f"sqlite:///{tmp_path}/state.db",
        "retention": {"prune_every": "1m"},
        "providers": {
            "sim": {
                "type": "simulated",
                "start": (NOW - H).isoformat(),
                "targets": [{"id": f"k{i}", "rate_usd_per_second": "0.0001"} for i in range(5)],
            }
        },
        "budgets": [
            {
                "name": "b",
                "provider": "sim",
                "scope": {"each": "key"},
                "window": "daily",
                "limit_usd": 1000,
                "mode": "alert-only",
            }
        ],
    }
    rt = daemon.build(cfgmod.parse(data), clock=clock, identity="test")

    def rows() -> int:
        with rt.store.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(t.observations)).scalar_one())

    counts = []
    for _ in range(120):  # two hours of one-minute polls
        await rt.engine.cycle("sim")
        clock.advance(minutes=1)
        counts.append(rows())
    assert counts[-1] == counts[30] <= 5 * 3  # per key: a baseline, the origin sample, latest
    assert rt.engine.ledger.size() <= 5 * 3
    await rt.aclose()


def test_a_to_date_row_for_the_current_rolling_window_is_kept() -> None:
    """Sources that answer "spend in the last hour" (PromQL over $__range) give rolling spans."""
    led = Ledger()
    led.add(
        [
            period(ObservationKind.TO_DATE, NOW - H, NOW),
            period(ObservationKind.TO_DATE, NOW - 3 * H, NOW - 2 * H),
        ]
    )
    led.prune("s", horizon([WindowSpec.parse("rolling:1h")], NOW, H))
    assert [(o.start, o.end) for o in led.observations("s")] == [(NOW - H, NOW)]
