"""xai.disable-key and xai.rate-limit: exact prior state back on undo; wrong shapes fail loudly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from killswitch.errors import ActionError, RefusedAction
from killswitch.model import Money, Window
from killswitch.plugins import Action, ActionContext, ActionParams, TargetRequest
from killswitch.providers.xai import DisableKey, RateLimit, XaiProvider
from killswitch.providers.xai.actions import KeySelection, RateLimitParams

from .fake import TEAM, FakeXai, key

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CTX = ActionContext(
    "xai-monthly",
    "*",
    Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "monthly"),
    Money.usd(60),
    Money.usd(50),
    NOW,
)
ALL = f"team:{TEAM}"


async def kill(a: Action, p: XaiProvider, target: str, params: ActionParams) -> dict[str, Any]:
    """As the executor does it: snapshot journaled first, then execute, snapshot wins on merge."""
    snap = await a.snapshot(p, target, params) or {}
    return {**(await a.execute(p, target, params, CTX)), **snap}


def state(fake: FakeXai) -> dict[str, tuple[Any, ...]]:
    return {k: (v["disabled"], v["qps"], v["qpm"], v["tpm"]) for k, v in fake.keys.items()}


def test_targets_keys_of_the_group_else_the_whole_team() -> None:
    a = DisableKey()
    team = TargetRequest("*", None, {"team": [TEAM]})
    assert a.targets(KeySelection(), team) == [ALL]
    assert a.targets(KeySelection(keys=["key-0002", "key-0001"]), team) == ["key-0001", "key-0002"]
    keyed = TargetRequest("key-0003", "key", {"key": ["key-0003", "key-0001"]})
    assert a.targets(KeySelection(exclude=["key-0001"]), keyed) == ["key-0003"]


def test_params_are_checked() -> None:
    with pytest.raises(ValidationError):
        KeySelection(keys=["../billing"])
    with pytest.raises(ValidationError):
        RateLimitParams(qpm=0)  # 0 would read as "unset", i.e. unlimited


async def test_disable_one_key_and_undo(provider: XaiProvider, fake: FakeXai) -> None:
    before = state(fake)
    prior = await kill(DisableKey(), provider, "key-0002", KeySelection())
    assert prior["keys"] == {"key-0002": {"disabled": False}}
    assert state(fake)["key-0002"][0] is True
    assert [k for k, _ in fake.puts] == ["key-0002"]
    _, body = fake.puts[0]
    assert body["fieldMask"] == "disabled" and body["apiKey"]["disabled"] is True
    assert body["apiKey"]["qpm"] == 100  # the rest of the key is sent back as listed
    await DisableKey().undo(provider, "key-0002", KeySelection(), prior, CTX)
    assert state(fake) == before


async def test_disable_the_team_except_excluded_and_restore_each_as_it_was(
    provider: XaiProvider, fake: FakeXai
) -> None:
    fake.keys["key-0003"]["disabled"] = True  # someone turned this one off already
    before = state(fake)
    params = KeySelection(exclude=["key-0001"])
    prior = await kill(DisableKey(), provider, ALL, params)
    assert {k: v[0] for k, v in state(fake).items()} == {
        "key-0001": False,
        "key-0002": True,
        "key-0003": True,
    }
    assert [k for k, _ in fake.puts] == ["key-0002"]
    await DisableKey().undo(provider, ALL, params, prior, CTX)
    assert state(fake) == before  # key-0003 stays off


async def test_idempotent_and_replay_safe(provider: XaiProvider, fake: FakeXai) -> None:
    before = state(fake)
    snap = await DisableKey().snapshot(provider, ALL, KeySelection())
    await DisableKey().execute(provider, ALL, KeySelection(), CTX)
    replay = await DisableKey().execute(provider, ALL, KeySelection(), CTX)  # after a crash
    assert len(fake.puts) == 3  # the replay changed nothing
    prior = {**replay, **snap}
    await DisableKey().undo(provider, ALL, KeySelection(), prior, CTX)
    await DisableKey().undo(provider, ALL, KeySelection(), prior, CTX)
    assert state(fake) == before and len(fake.puts) == 6


async def test_applied_means_every_selected_key_is_disabled(
    provider: XaiProvider, fake: FakeXai
) -> None:
    params = KeySelection(exclude=["key-0001"])
    assert await DisableKey().applied(provider, ALL, params) is False
    fake.keys["key-0002"]["disabled"] = True
    assert await DisableKey().applied(provider, ALL, params) is False  # key-0003 still on
    fake.keys["key-0003"]["disabled"] = True
    assert await DisableKey().applied(provider, ALL, params) is True  # key-0001 is excluded
    assert await DisableKey().applied(provider, "key-0001", KeySelection()) is False
    assert fake.puts == []  # a read only


async def test_a_key_created_between_snapshot_and_execute_is_restored_too(
    provider: XaiProvider, fake: FakeXai
) -> None:
    snap = await DisableKey().snapshot(provider, ALL, KeySelection())
    fake.keys["key-0009"] = key(9)
    prior = {**(await DisableKey().execute(provider, ALL, KeySelection(), CTX)), **snap}
    assert all(v["disabled"] for v in fake.keys.values())
    await DisableKey().undo(provider, ALL, KeySelection(), prior, CTX)
    assert not any(v["disabled"] for v in fake.keys.values())


async def test_an_update_that_does_not_take_fails_loudly(
    provider: XaiProvider, fake: FakeXai
) -> None:
    fake.ignore_updates = True  # e.g. the server wants another body shape and ignores ours
    with pytest.raises(ActionError, match="did not change") as e:
        await DisableKey().execute(provider, "key-0001", KeySelection(), CTX)
    assert not e.value.retryable and "shapes.py" in str(e.value)


async def test_unknown_key_and_other_team_are_refused(provider: XaiProvider) -> None:
    with pytest.raises(ActionError, match="not in team"):
        await DisableKey().snapshot(provider, "key-9999", KeySelection())
    with pytest.raises(RefusedAction):
        await DisableKey().snapshot(provider, "team:someone-else", KeySelection())


async def test_rate_limit_to_a_floor_and_restore_exact_limits(
    provider: XaiProvider, fake: FakeXai
) -> None:
    fake.keys["key-0002"].update(qps=None, qpm=1, tpm="250000")
    before = state(fake)
    params = RateLimitParams(qps=1, qpm=10, tpm=100)
    prior = await kill(RateLimit(), provider, ALL, params)
    assert prior["keys"]["key-0001"] == {"qps": 5, "qpm": 100, "tpm": None}
    assert prior["keys"]["key-0002"] == {"qps": None, "qpm": 1, "tpm": 250000}
    assert state(fake)["key-0001"] == (False, 1, 10, "100")
    assert state(fake)["key-0002"] == (False, 1, 1, "100")  # a lower qpm is never raised
    _, body = fake.puts[0]
    assert body["fieldMask"] == "qpm,qps,tpm" and body["apiKey"]["tpm"] == "100"
    await RateLimit().undo(provider, ALL, params, prior, CTX)
    assert state(fake) == before  # unset limits are unset again, tpm is a string again
    assert RateLimit().describe(ALL, params).endswith("qps=1 qpm=10 tpm=100")
