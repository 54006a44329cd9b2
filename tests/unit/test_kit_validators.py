"""The shared provider config validators: items are judged one by one, at their index."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from killswitch.providers._kit.cloud import injected_clients
from killswitch.providers._kit.validators import (
    checked_by,
    is_loopback,
    matching,
    one_of,
    parsed_by,
    unique,
)


def _short(value: str) -> str:
    if len(value) > 3:
        raise ValueError(f"{value!r} is too long")
    return value.upper()  # a parser's result, which checked_by does not keep


class Sample(BaseModel):
    ids: Annotated[
        tuple[Annotated[str, matching(r"^[a-z]+$", "{value!r} is not an id")], ...], unique
    ]
    upper: Annotated[str, parsed_by(str.upper)] = "x"
    period: Annotated[int, one_of((1, 60), "period must be one of 1, 60")] = 60
    short: list[Annotated[str, checked_by(_short)]] = []


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


def test_checked_by_keeps_the_value_as_written_and_reports_a_bad_item_at_its_index() -> None:
    assert Sample(ids=(), short=["ab"]).short == ["ab"]
    with pytest.raises(ValidationError) as err:
        Sample(ids=(), short=["ab", "abcd"])
    (e,) = err.value.errors()
    assert e["loc"] == ("short", 1) and "'abcd' is too long" in e["msg"]


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
