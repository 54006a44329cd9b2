"""The shared provider config validators: items are judged one by one, at their index."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from killswitch.providers._kit.cloud import injected_clients
from killswitch.providers._kit.validators import is_loopback, matching, one_of, parsed_by, unique


class Sample(BaseModel):
    ids: Annotated[
        tuple[Annotated[str, matching(r"^[a-z]+$", "{value!r} is not an id")], ...], unique
    ]
    upper: Annotated[str, parsed_by(str.upper)] = "x"
    period: Annotated[int, one_of((1, 60), "period must be one of 1, 60")] = 60


def test_a_bad_item_is_reported_at_its_index() -> None:
    with pytest.raises(ValidationError) as err:
        Sample(ids=("ok", "Not-OK"))
    (e,) = err.value.errors()
    assert e["loc"] == ("ids", 1) and "'Not-OK' is not an id" in e["msg"]


def test_unique_keeps_first_occurrences_in_order() -> None:
    assert Sample(ids=("b", "a", "b")).ids == ("b", "a")


def test_parsed_by_replaces_the_value_and_one_of_rejects_others() -> None:
    assert Sample(ids=(), upper="abc").upper == "ABC"
    with pytest.raises(ValidationError, match="period must be one of 1, 60"):
        Sample(ids=(), period=5)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("::1", True), ("example.com", False), ("", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert is_loopback(None) is False


def test_injected_clients_keeps_only_those_set() -> None:
    class Hooks:
        a = object()
        b = None

    assert injected_clients(Hooks(), "a", "b") == {"a": Hooks.a}
