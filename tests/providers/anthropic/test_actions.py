"""anthropic.deactivate-key and anthropic.archive-workspace: round trips, idempotence, refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from killswitch.capabilities import matrix
from killswitch.errors import ActionError, RefusedAction
from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ActionParams, TargetRequest, registry
from killswitch.providers.anthropic import AnthropicProvider, ArchiveWorkspace, DeactivateKey

from .fake import DOC_KEY, DOC_WORKSPACE, FakeAnthropic, api_key, workspace_obj

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
CTX = ActionContext(
    "anthropic-key-daily",
    DOC_KEY,
    Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC), "daily"),
    Money.usd(41),
    Money.usd(40),
    NOW,
)
P = ActionParams()


async def round_trip(p: AnthropicProvider, target: str) -> dict[str, object]:
    """What the executor does: snapshot (journaled), execute, later undo with the snapshot."""
    a = DeactivateKey()
    snap = await a.snapshot(p, target, P)
    prior = {**(await a.execute(p, target, P, CTX)), **snap}
    return prior


async def test_deactivate_then_undo_restores_exactly_active(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY)
    before = dict(fake.keys[DOC_KEY])
    prior = await round_trip(provider, DOC_KEY)
    assert prior == {"status": "active"}
    assert fake.keys[DOC_KEY]["status"] == "inactive"
    assert fake.posts == [(DOC_KEY, {"status": "inactive"})]
    await DeactivateKey().undo(provider, DOC_KEY, P, prior, CTX)
    assert fake.keys[DOC_KEY] == before
    assert fake.posts[-1] == (DOC_KEY, {"status": "active"})


async def test_execute_and_undo_are_idempotent(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY)
    prior = await round_trip(provider, DOC_KEY)
    await DeactivateKey().execute(provider, DOC_KEY, P, CTX)  # a replay after a crash
    assert [b for _, b in fake.posts] == [{"status": "inactive"}]
    a = DeactivateKey()
    await a.undo(provider, DOC_KEY, P, prior, CTX)
    await a.undo(provider, DOC_KEY, P, prior, CTX)
    assert [b for _, b in fake.posts] == [{"status": "inactive"}, {"status": "active"}]


async def test_a_key_that_was_already_inactive_stays_inactive_after_undo(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY, "inactive")
    prior = await round_trip(provider, DOC_KEY)
    assert prior == {"status": "inactive"} and fake.posts == []
    await DeactivateKey().undo(provider, DOC_KEY, P, prior, CTX)
    assert fake.keys[DOC_KEY]["status"] == "inactive" and fake.posts == []


async def test_a_replay_uses_the_journaled_snapshot_not_our_own_change(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY)
    snap = await DeactivateKey().snapshot(provider, DOC_KEY, P)
    await DeactivateKey().execute(provider, DOC_KEY, P, CTX)  # applied, then the daemon died
    replay = await DeactivateKey().execute(provider, DOC_KEY, P, CTX)
    prior = {**replay, **snap}  # the executor merges the journaled snapshot over the replay
    assert prior == {"status": "active"}
    await DeactivateKey().undo(provider, DOC_KEY, P, prior, CTX)
    assert fake.keys[DOC_KEY]["status"] == "active"


@pytest.mark.parametrize(
    ("status", "applied"), [("active", False), ("inactive", True), ("archived", True)]
)
async def test_applied_reads_the_key_status_and_never_posts(
    provider: AnthropicProvider, fake: FakeAnthropic, status: str, applied: bool
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY, status)
    assert await DeactivateKey().applied(provider, DOC_KEY, P) is applied
    assert fake.posts == []


async def test_a_key_archived_meanwhile_is_reported_not_forced(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY)
    prior = await round_trip(provider, DOC_KEY)
    fake.keys[DOC_KEY]["status"] = "archived"
    with pytest.raises(RefusedAction, match="archived"):
        await DeactivateKey().undo(provider, DOC_KEY, P, prior, CTX)


@pytest.mark.parametrize(
    ("target", "why"), [("workbench", "Workbench"), ("../workspaces/x", "not an Anthropic API key")]
)
async def test_targets_that_are_not_keys_are_refused(
    provider: AnthropicProvider, fake: FakeAnthropic, target: str, why: str
) -> None:
    with pytest.raises(RefusedAction, match=why):
        await DeactivateKey().snapshot(provider, target, P)
    assert fake.requests == []


async def test_a_post_that_does_not_take_is_a_failure(
    provider: AnthropicProvider, fake: FakeAnthropic
) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY)
    path = f"/v1/organizations/api_keys/{DOC_KEY}"
    calls: list[int] = []

    def stubborn() -> tuple[int, object]:
        calls.append(1)
        return 200, api_key(DOC_KEY)  # GET and POST both say: still active

    fake.override[path] = stubborn
    with pytest.raises(ActionError, match="asked for status inactive"):
        await DeactivateKey().execute(provider, DOC_KEY, P, CTX)


async def test_unknown_key_is_a_non_retryable_failure(provider: AnthropicProvider) -> None:
    with pytest.raises(ActionError) as e:
        await DeactivateKey().snapshot(provider, "apikey_01Missing", P)
    assert "HTTP 404" in str(e.value) and not e.value.retryable


async def test_archive_workspace_once(provider: AnthropicProvider, fake: FakeAnthropic) -> None:
    fake.workspaces[DOC_WORKSPACE] = workspace_obj(DOC_WORKSPACE)
    a = ArchiveWorkspace()
    assert a.irreversible and not a.reversible and a.target_dim == "workspace"
    assert await a.execute(provider, DOC_WORKSPACE, P, CTX) == {"already_archived": False}
    assert fake.workspaces[DOC_WORKSPACE]["archived_at"] is not None
    assert await a.execute(provider, DOC_WORKSPACE, P, CTX) == {"already_archived": True}
    assert fake.posts == [(DOC_WORKSPACE, "archive")]
    with pytest.raises(RefusedAction):
        await a.undo(provider, DOC_WORKSPACE, P, {}, CTX)


async def test_the_default_workspace_is_never_archived(provider: AnthropicProvider) -> None:
    with pytest.raises(RefusedAction, match="default workspace"):
        await ArchiveWorkspace().execute(provider, "default", P, CTX)


def test_targets_come_from_the_breached_groups_dims() -> None:
    req = TargetRequest(
        "wrkspc_A", "workspace", {"key": ["apikey_2", "apikey_1"], "workspace": ["wrkspc_A"]}
    )
    assert DeactivateKey().targets(P, req) == ["apikey_1", "apikey_2"]
    assert ArchiveWorkspace().targets(P, req) == ["wrkspc_A"]


def test_capabilities_and_permissions_are_declared() -> None:
    (row,) = [r for r in matrix() if r["provider"] == "anthropic"]
    assert row["sources"] == ["anthropic.usage", "anthropic.costs"]
    acts = {a["name"]: a for a in row["actions"]}
    assert acts["anthropic.deactivate-key"]["reversible"] is True
    assert acts["anthropic.archive-workspace"]["irreversible"] is True
    assert all("Admin API key" in a["permissions"][0] for a in acts.values())
    assert registry.actions["anthropic.deactivate-key"] is DeactivateKey


async def test_doctor_uses_one_cheap_read(provider: AnthropicProvider, fake: FakeAnthropic) -> None:
    fake.keys[DOC_KEY] = api_key(DOC_KEY)
    findings = await provider.doctor(["anthropic.deactivate-key", "anthropic.archive-workspace"])
    assert [(f.check, f.ok) for f in findings] == [
        ("admin key (list API keys)", True),
        ("list workspaces", True),
    ]
    assert [p for _, p, _ in fake.requests] == [
        "/v1/organizations/api_keys",
        "/v1/organizations/workspaces",
    ]
    fake.admin_key = "sk-ant-admin01-rotated"
    (bad,) = await provider.doctor([])
    assert not bad.ok and "HTTP 401" in bad.detail and "sk-ant-admin" in bad.detail
