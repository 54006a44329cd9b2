"""The quiet-group shortcut of ``core.evaluate`` answers exactly what the full judgement would.

``_quiet`` skips the per-group machinery for a group with nothing to decide. A shortcut that is
wrong once would swallow a warning, a kill or a restore, so it is held here to
``_judge_group``'s answer over every combination of the conditions it reads, and the whole
``evaluate`` to its answer without the shortcut.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from killswitch.core import evaluate as ev
from killswitch.core.scope import Scope
from killswitch.core.spend import group_spend
from killswitch.core.windows import WindowSpec
from killswitch.model import Money, ObservationKind, SpendObservation, TargetState

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
DAILY = WindowSpec.parse("daily")
W = DAILY.at(NOW)
EARLIER = W.start - timedelta(days=1)
AMOUNTS = ("0", "4.99", "5", "7.99", "8", "9.99", "10", "12.5")


def reading(value: str, **over: object) -> SpendObservation:
    o = SpendObservation(
        "s", "k", ObservationKind.TO_DATE, Money(Decimal(value)), NOW, W.start, W.end, {"key": "k"}
    )
    return replace(o, **over) if over else o


READINGS = {  # the one reading of a group, and every way it can fall outside the shortcut
    "plain": {},
    "other window": {"start": EARLIER, "end": W.start},
    "later start": {"start": W.start + timedelta(hours=1)},
    "longer span": {"end": W.end + timedelta(days=1)},
    "counter": {"kind": ObservationKind.COUNTER},
    "note": {"note": "rate limited"},
    "partial": {"complete": False},
    "EUR": {"amount": Money(Decimal(3), "EUR")},
}
STATES = {
    "new": TargetState(),
    "last window": TargetState(EARLIER, frozenset({"0.5", "0.8"})),
    "nothing warned": TargetState(W.start),
    "warned 50%": TargetState(W.start, frozenset({"0.5"})),
    "warned all": TargetState(W.start, frozenset({"0.5", "0.8"})),
    "killed now": TargetState(W.start, frozenset({"0.5"}), True, "enforce", W.start),
    "killed before": TargetState(W.start, frozenset(), True, "enforce", EARLIER),
    "incomplete alerted": TargetState(W.start, frozenset(), incomplete_alerted=True),
    "breach alerted": TargetState(W.start, breach_alerted_window=W.start),
    "alerted last window": TargetState(
        EARLIER, breach_alerted_window=EARLIER, forecast_warned_window=EARLIER
    ),
    "killed, window not rolled": TargetState(EARLIER, frozenset(), True, "enforce", W.start),
}
RULES = {
    "warn 50/80": {"warn_at": (Decimal("0.5"), Decimal("0.8"))},
    "no warnings": {"warn_at": ()},
    "kill at 80%": {"warn_at": (Decimal("0.5"),), "kill_at": Decimal("0.8")},
    "alert only": {"enforce": False},
    "fail closed": {"fail_closed": True},
    "no restore": {"restore_on_reset": False},
}


def rule(**over: object) -> ev.BudgetRule:
    base = ev.BudgetRule("b", Scope.parse({"each": "key"}), DAILY, Money(Decimal(10)))
    return replace(base, **over) if over else base


def full(r: ev.BudgetRule, by_target: dict[str, list[SpendObservation]], st: TargetState,
         stale: bool) -> ev.Evaluation:  # fmt: skip
    ctx = ev._Context(r, W, False)
    ctx.stale = stale
    out = ev.Evaluation()
    ev._judge_group(ctx, "k", group_spend(by_target, W, "USD", NOW, vouched=False), st, out, stale)
    return out


BESIDE = {  # what else a poll says of the same target (OpenRouter: weekly, monthly, lifetime)
    "alone": [],
    "a counter": [reading("50", kind=ObservationKind.COUNTER)],
    "last window's figure": [reading("11", start=EARLIER, end=W.start)],
    "an older figure": [reading("9.5", observed_at=NOW - timedelta(minutes=1))],
    "a newer figure": [reading("9.5", observed_at=NOW + timedelta(minutes=1))],
    "a figure of the same instant": [reading("9.5")],  # the later one in the list counts
    "a newer one, noted": [reading("1", observed_at=NOW + timedelta(minutes=1), note="late")],
}
CASES = list(itertools.product(RULES, READINGS, AMOUNTS, STATES, (False, True), BESIDE))


@pytest.mark.parametrize("rule_name", RULES)
def test_the_shortcut_answers_as_the_full_judgement_or_steps_aside(rule_name: str) -> None:
    taken = 0
    for name, kind, amount, state, stale, beside in CASES:
        if name != rule_name:
            continue
        r, st = rule(**RULES[name]), STATES[state]  # type: ignore[arg-type]
        by_target = {"k": [reading(amount, **READINGS[kind]), *BESIDE[beside]]}
        ctx = ev._Context(r, W, False)
        ctx.stale = stale
        quiet = ev._quiet(ctx, "k", by_target, st)
        if quiet is None:
            continue
        taken += 1
        status, new_state = quiet
        want = full(r, by_target, st, stale)
        case = (name, kind, amount, state, stale, beside)
        assert want.decisions == [], case  # the shortcut never hides a decision
        assert want.states["k"] == new_state, case  # nor a change of state
        assert (want.states["k"] is st) == (new_state is st), case  # nor rewrites an unchanged one
        assert want.statuses == [status], case
    assert taken >= 20  # the shortcut is really taken: this test checks something


def test_what_needs_deciding_is_never_taken_quietly() -> None:
    st, r = STATES["warned 50%"], rule(warn_at=(Decimal("0.5"), Decimal("0.8")))
    ctx = ev._Context(r, W, False)
    for amount in ("8", "10"):  # a fresh 80% warning; a kill
        assert ev._quiet(ctx, "k", {"k": [reading(amount)]}, st) is None
    killed_before = STATES["killed before"]  # a restore to weigh
    assert ev._quiet(ctx, "k", {"k": [reading("1")]}, killed_before) is None
    two_targets = {"k": [reading("1")], "k2": [reading("2", target="k2")]}  # a sum to make
    assert ev._quiet(ctx, "k", two_targets, STATES["nothing warned"]) is None


def test_a_whole_evaluation_is_the_same_with_and_without_the_shortcut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rnd = random.Random(20261203)
    obs, prior = [], {}
    for i in range(2000):
        key = f"k{i}"
        kind = rnd.choice(list(READINGS))
        extra = READINGS[kind] | {"target": key, "dims": {"key": key}}
        obs.append(reading(rnd.choice(AMOUNTS), **extra))
        for other in rnd.choice(list(BESIDE.values())):  # what else the poll said of it
            obs.append(replace(other, target=key, dims={"key": key}))
        if rnd.random() < 0.9:
            prior[key] = rnd.choice(list(STATES.values()))
    for over in RULES.values():
        r = rule(**over)  # type: ignore[arg-type]
        with_shortcut = ev.evaluate(r, obs, prior, NOW)
        with monkeypatch.context() as m:
            m.setattr(ev, "_quiet", lambda *a: None)
            without = ev.evaluate(r, obs, prior, NOW)
        assert with_shortcut.statuses == without.statuses
        assert with_shortcut.decisions == without.decisions
        assert with_shortcut.states == without.states
        unchanged = [g for g, st in with_shortcut.states.items() if prior.get(g) is st]
        assert unchanged == [g for g, st in without.states.items() if prior.get(g) is st]
