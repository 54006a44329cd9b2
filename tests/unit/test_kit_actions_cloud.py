"""The shared cloud kit: named targets and the threaded SDK calls' error mapping."""

from __future__ import annotations

from typing import NoReturn

import pytest

from killswitch.errors import ActionError, SourceError
from killswitch.plugins import ActionParams, TargetRequest
from killswitch.providers._kit.actions import NamedTargets
from killswitch.providers._kit.cloud import ThreadedCalls


class Users(ActionParams):
    users: list[str]


class ByName(NamedTargets):
    targets_field = "users"

    def target_of(self, value: str) -> str:
        return value.rsplit("/", 1)[-1]


def test_named_targets_are_the_field_values_once_each_after_target_of() -> None:
    params = Users(users=["arn:aws:iam::1:user/a", "b", "a"])
    request = TargetRequest(group="g", scope_each=None, dims={})
    assert ByName().targets(params, request) == ["a", "b"]


class Permanent(Exception):
    pass


class Calls(ThreadedCalls):
    def failure(self, what: str, exc: BaseException) -> str:
        return f"{what}: {type(exc).__name__}"

    def permanent(self, exc: BaseException) -> bool:
        return isinstance(exc, Permanent)


def _raise(exc: Exception) -> NoReturn:
    raise exc


async def test_threaded_calls_map_failures_to_the_daemons_errors() -> None:
    calls = Calls()
    assert await calls.source_call("read", lambda: 1) == 1
    with pytest.raises(SourceError, match=r"^read: KeyError$"):
        await calls.source_call("read", lambda: _raise(KeyError("x")))
    with pytest.raises(SourceError, match=r"^bad shape$"):  # a SourceError of its own passes
        await calls.source_call("read", lambda: _raise(SourceError("bad shape")))
    with pytest.raises(ActionError, match=r"^act: Permanent$") as err:
        await calls.action_call("act", lambda: _raise(Permanent()))
    assert err.value.retryable is False
    with pytest.raises(ActionError, match=r"^act: OSError$") as err:
        await calls.action_call("act", lambda: _raise(OSError()))
    assert err.value.retryable is True
    with pytest.raises(ActionError, match=r"^bad shape$") as err:  # a malformed read while acting
        await calls.action_call("act", lambda: _raise(SourceError("bad shape")))
    assert err.value.retryable is True
