"""Actions with their undo: spend limit (no prior / prior / already lower), rate limits restored
exactly, key deletion (404 is done, project resolution), project archive; targets and metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from killswitch.errors import ActionError, RefusedAction
from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ActionParams, TargetRequest, registry
from killswitch.providers.openai import (
    ArchiveProject,
    DeleteKey,
    LowerRateLimits,
    OpenAIProvider,
    SetSpendLimit,
)
from killswitch.providers.openai.actions import RateLimitParams

from .conftest import K1, K2, K3, NOW, P1, P2
from .fake import FakeOpenAI, Fault

TODAY = datetime(2026, 11, 23, tzinfo=UTC)
CTX = ActionContext(
    "b", P1, Window(TODAY, TODAY + timedelta(days=1), "daily"), Money.usd(30), Money.usd(25), NOW
)
NONE = ActionParams()


async def run(
    action: Any, provider: OpenAIProvider, target: str, params: Any = NONE
) -> dict[str, Any]:
    """What the executor does: snapshot (journaled), execute, merge (snapshot authoritative)."""
    snap = await action.snapshot(provider, target, params)
    out = await action.execute(provider, target, params, CTX)
    return {**out, **(snap or {})}


def calls(fake: FakeOpenAI, pattern: str = ".*") -> list[tuple[str, str]]:
    import re
    from urllib.parse import urlsplit

    out = []
    for e in fake.exchanges:
        path = re.sub(r"^.*?/v1/", "/", urlsplit(e.url).path)
        if re.fullmatch(pattern, path):
            out.append((e.method, path))
    return out


# ---- spend limit ------------------------------------------------------------------------------


def bill(fake: FakeOpenAI, project: str, *amounts: float) -> None:
    for i, a in enumerate(amounts):
        fake.add_cost(TODAY - timedelta(days=i), project, "gpt-4o, input", a)


async def test_spend_limit_without_prior_limit_then_undo_deletes_it(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    bill(fake, P1, 10.0, 2.345)  # $12.345 billed this month
    bill(fake, P2, 99.0)
    a = SetSpendLimit()
    prior = await run(a, provider, P1)
    assert prior["prior_limit"] is None and prior["set_cents"] == 1234 and prior["changed"]
    assert fake.spend_limits[P1]["threshold_amount"] == 1234
    assert (
        fake.spend_limits[P1]["currency"] == "USD" and fake.spend_limits[P1]["interval"] == "month"
    )
    assert P2 not in fake.spend_limits
    (mtd,) = fake.requests("GET", "/organization/costs")
    assert (
        f"project_ids={P1}" in mtd.url
        and f"start_time={int(TODAY.replace(day=1).timestamp())}" in mtd.url
    )
    await a.undo(provider, P1, NONE, prior, CTX)
    assert P1 not in fake.spend_limits
    assert ("DELETE", f"/organization/projects/{P1}/spend_limit") in calls(fake)
    await a.undo(provider, P1, NONE, prior, CTX)  # idempotent: nothing left to delete
    assert len(fake.requests("DELETE", ".*spend_limit")) == 1


def limit(cents: int) -> dict[str, Any]:
    return {
        "object": "project.spend_limit",
        "threshold_amount": cents,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "inactive"},
    }


async def test_spend_limit_with_prior_limit_then_undo_restores_it(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.spend_limits[P1] = limit(100_000)  # $1000 a month
    bill(fake, P1, 42.0)
    a = SetSpendLimit()
    prior = await run(a, provider, P1)
    assert prior["prior_limit"] == {
        "threshold_amount": 100_000,
        "currency": "USD",
        "interval": "month",
    }
    assert fake.spend_limits[P1]["threshold_amount"] == 4200
    await a.undo(provider, P1, NONE, prior, CTX)
    assert fake.spend_limits[P1]["threshold_amount"] == 100_000
    posts = fake.requests("POST", ".*spend_limit")
    assert [p.body for p in posts] == [
        b'{"threshold_amount":4200,"currency":"USD","interval":"month"}',
        b'{"threshold_amount":100000,"currency":"USD","interval":"month"}',
    ]
    await a.undo(provider, P1, NONE, prior, CTX)  # idempotent
    assert len(fake.requests("POST", ".*spend_limit")) == 2


async def test_a_lower_existing_limit_is_kept_and_never_raised(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.spend_limits[P1] = limit(500)
    bill(fake, P1, 42.0)
    a = SetSpendLimit()
    prior = await run(a, provider, P1)
    assert prior["changed"] is False and prior["set_cents"] == 500
    await a.undo(provider, P1, NONE, prior, CTX)
    assert fake.spend_limits[P1]["threshold_amount"] == 500
    assert fake.requests("POST", ".*spend_limit") == [] and fake.requests("DELETE", ".*") == []


async def test_nothing_billed_yet_means_one_cent(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    prior = await run(SetSpendLimit(), provider, P2)
    assert fake.spend_limits[P2]["threshold_amount"] == 1 and prior["set_cents"] == 1


async def test_unreadable_costs_still_limit_to_one_cent(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.faults.append(Fault("GET", "/organization/costs", 200, {"object": "page"}))
    prior = await run(SetSpendLimit(), provider, P1)
    assert fake.spend_limits[P1]["threshold_amount"] == 1 and "unreadable" in prior["basis"]


async def test_replayed_execute_is_idempotent_and_undo_uses_the_journaled_prior(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    bill(fake, P1, 5.0)
    a = SetSpendLimit()
    snap = await a.snapshot(provider, P1, NONE)
    await a.execute(provider, P1, NONE, CTX)  # crash here: outcome never recorded
    replay = await a.execute(provider, P1, NONE, CTX)  # the journal replays it once
    assert replay["changed"] is False and len(fake.requests("POST", ".*spend_limit")) == 1
    await a.undo(provider, P1, NONE, {**replay, **snap}, CTX)
    assert P1 not in fake.spend_limits  # the prior state was "no limit", not our own 500


async def test_undo_leaves_a_limit_someone_changed_alone(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    bill(fake, P1, 5.0)
    a = SetSpendLimit()
    prior = await run(a, provider, P1)
    fake.spend_limits[P1] = limit(20_000)  # an operator raised it by hand
    await a.undo(provider, P1, NONE, prior, CTX)
    assert fake.spend_limits[P1]["threshold_amount"] == 20_000


async def test_undo_when_the_prior_state_is_already_back(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    bill(fake, P1, 5.0)
    a = SetSpendLimit()
    prior = await run(a, provider, P1)
    del fake.spend_limits[P1]  # someone removed it: that is the prior state ("no limit")
    await a.undo(provider, P1, NONE, prior, CTX)
    assert P1 not in fake.spend_limits and fake.requests("DELETE", ".*") == []


async def test_spend_limit_answer_is_checked(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.faults.append(Fault("POST", ".*/spend_limit", 200, limit(999), spec_valid=True))
    with pytest.raises(ActionError, match="asked for 1 cents"):
        await SetSpendLimit().execute(provider, P2, NONE, CTX)


async def test_spend_limit_refuses_placeholders(provider: OpenAIProvider) -> None:
    with pytest.raises(RefusedAction):
        await SetSpendLimit().execute(provider, "no-project", NONE, CTX)


# ---- rate limits ------------------------------------------------------------------------------


def rate_world(fake: FakeOpenAI) -> None:
    fake.add_rate_limit(
        P1,
        "rl-a",
        "gpt-4o",
        max_requests_per_1_minute=5000,
        max_tokens_per_1_minute=800_000,
        batch_1_day_max_input_tokens=90_000_000,
    )
    fake.add_rate_limit(
        P1,
        "rl-b",
        "dall-e-3",
        max_requests_per_1_minute=500,
        max_tokens_per_1_minute=1,
        max_images_per_1_minute=50,
    )
    fake.add_rate_limit(
        P1, "rl-c", "whisper-1", max_requests_per_1_minute=1, max_tokens_per_1_minute=1
    )
    fake.add_rate_limit(P2, "rl-z", "gpt-4o", max_requests_per_1_minute=10_000)


async def test_rate_limits_lowered_then_restored_exactly(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    rate_world(fake)
    before = {rid: dict(v) for rid, v in fake.rate_limits[P1].items()}
    a = LowerRateLimits()
    prior = await run(a, provider, P1, RateLimitParams())
    assert prior["lowered"] == ["rl-a", "rl-b"]  # rl-c is already at the floor
    assert fake.rate_limits[P1]["rl-a"] | {} == before["rl-a"] | {
        "max_requests_per_1_minute": 1,
        "max_tokens_per_1_minute": 1,
        "batch_1_day_max_input_tokens": 1,
    }
    assert fake.rate_limits[P1]["rl-b"]["max_images_per_1_minute"] == 1
    assert fake.rate_limits[P2]["rl-z"]["max_requests_per_1_minute"] == 10_000
    assert prior["rate_limits"]["rl-a"] == {
        "model": "gpt-4o",
        "max_requests_per_1_minute": 5000,
        "max_tokens_per_1_minute": 800_000,
        "batch_1_day_max_input_tokens": 90_000_000,
    }
    await a.undo(provider, P1, RateLimitParams(), prior, CTX)
    assert fake.rate_limits[P1] == before
    n = len(fake.requests("POST", ".*/rate_limits/.*"))
    await a.undo(provider, P1, RateLimitParams(), prior, CTX)  # idempotent: nothing differs
    assert len(fake.requests("POST", ".*/rate_limits/.*")) == n == 4


async def test_rate_limit_floor_and_models_params(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    rate_world(fake)
    params = RateLimitParams(floor=10, models=("gpt-4o",))
    prior = await run(LowerRateLimits(), provider, P1, params)
    assert prior["lowered"] == ["rl-a"]
    assert fake.rate_limits[P1]["rl-a"]["max_requests_per_1_minute"] == 10
    assert fake.rate_limits[P1]["rl-b"]["max_requests_per_1_minute"] == 500


async def test_rate_limit_pages_are_followed(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    for i in range(130):
        fake.add_rate_limit(P2, f"rl-{i:03d}", f"model-{i}")
    prior = await run(LowerRateLimits(), provider, P2, RateLimitParams())
    assert len(prior["rate_limits"]) == 130 and len(prior["lowered"]) == 130
    lists = fake.requests("GET", f"/organization/projects/{P2}/rate_limits")
    assert len(lists) == 4 and "after=rl-099" in lists[1].url  # snapshot + execute, 2 pages each


async def test_rate_limit_with_nothing_to_lower_fails(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    with pytest.raises(ActionError, match="no rate limits") as exc:
        await LowerRateLimits().execute(provider, P2, RateLimitParams(), CTX)
    assert not exc.value.retryable
    rate_world(fake)
    with pytest.raises(ActionError, match="for o3"):
        await LowerRateLimits().execute(provider, P1, RateLimitParams(models=("o3",)), CTX)


async def test_rate_limit_undo_skips_a_limit_that_is_gone(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    rate_world(fake)
    a = LowerRateLimits()
    prior = await run(a, provider, P1, RateLimitParams())
    del fake.rate_limits[P1]["rl-b"]
    await a.undo(provider, P1, RateLimitParams(), prior, CTX)
    assert fake.rate_limits[P1]["rl-a"]["max_requests_per_1_minute"] == 5000


# ---- keys and projects ------------------------------------------------------------------------


async def test_delete_key_uses_the_project_learned_from_usage(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.add_completion(NOW.replace(minute=1), P2, K3, "gpt-4o-mini", input=10)
    await provider.sources()["openai.usage"].poll(NOW, TODAY)
    fake.exchanges.clear()
    out = await DeleteKey().execute(provider, K3, NONE, CTX)
    assert out == {"already_deleted": False, "project": P2} and K3 not in fake.keys
    assert calls(fake) == [("DELETE", f"/organization/projects/{P2}/api_keys/{K3}")]


async def test_delete_key_scans_projects_when_not_learned(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    out = await DeleteKey().execute(provider, K3, NONE, CTX)
    assert out["project"] == P2 and K3 not in fake.keys
    assert ("GET", f"/organization/projects/{P1}/api_keys/{K3}") in calls(fake)


async def test_delete_key_with_an_explicit_project(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    await DeleteKey().execute(provider, f"{P1}/{K2}", NONE, CTX)
    assert K2 not in fake.keys and calls(fake) == [
        ("DELETE", f"/organization/projects/{P1}/api_keys/{K2}")
    ]


async def test_delete_key_404_is_already_gone(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    out = await DeleteKey().execute(provider, f"{P1}/key_gone", NONE, CTX)
    assert out["already_deleted"] is True
    provider.key_projects[K1] = P1
    await DeleteKey().execute(provider, K1, NONE, CTX)
    assert (await DeleteKey().execute(provider, K1, NONE, CTX))["already_deleted"] is True
    # A key in no project at all is gone too.
    assert (await DeleteKey().execute(provider, "key_never", NONE, CTX))["already_deleted"] is True


async def test_service_account_key_refusal_is_not_retried(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    fake.add_key(P2, "key_svc", owner="service_account")
    with pytest.raises(ActionError, match="service account") as exc:
        await DeleteKey().execute(provider, f"{P2}/key_svc", NONE, CTX)
    assert exc.value.retryable is False


async def test_delete_key_refuses_usage_without_a_key(provider: OpenAIProvider) -> None:
    with pytest.raises(RefusedAction):
        await DeleteKey().execute(provider, "no-key", NONE, CTX)


async def test_archive_project_once(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    a = ArchiveProject()
    assert await a.execute(provider, P1, NONE, CTX) == {"already_archived": False}
    assert fake.projects[P1]["status"] == "archived"
    assert await a.execute(provider, P1, NONE, CTX) == {"already_archived": True}
    assert len(fake.requests("POST", ".*/archive")) == 1


async def test_archive_project_applied_is_a_read(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    a = ArchiveProject()
    assert await a.applied(provider, P1, NONE) is False
    await a.execute(provider, P1, NONE, CTX)
    assert await a.applied(provider, P1, NONE) is True
    assert len(fake.requests("POST", ".*/archive")) == 1  # applied never archived anything


async def test_archive_answer_is_checked(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.faults.append(Fault("POST", ".*/archive", 200, dict(fake.projects[P1]), spec_valid=True))
    with pytest.raises(ActionError, match="not reported archived"):
        await ArchiveProject().execute(provider, P1, NONE, CTX)


def test_targets_use_the_right_dimension_and_skip_placeholders() -> None:
    req = TargetRequest(
        K1, "key", {"key": [K1, "no-key"], "project": [P1, "no-project"], "model": ["m"]}
    )
    assert DeleteKey().targets(NONE, req) == [K1]
    assert SetSpendLimit().targets(NONE, req) == [P1]
    assert LowerRateLimits().targets(RateLimitParams(), req) == [P1]
    assert ArchiveProject().targets(NONE, req) == [P1]


def test_metadata_for_killswitch_providers() -> None:
    acts = registry.load().actions_for("openai")
    assert set(acts) == {
        "openai.spend-limit",
        "openai.rate-limit",
        "openai.delete-key",
        "openai.archive-project",
        "openai.delete-service-account",  # managed keys' (killswitch keys), see test_keys.py
    }
    for cls in acts.values():
        assert cls.permissions and cls.summary and cls.undo_summary
    assert SetSpendLimit().reversible and LowerRateLimits().reversible
    assert DeleteKey.irreversible and not DeleteKey().reversible
    assert ArchiveProject.irreversible and not ArchiveProject().reversible
