"""Sharding providers across replicas: the fair-share plan (pure) and the keeper on a real store."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from killswitch.config import HAConfig, parse
from killswitch.core.ledger import Ledger
from killswitch.leadership import Leadership
from killswitch.plugins import registry
from killswitch.shards import (
    GLOBAL,
    NAME_MAX,
    ShardKeeper,
    fair_share,
    lease_name,
    plan_shards,
    provider_shards,
)
from killswitch.state import Store
from killswitch.state.lease import Claimant, Grant, Holder, LeaseLost
from killswitch.state.retention import Retention
from killswitch.testing import simulated_config

SHARDS = [f"provider:p{i}" for i in range(6)]
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


# ---- the pure plan ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shards", "replicas", "share"),
    [(6, 1, 6), (6, 2, 3), (6, 3, 2), (7, 3, 3), (6, 0, 6), (2, 5, 1)],
)
def test_fair_share_is_the_ceiling_of_shards_per_live_replica(
    shards: int, replicas: int, share: int
) -> None:
    assert fair_share(shards, replicas) == share


def test_a_lone_replica_takes_every_shard() -> None:
    plan = plan_shards(SHARDS, mine=set(), taken=set(), replicas=1)
    assert sorted(plan.take) == SHARDS and plan.release == () and plan.renew == ()


def test_a_replica_takes_free_shards_only_up_to_its_share() -> None:
    plan = plan_shards(SHARDS, mine={SHARDS[0]}, taken={SHARDS[1]}, replicas=3)
    assert plan.share == 2
    assert plan.renew == (SHARDS[0],)
    assert len(plan.take) == 1 and plan.take[0] not in (SHARDS[0], SHARDS[1])


def test_a_replica_over_its_share_releases_the_extras_and_takes_nothing() -> None:
    plan = plan_shards(SHARDS, mine=set(SHARDS), taken=set(), replicas=3)
    assert len(plan.renew) == 2 and len(plan.release) == 4 and plan.take == ()
    assert set(plan.renew) | set(plan.release) == set(SHARDS)


def test_shards_held_by_others_are_never_taken() -> None:
    plan = plan_shards(SHARDS, mine=set(), taken=set(SHARDS), replicas=2)
    assert plan.take == ()


def test_start_rotates_which_free_shard_is_tried_first() -> None:
    firsts = {plan_shards(SHARDS, set(), set(), 6, start=k).take[0] for k in range(6)}
    assert firsts == set(SHARDS)


def settle(holders: dict[str, str | None], replicas: list[str], rounds: int = 5) -> None:
    """Replicas apply their plans in turn (releases take effect at once, as after a lapse)."""
    for _ in range(rounds):
        for r in replicas:
            mine = {s for s, h in holders.items() if h == r}
            taken = {s for s, h in holders.items() if h is not None and h != r}
            plan = plan_shards(sorted(holders), mine, taken, len(replicas), start=hash(r))
            for s in plan.release:
                holders[s] = None
            for s in plan.take:
                holders[s] = r


def test_replicas_converge_to_every_shard_held_once_and_survivors_cover_a_dead_one() -> None:
    holders: dict[str, str | None] = dict.fromkeys([*SHARDS, GLOBAL])
    settle(holders, ["a"])
    assert set(holders.values()) == {"a"}
    settle(holders, ["a", "b", "c"])
    counts = {r: list(holders.values()).count(r) for r in "abc"}
    assert None not in holders.values()
    assert all(1 <= n <= fair_share(7, 3) for n in counts.values()), counts
    dead = max(counts, key=lambda r: counts[r])
    for s, h in holders.items():  # its leases ran out
        if h == dead:
            holders[s] = None
    survivors = [r for r in "abc" if r != dead]
    settle(holders, survivors)
    assert None not in holders.values() and set(holders.values()) == set(survivors)


def test_providers_linked_by_a_budget_across_them_are_one_shard() -> None:
    got = provider_shards(["a", "b", "c", "d"], [["a"], ["b", "c"], ["c", "d"]])
    assert got == {
        "a": "provider:a",
        "b": "provider:b+c+d",
        "c": "provider:b+c+d",
        "d": "provider:b+c+d",
    }


def test_a_long_shard_key_gets_a_lease_name_that_fits_and_stays_distinct() -> None:
    a, b = "provider:" + "x" * 80, "provider:" + "x" * 79 + "y"
    assert len(lease_name(a)) <= NAME_MAX and len(lease_name(b)) <= NAME_MAX
    assert lease_name(a) != lease_name(b)
    assert lease_name("provider:p0") == "shard:provider:p0"


def test_shard_needs_ha_enabled() -> None:
    with pytest.raises(ValueError, match="needs enabled: true"):
        HAConfig(shard="provider")
    assert HAConfig().shard == "none"


# ---- the keeper on a real store -----------------------------------------------------------
def keeper(url: str, name: str, ttl: float = 1.5) -> ShardKeeper:
    providers = {f"p{i}": f"provider:p{i}" for i in range(3)}
    budgets = {f"b{i}": f"provider:p{i}" for i in range(3)}
    k = ShardKeeper(url, name, ttl, providers, budgets)
    k.me = Claimant(name, k.me.token, host=f"host-{name}")  # two "hosts" in one process
    return k


def owners(ks: list[ShardKeeper]) -> dict[str, list[str]]:
    return {s: [k.identity for k in ks if k.owns(s)] for s in ks[0].shards}


def balanced(ks: list[ShardKeeper]) -> bool:
    """Every shard held by exactly one keeper, none over its fair share."""
    share = fair_share(len(ks[0].shards), len(ks))
    once = all(len(o) == 1 for o in owners(ks).values())
    return once and all(len(k.owned()) <= share for k in ks)


def rounds(ks: list[ShardKeeper], until: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for k in ks:
            k.attempt()
        if until():
            return
        time.sleep(0.1)
    raise AssertionError(f"not settled: {owners(ks)}")


def kill_row(budget: str) -> dict[str, Any]:
    return {
        "budget": budget,
        "grp": "g",
        "target": "t",
        "action": "a.disable",
        "op": "kill",
        "status": "pending",
        "params": {},
        "window_start": NOW,
        "actor": "x",
    }


def test_keepers_share_the_shards_and_a_dead_ones_move_within_a_lease(store_url: str) -> None:
    Store(store_url).close()  # the schema
    a, b = keeper(store_url, "a"), keeper(store_url, "b")
    try:
        rounds([a, b], lambda: balanced([a, b]))
        split = owners([a, b])
        assert {len([s for s, o in split.items() if o == [n]]) for n in "ab"} == {2}
        died = time.monotonic()
        rounds([b], lambda: all(o == ["b"] for o in owners([b]).values()), timeout=5)
        assert time.monotonic() - died < a.ttl + 2 * a.renew_every + 1
        # a never renewed: its own trust ran out, so it acts for nothing any more
        assert a.owned() == []
    finally:
        a.stop(release=False)
        b.stop()


def test_an_intent_is_journaled_only_under_its_budgets_shard_lease(store_url: str) -> None:
    s = Store(store_url)
    a, b = keeper(store_url, "a"), keeper(store_url, "b")
    try:
        rounds([a, b], lambda: balanced([a, b]))
        s.fence = a
        mine = next(n for n in ("b0", "b1", "b2") if a.owns(a.shard_for_budget(n)))
        theirs = next(n for n in ("b0", "b1", "b2") if b.owns(b.shard_for_budget(n)))
        with s.tx() as conn:
            assert s.journal_add(conn, [kill_row(mine)], NOW)
        with pytest.raises(LeaseLost, match="shard provider:p"), s.tx() as conn:
            s.journal_add(conn, [kill_row(theirs)], NOW)
        assert [r.budget for r in s.journal_rows()] == [mine]
        # a replay is fenced by its row's budget too: b may not reopen a's row, a may
        (row,) = s.journal_rows()
        s.fence = b
        with pytest.raises(LeaseLost):
            s.journal_set_pending(row.id, NOW)
        s.fence = a
        s.journal_set_pending(row.id, NOW)
    finally:
        a.stop()
        b.stop()
        s.close()


def test_a_leader_and_shard_holders_never_act_on_the_same_state(store_url: str) -> None:
    Store(store_url).close()
    lead = Leadership(store_url, "old", 1.5)
    lead.me = Claimant("old", lead.me.token, host="host-old")
    k = keeper(store_url, "new")
    try:
        assert isinstance(lead.attempt(), Grant)
        plan = k.attempt()
        assert plan.take == () and k.owned() == [] and k.leader is not None
        lead.stop()  # the leader-mode replica goes: the sharding one takes everything
        k.attempt()
        assert k.owned() == k.shards
        late = Leadership(store_url, "late", 1.5)
        late.me = Claimant("late", late.me.token, host="host-late")
        got = late.attempt()
        assert isinstance(got, Holder) and got.token == k.me.token  # "in use by" a shard holder
        late.stop()
    finally:
        k.stop()


class CountingStore:
    """The two store calls retention makes per source and per housekeeping run."""

    def __init__(self) -> None:
        self.outbox = 0

    def prune_observations(self, source: str, before: Any) -> int:
        return 0

    def prune_outbox(self, before: Any) -> int:
        self.outbox += 1
        return 0

    def prune_journal(self, before: Any) -> int:
        return 0


def test_only_the_global_shards_holder_prunes_the_outbox_and_journal() -> None:

    registry.load()
    cfg = parse(simulated_config())
    store = CountingStore()
    r = Retention(cfg, Ledger(), store, lambda b: ["simulated"])  # type: ignore[arg-type]
    holds_global = False
    r.housekeeper = lambda: holds_global
    r.after_poll("simulated", NOW)
    assert store.outbox == 0  # another replica holds the global shard
    holds_global = True
    r.after_poll("simulated", NOW)
    assert store.outbox == 1
