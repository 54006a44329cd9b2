"""LiteLLM actions: read before write, idempotent replays, undo restores exactly what was there."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from killswitch.errors import ActionError
from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ActionParams, TargetRequest
from killswitch.providers.litellm import (
    BlockEndUser,
    BlockKey,
    BlockTeam,
    CapKey,
    LiteLLMProvider,
)

from .conftest import K1, K2, K3, NOW
from .fake import FakeLiteLLM

P = ActionParams()
CTX = ActionContext(
    budget="groq-per-key-daily",
    group=K1,
    window=Window(NOW.replace(hour=0), NOW.replace(hour=0) + timedelta(days=1), "daily"),
    spend=Money(Decimal(25)),
    limit=Money(Decimal(20)),
    now=NOW,
)


async def test_block_key_snapshots_blocks_once_and_undo_unblocks(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    a = BlockKey()
    prior = await a.snapshot(provider, K1, P)
    assert prior == {"blocked": False}
    assert await a.execute(provider, K1, P, CTX) == {}
    assert fake.keys[K1]["blocked"] is True
    await a.execute(provider, K1, P, CTX)  # a replay after a crash: nothing written twice
    assert fake.writes == [("/key/block", {"key": K1})]
    await a.undo(provider, K1, P, prior, CTX)
    assert fake.keys[K1]["blocked"] is False
    assert fake.writes[-1] == ("/key/unblock", {"key": K1})
    assert a.reversible and not a.irreversible


async def test_block_key_never_unblocks_a_key_someone_else_blocked(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.keys[K2]["blocked"] = True
    a = BlockKey()
    prior = await a.snapshot(provider, K2, P)
    await a.execute(provider, K2, P, CTX)
    await a.undo(provider, K2, P, prior, CTX)
    assert fake.keys[K2]["blocked"] is True and fake.writes == []


async def test_a_deleted_key_already_cannot_spend(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    gone = "f" * 64
    for a in (BlockKey(), CapKey()):
        prior = await a.snapshot(provider, gone, P)
        assert prior == {"missing": True}
        assert await a.execute(provider, gone, P, CTX) == {"missing": True}
        await a.undo(provider, gone, P, prior, CTX)
    assert fake.writes == []


async def test_block_flags_applied_is_a_read(fake: FakeLiteLLM, provider: LiteLLMProvider) -> None:
    a = BlockKey()
    assert await a.applied(provider, K1, P) is False
    fake.keys[K1]["blocked"] = True
    assert await a.applied(provider, K1, P) is True
    assert await a.applied(provider, "f" * 64, P) is True  # gone: cannot spend either
    assert fake.writes == []


async def test_cap_key_sets_max_budget_to_spend_and_undo_restores_none(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.keys[K1]["spend"] = 21.37
    a = CapKey()
    prior = await a.snapshot(provider, K1, P)
    assert prior == {"max_budget": None}
    assert await a.execute(provider, K1, P, CTX) == {"capped_at": "21.37"}
    assert fake.keys[K1]["max_budget"] == 21.37  # the proxy refuses while spend >= max_budget
    await a.execute(provider, K1, P, CTX)  # replay: already at spend, nothing written
    assert fake.writes == [("/key/update", {"key": K1, "max_budget": 21.37})]
    await a.undo(provider, K1, P, prior, CTX)
    assert fake.keys[K1]["max_budget"] is None
    assert fake.writes[-1] == ("/key/update", {"key": K1, "max_budget": None})


async def test_cap_key_restores_a_prior_budget_and_leaves_tighter_caps_alone(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.keys[K1].update(spend=30.0, max_budget=100.0)
    fake.keys[K3].update(spend=30.0, max_budget=10.0)  # already refused by the proxy
    a = CapKey()
    prior = await a.snapshot(provider, K1, P)
    await a.execute(provider, K1, P, CTX)
    assert fake.keys[K1]["max_budget"] == 30.0
    await a.undo(provider, K1, P, prior, CTX)
    assert fake.keys[K1]["max_budget"] == 100.0
    await a.execute(provider, K3, P, CTX)
    assert fake.keys[K3]["max_budget"] == 10.0
    assert [w[0] for w in fake.writes] == ["/key/update", "/key/update"]


async def test_cap_key_undo_without_a_journaled_prior_refuses_to_guess(
    provider: LiteLLMProvider,
) -> None:
    with pytest.raises(ActionError, match="no prior max_budget"):
        await CapKey().undo(provider, K1, P, {}, CTX)


async def test_block_team_targets_the_team_and_undo_unblocks(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    a = BlockTeam()
    req = TargetRequest(group="team-groq", scope_each="team", dims={"team": ["team-groq"]})
    assert a.targets(P, req) == ["team-groq"]
    prior = await a.snapshot(provider, "team-groq", P)
    assert prior == {"blocked": False}
    await a.execute(provider, "team-groq", P, CTX)
    await a.execute(provider, "team-groq", P, CTX)
    assert fake.teams["team-groq"]["blocked"] is True
    assert fake.writes == [("/team/block", {"team_id": "team-groq"})]
    await a.undo(provider, "team-groq", P, prior, CTX)
    assert fake.teams["team-groq"]["blocked"] is False
    assert await a.snapshot(provider, "no-such-team", P) == {"missing": True}


def test_key_actions_target_every_key_of_a_breached_group() -> None:
    req = TargetRequest(group="team-groq", scope_each="team", dims={"key": [K2, K1, K1]})
    assert BlockKey().targets(P, req) == [K1, K2]


async def test_a_failed_write_is_an_error_not_a_silent_success(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.inject["/key/block"] = (403, {"error": {"message": "only proxy admins", "code": "403"}})
    with pytest.raises(ActionError, match="403"):
        await BlockKey().execute(provider, K1, P, CTX)
    fake.exchanges.clear()


async def test_block_end_user_and_undo_through_update_not_unblock(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    fake.add_customer("acme", spend=12.0)
    a = BlockEndUser()
    req = TargetRequest(group="acme", scope_each="end_user", dims={"end_user": ["acme"]})
    assert a.targets(P, req) == ["acme"]
    prior = await a.snapshot(provider, "acme", P)
    assert prior == {"blocked": False}
    await a.execute(provider, "acme", P, CTX)
    await a.execute(provider, "acme", P, CTX)
    assert fake.customers["acme"]["blocked"] is True
    await a.undo(provider, "acme", P, prior, CTX)
    # /customer/unblock leaves the proxy's database flag set: undo must use /customer/update
    assert fake.writes == [
        ("/customer/block", {"user_ids": ["acme"]}),
        ("/customer/update", {"user_id": "acme", "blocked": False}),
    ]
    assert fake.customers["acme"]["blocked"] is False


async def test_block_end_user_never_creates_an_unknown_end_user(
    fake: FakeLiteLLM, provider: LiteLLMProvider
) -> None:
    a = BlockEndUser()
    assert await a.execute(provider, "nobody", P, CTX) == {"missing": True}
    assert "nobody" not in fake.customers and fake.writes == []
