"""``model.fast_init``: the hot value types build fast and stay ordinary frozen dataclasses."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from killswitch.model import (
    Decision,
    GroupStatus,
    Money,
    ObservationKind,
    SpendObservation,
    TargetState,
    fast_init,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def obs(**over: object) -> SpendObservation:
    args: dict[str, object] = {
        "source": "s",
        "target": "k1",
        "kind": ObservationKind.TO_DATE,
        "amount": Money(Decimal("1.5")),
        "observed_at": NOW,
        "start": NOW,
        "end": NOW,
        "dims": {"key": "k1"},
    }
    return SpendObservation(**{**args, **over})  # type: ignore[arg-type]


def test_the_hot_types_use_it() -> None:
    for cls in (Money, SpendObservation, Decision, GroupStatus, TargetState):
        assert hasattr(vars(cls)["__init__"], "__wrapped__"), cls


def test_an_instance_is_the_frozen_class_itself() -> None:
    o = obs()
    assert type(o) is SpendObservation
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.target = "k2"  # type: ignore[misc]
    assert o == obs() and o != obs(target="k2")
    assert hash(TargetState(killed=True)) == hash(TargetState(killed=True))
    assert repr(o).startswith("SpendObservation(source='s', target='k1',")


def test_defaults_factories_and_keywords_fill_as_the_dataclass_would() -> None:
    o = SpendObservation("s", "k", ObservationKind.COUNTER, Money(Decimal(1)), NOW)
    assert (o.start, o.end, o.dims, o.complete, o.note) == (None, None, {}, True, "")
    assert SpendObservation("s", "k", ObservationKind.COUNTER, Money(Decimal(1)), NOW).dims is not (
        o.dims
    )  # a fresh dict each time, as default_factory gives
    assert TargetState(killed=True) == dataclasses.replace(TargetState(), killed=True)


def test_post_init_still_checks() -> None:
    with pytest.raises(ValueError, match="to_date observation needs start and end"):
        obs(start=None)


def test_a_wrong_call_names_the_class_and_the_argument() -> None:
    with pytest.raises(TypeError, match=r"SpendObservation.__init__\(\) missing .*'target'"):
        SpendObservation("s")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        obs(colour="red")


def test_replace_and_copies_give_equal_frozen_objects() -> None:
    o = obs()
    for other in (copy.copy(o), copy.deepcopy(o)):
        assert other == o and type(other) is SpendObservation
    r = dataclasses.replace(o, target="k2")
    assert r.target == "k2" and type(r) is SpendObservation


def test_the_signature_is_the_dataclasss() -> None:
    params = inspect.signature(SpendObservation).parameters
    assert list(params)[:5] == ["source", "target", "kind", "amount", "observed_at"]


@fast_init
@dataclass(frozen=True, slots=True)
class Base:
    a: int
    b: list[int] = field(default_factory=list)
    c: int = field(default=0, kw_only=True)


@dataclass(frozen=True, slots=True)
class Child(Base):
    d: int = 1


def test_a_subclass_keeps_the_frozen_init() -> None:
    child = Child(1, [2], c=3, d=4)
    assert type(child) is Child and (child.a, child.b, child.c, child.d) == (1, [2], 3, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.a = 2  # type: ignore[misc]
    assert Base(1, c=5) == Base(1, [], c=5) and type(Base(1)) is Base


@fast_init
@dataclass(frozen=True, slots=True)
class Derived:
    a: int
    tags: dict[str, int] = field(default_factory=dict)
    seen: list[int] = field(default_factory=list, init=False)
    kind: str = field(default="x", init=False)
    flag: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        self.seen.append(self.a)  # runs on the finished object, as the dataclass's would


def test_init_false_fields_factories_and_keywords_are_the_dataclasss() -> None:
    d = Derived(1, {"t": 2}, flag=True)
    assert (d.a, d.tags, d.seen, d.kind, d.flag) == (1, {"t": 2}, [1], "x", True)
    assert Derived(a=1) == Derived(1) and Derived(1).tags is not Derived(1).tags
    with pytest.raises(
        TypeError, match="positional arguments but 4 were given"
    ):  # kw_only stays so
        Derived(1, {}, True)  # type: ignore[misc]
    with pytest.raises(TypeError, match="unexpected keyword argument 'kind'"):
        Derived(1, kind="y")  # type: ignore[call-arg]
    generated = inspect.signature(vars(Derived)["__init__"], follow_wrapped=False)
    assert list(generated.parameters) == ["self", "a", "tags", "flag"]
    assert generated.parameters["flag"].kind is inspect.Parameter.KEYWORD_ONLY


def test_keywords_build_what_positions_build() -> None:
    o = obs()
    by_position = SpendObservation(
        o.source, o.target, o.kind, o.amount, o.observed_at, o.start, o.end, o.dims
    )
    assert by_position == o and type(by_position) is SpendObservation
