"""Overrides in the pure planning: an operator's restore holds, a manual kill stays killed.

The planning gets the overrides and the time as arguments (no clock, no store): a fake "now"
walks an override past its end and the kill comes back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.unit.test_act_plan import DAILY, NOW, _registry, decision, row

from killswitch.act.plan import active_overrides, kill_hold, plan_kills, plan_restore
from killswitch.model import OVERRIDE_KILLED, OVERRIDE_RESTORED, DecisionKind, Override

__all__ = ["_registry"]  # the fixture that loads the plugin registry

WINDOW_END = DAILY.at(NOW).end


def held_until(group: str, until: datetime = WINDOW_END, actor: str = "alice") -> Override:
    return Override("b", group, OVERRIDE_RESTORED, until, actor, "let it run", created_at=NOW)


def test_an_active_override_holds_the_kill_of_its_group_only() -> None:
    k1, k2 = decision("k1"), decision("k2")
    batch = plan_kills([k1, k2], max_actions=20, overrides=[held_until("k1")], now=NOW)
    assert [p.decision.group for p in batch.plans] == ["k2"]
    assert [(d.group, o.actor) for d, o in batch.held] == [("k1", "alice")]


def test_the_kill_comes_back_once_the_override_has_ended() -> None:
    o = held_until("k1", NOW + timedelta(hours=2))
    later = NOW + timedelta(hours=2)  # `until` is exclusive: at it, the rules apply again
    for now, planned in ((NOW, []), (later - timedelta(seconds=1), []), (later, ["k1"])):
        batch = plan_kills([decision("k1")], max_actions=20, overrides=[o], now=now)
        assert [p.decision.group for p in batch.plans] == planned, now


def test_an_override_of_another_budget_holds_nothing() -> None:
    other = Override("other", "k1", OVERRIDE_RESTORED, WINDOW_END, "alice")
    batch = plan_kills([decision("k1")], max_actions=20, overrides=[other], now=NOW)
    assert [p.decision.group for p in batch.plans] == ["k1"] and batch.held == ()


def test_a_manual_kill_is_never_held() -> None:
    batch = plan_kills(
        [decision("k1")], max_actions=20, manual=True, overrides=[held_until("k1")], now=NOW
    )
    assert [p.decision.group for p in batch.plans] == ["k1"] and batch.held == ()


def test_held_kills_do_not_count_towards_the_blast_radius() -> None:
    ds = [decision(f"k{i}") for i in range(5)]
    held = [held_until(f"k{i}") for i in range(4)]
    assert plan_kills(ds, max_actions=2, now=NOW).blocked
    batch = plan_kills(ds, max_actions=2, overrides=held, now=NOW)
    assert not batch.blocked and batch.total == 1


def test_the_automatic_restore_leaves_a_manual_kill_alone() -> None:
    d = decision("k1", kind=DecisionKind.RESTORE)
    manual = row("k1", manual=True, actor="bob", reason="manual kill from the CLI")
    plan = plan_restore(d, [manual])
    assert plan.undo == () and plan.held is not None
    assert plan.held.kind == OVERRIDE_KILLED and plan.held.until is None
    assert plan.held.describe().startswith("kept killed until a manual restore, by bob")
    # the operator's own restore undoes it
    assert [u.row.target for u in plan_restore(d, [manual], manual=True).undo] == ["k1"]
    # an automatic kill is restored automatically, as before
    assert [u.row.target for u in plan_restore(d, [row("k1")]).undo] == ["k1"]


def test_kill_hold_and_active_overrides() -> None:
    assert kill_hold([row("k1")]) is None
    hold = kill_hold([row("k1"), row("k1", id=2, manual=True, actor="bob")])
    assert hold is not None and hold.active(NOW + timedelta(days=365))
    ended = held_until("k2", NOW)
    found = active_overrides([held_until("k1"), ended], NOW)
    assert list(found) == [("b", "k1")]


def test_an_override_says_until_when_and_who() -> None:
    text = held_until("k1").describe()
    assert text == f"override until {WINDOW_END.isoformat()}, by alice: let it run"
    assert Override("b", "k1", OVERRIDE_RESTORED, WINDOW_END, "").describe().endswith("by unknown")
