"""The safety rails as pure functions: what act/plan.py decides before anything is executed.

These are the promises an operator relies on when they read a `plan`: protected targets are
never in the ops, dry-run never executes, one cycle never takes more than the blast radius
allows (a manual kill may), and a restore only undoes kills the config still knows how to undo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from killswitch.act.plan import (
    KillFate,
    notice_kind,
    plan_kill,
    plan_kills,
    plan_restore,
    resolve_row,
)
from killswitch.core.windows import WindowSpec
from killswitch.model import BudgetPolicy, Decision, DecisionKind, Money, ResolvedAction
from killswitch.plugins import registry
from killswitch.state import JournalRow

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAILY = WindowSpec.parse("daily")


@pytest.fixture(autouse=True)
def _registry() -> None:
    registry.load()


def action(name: str = "simulated.disable", **params: Any) -> ResolvedAction:
    model = registry.actions[name].params_model
    impl = registry.actions[name]()
    return ResolvedAction(name, model(**params), not impl.reversible)


def decision(
    group: str = "k1",
    *,
    kind: DecisionKind = DecisionKind.KILL,
    actions: tuple[ResolvedAction, ...] = (),
    keys: tuple[str, ...] = (),
    **policy: Any,
) -> Decision:
    limit = Money.usd("10")
    pol = BudgetPolicy(
        "b",
        "sim",
        limit,
        DAILY,
        actions=actions or (action(),),
        **policy,
    )
    return Decision(
        kind,
        "b",
        group,
        DAILY.at(NOW),
        Money.usd("12"),
        limit,
        "over",
        dims={"key": keys or (group,)},
        policy=pol,
    )


def row(target: str, action_name: str = "simulated.disable", **kw: Any) -> JournalRow:
    fields: dict[str, Any] = {
        "id": 1,
        "budget": "b",
        "group": target,
        "target": target,
        "action": action_name,
        "op": "kill",
        "status": "done",
        "params": {"fail": False},
        "prior": {"disabled": False},
        "error": None,
        "attempts": 1,
        "window_start": DAILY.at(NOW).start,
        "kill_id": None,
        "manual": False,
        "actor": "test",
        "reason": "over",
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(kw)
    return JournalRow(**fields)


def test_one_op_per_action_and_target_with_the_rail_verdict() -> None:
    plan = plan_kill(decision(actions=(action(), action("simulated.delete"))))
    assert [(op.action.name, op.target) for op in plan.ops] == [
        ("simulated.disable", "k1"),
        ("simulated.delete", "k1"),
    ]
    assert plan.fate is KillFate.ENFORCE
    assert plan_kill(decision(dry_run=True)).fate is KillFate.DRY_RUN


def test_a_protected_group_is_never_an_op() -> None:
    plan = plan_kill(decision(protect=frozenset({"k1"})))
    assert plan.ops == ()
    assert plan.protected == ("k1",)
    assert plan.fate is KillFate.PROTECTED


def test_a_protected_key_is_left_out_and_its_group_mates_are_not() -> None:
    plan = plan_kill(decision("team", keys=("a", "b"), protect=frozenset({"a"})))
    assert [op.target for op in plan.ops] == ["b"]
    assert plan.protected == ("a",)
    assert plan.fate is KillFate.ENFORCE


def test_only_target_narrows_a_manual_kill() -> None:
    assert plan_kill(decision(), only_target="k1").ops
    plan = plan_kill(decision(), only_target="other")
    assert plan.ops == ()
    assert plan.fate is KillFate.NO_TARGET


def test_blast_radius_blocks_a_cycle_but_not_a_manual_kill() -> None:
    ds = [decision(f"k{i}") for i in range(3)]
    assert plan_kills(ds, max_actions=3).blocked is False
    assert plan_kills(ds, max_actions=2).blocked is True
    assert plan_kills(ds, max_actions=2, manual=True).blocked is False
    assert plan_kills(ds, max_actions=2).total == 3


def test_restore_undoes_only_kills_the_config_still_knows() -> None:
    d = decision(actions=(action(), action("simulated.delete")))
    rows = [row("k1"), row("k1", "simulated.gone"), row("k1", "simulated.delete", params={})]
    plan = plan_restore(d, rows)
    assert [u.row.action for u in plan.undo] == ["simulated.disable", "simulated.delete"]
    disable, delete = plan.undo
    assert not disable.skipped
    assert delete.skipped  # executed and irreversible: reported, never "undone"
    dry = plan_restore(d, [row("k1", "simulated.delete", params={}, status="dry_run")])
    assert dry.undo[0].dry_run and not dry.undo[0].skipped


def test_restore_of_one_target_leaves_the_others() -> None:
    plan = plan_restore(decision("g"), [row("a"), row("b")], only_target="b")
    assert [u.row.target for u in plan.undo] == ["b"]


def test_a_row_resolves_to_the_action_with_the_same_params() -> None:
    failing, plain = action(fail=True), action()
    pol = decision(actions=(failing, plain)).policy
    assert resolve_row(pol, row("k1", params={"fail": False})) is plain
    assert resolve_row(pol, row("k1", params={"fail": True})) is failing
    assert resolve_row(pol, row("k1", params={"other": 1})) is failing  # same name, first one
    assert resolve_row(pol, row("k1", "simulated.gone")) is None


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        (DecisionKind.WARN, "warning"),
        (DecisionKind.BREACH_ALERT, "breach"),
        (DecisionKind.INCOMPLETE, "incomplete"),
        (DecisionKind.KILL, None),
    ],
)
def test_only_notices_have_a_notice_kind(kind: DecisionKind, event: str | None) -> None:
    assert notice_kind(decision(kind=kind)) == event
