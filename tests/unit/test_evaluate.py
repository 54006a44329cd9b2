"""The pure core: thresholds, idempotence, restore, incomplete data, never zero for no data."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from killswitch.core.evaluate import BudgetRule, evaluate
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.model import (
    BudgetState,
    Coverage,
    DecisionKind,
    Money,
    ObservationKind,
    SpendObservation,
    TargetState,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)


def rule(**kw: Any) -> BudgetRule:
    base: dict[str, Any] = dict(
        name="b",
        scope=Scope.parse({"each": "key"}),
        window=WindowSpec.parse("daily"),
        limit=Money(Decimal(10)),
        warn_at=(Decimal("0.5"), Decimal("0.8")),
    )
    base.update(kw)
    return BudgetRule(**base)


def to_date(key: str, usd: str, at: datetime = NOW, **dims: str) -> SpendObservation:
    w = WindowSpec.parse("daily").at(at)
    return SpendObservation(
        "src",
        key,
        ObservationKind.TO_DATE,
        Money(Decimal(usd)),
        at,
        w.start,
        w.end,
        {"key": key, **dims},
    )


def kinds(ev: Any) -> list[tuple[str, str]]:
    return [(d.kind.value, d.group) for d in ev.decisions]


def test_breach_is_greater_or_equal() -> None:
    ev = evaluate(rule(), [to_date("k1", "9.99"), to_date("k2", "10.00")], {}, NOW)
    assert ("kill", "k2") in kinds(ev) and ("kill", "k1") not in kinds(ev)
    assert {s.group: s.state for s in ev.statuses}["k2"] is BudgetState.BREACHED


def test_warnings_fire_once_per_threshold_per_window_and_only_the_highest() -> None:
    ev = evaluate(rule(), [to_date("k", "9")], {}, NOW)
    warns = [d for d in ev.decisions if d.kind is DecisionKind.WARN]
    assert len(warns) == 1 and warns[0].threshold == Decimal("0.8")
    again = evaluate(rule(), [to_date("k", "9.5")], ev.states, NOW + timedelta(minutes=1))
    assert not again.decisions
    tomorrow = NOW + timedelta(days=1)
    nxt = evaluate(rule(), [to_date("k", "6", tomorrow)], again.states, tomorrow)
    assert [(d.kind, d.threshold) for d in nxt.decisions] == [(DecisionKind.WARN, Decimal("0.5"))]


def test_killed_group_is_not_killed_again() -> None:
    killed = TargetState(
        window_start=DAY.start, killed=True, kill_mode="enforce", killed_window_start=DAY.start
    )
    ev = evaluate(rule(), [to_date("k", "50")], {"k": killed}, NOW)
    assert not ev.decisions
    assert ev.statuses[0].state is BudgetState.KILLED


def test_restore_on_reset_only_in_a_new_window_under_the_line() -> None:
    killed = TargetState(
        window_start=DAY.start, killed=True, kill_mode="enforce", killed_window_start=DAY.start
    )
    tomorrow = NOW + timedelta(days=1)
    # New window but no data yet: wait rather than guess.
    assert not evaluate(rule(), [to_date("k", "50")], {"k": killed}, tomorrow).decisions
    ev = evaluate(rule(), [to_date("k", "0", tomorrow)], {"k": killed}, tomorrow)
    assert kinds(ev) == [("restore", "k")]
    manual = evaluate(
        rule(restore_on_reset=False), [to_date("k", "0", tomorrow)], {"k": killed}, tomorrow
    )
    assert not manual.decisions


def test_restore_targets_only_killed_groups() -> None:
    killed = TargetState(window_start=DAY.start, killed=True, killed_window_start=DAY.start)
    tomorrow = NOW + timedelta(days=1)
    ev = evaluate(
        rule(), [to_date("a", "0", tomorrow), to_date("b", "0", tomorrow)], {"a": killed}, tomorrow
    )
    assert kinds(ev) == [("restore", "a")]


def test_no_data_is_not_zero() -> None:
    ev = evaluate(rule(scope=Scope.parse({"keys": ["ghost"]})), [to_date("other", "99")], {}, NOW)
    (s,) = ev.statuses
    assert s.spend is None and s.state is BudgetState.NO_DATA


def test_keys_scope_sums_and_all_scope_sums_everything() -> None:
    obs = [to_date("a", "4"), to_date("b", "7"), to_date("c", "1")]
    ev = evaluate(rule(scope=Scope.parse({"keys": ["a", "b"]})), obs, {}, NOW)
    assert ev.statuses[0].spend == Money(Decimal(11)) and kinds(ev) == [("kill", "*")]
    ev = evaluate(rule(scope=Scope.parse({"all": True}), limit=Money(Decimal(100))), obs, {}, NOW)
    assert ev.statuses[0].spend == Money(Decimal(12))


def test_incomplete_alerts_once_and_fail_closed_breaches() -> None:
    o = SpendObservation(
        "src",
        "k",
        ObservationKind.BUCKET,
        Money(Decimal(1)),
        NOW,
        DAY.start,
        DAY.start + timedelta(minutes=1),
        {"key": "k"},
        complete=False,
        note="model x has no known price",
    )
    ev = evaluate(rule(), [o], {}, NOW)
    assert kinds(ev) == [("incomplete", "k")]
    assert ev.statuses[0].state is BudgetState.INCOMPLETE
    assert not evaluate(rule(), [o], ev.states, NOW).decisions
    closed = evaluate(rule(fail_closed=True), [o], {}, NOW)
    assert ("kill", "k") in kinds(closed)


def test_alert_only_alerts_once_per_window() -> None:
    ev = evaluate(rule(enforce=False), [to_date("k", "20")], {}, NOW)
    assert kinds(ev) == [("breach_alert", "k")]
    assert not evaluate(rule(enforce=False), [to_date("k", "21")], ev.states, NOW).decisions


def test_buckets_sum_and_coverage_means_zero() -> None:
    b = [
        SpendObservation(
            "src",
            "k",
            ObservationKind.BUCKET,
            Money(Decimal(3)),
            NOW,
            DAY.start + timedelta(minutes=i),
            DAY.start + timedelta(minutes=i + 1),
            {"key": "k"},
        )
        for i in range(4)
    ]
    ev = evaluate(rule(), b, {}, NOW)
    assert ev.statuses[0].spend == Money(Decimal(12))
    allr = rule(scope=Scope.parse({"all": True}))
    empty = evaluate(allr, [], {}, NOW, coverage=[Coverage("src", DAY.start, NOW)])
    assert empty.statuses[0].spend == Money(Decimal(0))
    gap = evaluate(
        allr, [], {}, NOW, coverage=[Coverage("src", DAY.start + timedelta(hours=1), NOW)]
    )
    assert gap.statuses[0].spend is None


def test_counter_deltas_serve_rolling_windows() -> None:
    samples = [
        SpendObservation(
            "src",
            "k",
            ObservationKind.COUNTER,
            Money(Decimal(v)),
            NOW - timedelta(hours=h),
            dims={"key": "k"},
        )
        for v, h in (("100", 30), ("105", 20), ("112", 0))
    ]
    r = rule(window=WindowSpec.parse("rolling:24h"))
    ev = evaluate(r, samples, {}, NOW)
    assert ev.statuses[0].spend == Money(Decimal(12)) and not ev.statuses[0].incomplete


def test_currency_is_never_mixed() -> None:
    w = DAY
    eur = SpendObservation(
        "src",
        "b1",
        ObservationKind.TO_DATE,
        Money(Decimal(900), "EUR"),
        NOW,
        w.start,
        w.end,
        {"budget": "b1"},
    )
    r = rule(scope=Scope.parse({"budgets": ["b1"]}), limit=Money(Decimal(1000), "EUR"))
    assert evaluate(r, [eur], {}, NOW).statuses[0].spend == Money(Decimal(900), "EUR")
    usd_limit = evaluate(rule(scope=Scope.parse({"budgets": ["b1"]})), [eur], {}, NOW)
    assert usd_limit.statuses[0].spend is None  # never compared across currencies
    assert [d.kind for d in usd_limit.decisions] == [DecisionKind.INCOMPLETE]  # and said so
    assert "reports EUR, limit is USD" in usd_limit.decisions[0].reason
