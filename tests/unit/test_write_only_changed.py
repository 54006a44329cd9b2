"""Write only what changed: an unchanged cycle writes no state or status rows, a changed one
writes exactly the changed ones, and another writer in between makes the next write complete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from killswitch.core.evaluate import BudgetRule, evaluate
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.model import (
    BudgetState,
    GroupStatus,
    Money,
    ObservationKind,
    SpendObservation,
    TargetState,
)
from killswitch.state import Store

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)
RULE = BudgetRule("b", Scope.parse({"each": "key"}), WindowSpec.parse("daily"), Money(Decimal(10)))


def obs(key: str, usd: str) -> SpendObservation:
    return SpendObservation(
        "s",
        key,
        ObservationKind.TO_DATE,
        Money(Decimal(usd)),
        NOW,
        DAY.start,
        DAY.end,
        {"key": key},
    )


def status(group: str, usd: str) -> GroupStatus:
    return GroupStatus("b", group, DAY, Money(Decimal(usd)), Money(Decimal(10)), BudgetState.OK)


def test_unchanged_groups_keep_their_prior_state_object() -> None:
    first = evaluate(RULE, [obs("k1", "1"), obs("k2", "9")], {}, NOW)
    again = evaluate(RULE, [obs("k1", "1"), obs("k2", "9")], first.states, NOW)
    assert again.states["k1"] is first.states["k1"] and again.states["k2"] is first.states["k2"]
    later = evaluate(RULE, [obs("k1", "1"), obs("k2", "9.5")], first.states, NOW)
    assert later.states["k1"] is first.states["k1"]  # 9.5 crossed nothing new: no change
    nextday = NOW + timedelta(days=1)
    moved = evaluate(RULE, [], first.states, nextday)
    assert moved.states == {} and not moved.decisions  # no data, nothing killed: no groups


def test_state_rows_written_only_when_changed(store_url: str) -> None:
    s = Store(store_url)
    ev = evaluate(RULE, [obs(f"k{i}", "1") for i in range(50)], s.states("b"), NOW)
    assert s.save_states("b", ev.states, NOW) == 50
    ev = evaluate(RULE, [obs(f"k{i}", "1") for i in range(50)], s.states("b"), NOW)
    assert s.save_states("b", ev.states, NOW) == 0
    ev = evaluate(
        RULE, [obs(f"k{i}", "9" if i < 5 else "1") for i in range(50)], s.states("b"), NOW
    )
    assert s.save_states("b", ev.states, NOW) == 5
    assert sum(1 for st in s.states("b").values() if st.warned) == 5


def test_state_written_in_a_callers_transaction_is_not_trusted_afterwards(store_url: str) -> None:
    s = Store(store_url)
    st = TargetState(window_start=DAY.start)
    assert s.save_states("b", {"k1": st}, NOW) == 1
    killed = TargetState(window_start=DAY.start, killed=True)
    try:
        with s.tx() as conn:
            s.save_states("b", {"k1": killed}, NOW, conn)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert s.states("b")["k1"] == st
    assert s.save_states("b", {"k1": killed}, NOW) == 1
    assert s.states("b")["k1"].killed


def test_status_rows_written_only_when_changed_and_heartbeat_keeps_them_fresh(
    store_url: str,
) -> None:
    s = Store(store_url)
    assert s.save_statuses([status(f"k{i}", "1") for i in range(30)], NOW) == 30
    later = NOW + timedelta(minutes=5)
    assert s.save_statuses([status(f"k{i}", "1") for i in range(30)], later) == 0
    rows = s.statuses()
    assert len(rows) == 30 and {r["group"] for r in rows} == {f"k{i}" for i in range(30)}
    assert {datetime.fromisoformat(r["updated_at"]) for r in rows} == {later}
    changed = [status(f"k{i}", "2" if i < 3 else "1") for i in range(30)]
    assert s.save_statuses(changed, later) == 3
    assert sorted(r["spend"] for r in s.statuses()).count("2") == 3


def test_another_writer_in_between_makes_the_next_status_write_complete(store_url: str) -> None:
    a, b = Store(store_url), Store(store_url)
    assert a.save_statuses([status("k1", "1"), status("k2", "1")], NOW) == 2
    assert b.save_statuses([status("k1", "5"), status("k2", "5")], NOW) == 2
    assert a.save_statuses([status("k1", "1"), status("k2", "1")], NOW) == 2
    assert {r["spend"] for r in a.statuses()} == {"1"}
    a.forget_budgets([])
    assert a.statuses() == []
    assert a.save_statuses([status("k1", "1")], NOW) == 1
