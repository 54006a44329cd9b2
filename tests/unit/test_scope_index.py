"""The observation index: each budget is given exactly the observations its scope can match."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from killswitch.core.evaluate import BudgetRule, evaluate
from killswitch.core.scope import ObservationIndex, Scope
from killswitch.core.windows import WindowSpec
from killswitch.model import Money, ObservationKind, SpendObservation

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)


def obs(key: str, project: str, usd: str = "1") -> SpendObservation:
    return SpendObservation(
        "s",
        key,
        ObservationKind.TO_DATE,
        Money(Decimal(usd)),
        NOW,
        DAY.start,
        DAY.end,
        {"key": key, "project": project},
    )


ALL = [obs(f"k{i}", f"p{i % 3}", str(i)) for i in range(30)]


def test_each_budget_gets_exactly_its_own_observations() -> None:
    index = ObservationIndex(ALL)
    for i in range(30):
        got = index.for_scope(Scope.parse({"keys": [f"k{i}"]}))
        assert [o.target for o in got] == [f"k{i}"]
    got = index.for_scope(Scope.parse({"each": "key", "projects": ["p1"]}))
    assert sorted(o.target for o in got) == sorted(f"k{i}" for i in range(30) if i % 3 == 1)
    assert index.for_scope(Scope.parse({"keys": ["nope"]})) == []
    assert list(index.for_scope(Scope.parse({"all": True}))) == ALL


def test_narrowest_filter_is_used_and_the_other_still_applies() -> None:
    index = ObservationIndex(ALL)
    scope = Scope.parse({"keys": ["k1", "k2"], "projects": ["p1", "p2", "p0"]})
    assert sorted(o.target for o in index.for_scope(scope)) == ["k1", "k2"]
    rule = BudgetRule(
        "b",
        Scope.parse({"keys": ["k1", "k2", "k4"], "projects": ["p1"]}),
        WindowSpec.parse("daily"),
        Money(Decimal(100)),
    )
    routed = evaluate(rule, index.for_scope(rule.scope), {}, NOW)
    full = evaluate(rule, ALL, {}, NOW)
    assert routed.statuses == full.statuses and routed.states == full.states
    assert routed.statuses[0].spend == Money(Decimal(5))  # k1 + k4 (k2 is in p2)
