"""Budget scopes: which observations count, and how they are grouped into budget targets.

``{each: key}`` makes one group per key; ``{keys: [a, b]}`` sums the listed keys into one group;
``{all: true}`` sums everything the source reports. Filters and ``each`` combine:
``{each: key, projects: [p1]}`` is one group per key inside project p1. Plural filter names map to
observation dimensions by dropping the trailing "s" (keys->key, projects->project,
budgets->budget, workspaces->workspace, models->model, accounts->account).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from killswitch.model import SpendObservation

ALL_GROUP = "*"


@dataclass(frozen=True, slots=True)
class Scope:
    each: str | None
    filters: tuple[tuple[str, frozenset[str]], ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Scope:
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError(
                "scope must be a mapping such as {each: key}, {keys: [..]} or {all: true}"
            )
        each = None
        filters: dict[str, frozenset[str]] = {}
        for k, v in raw.items():
            if k == "all":
                if v is not True:
                    raise ValueError("scope.all only takes true")
            elif k == "each":
                if not isinstance(v, str) or not v:
                    raise ValueError("scope.each names one dimension, e.g. each: key")
                each = v
            else:
                if (
                    not isinstance(v, list | tuple)
                    or not v
                    or not all(isinstance(x, str) for x in v)
                ):
                    raise ValueError(f"scope.{k} must be a non-empty list of strings")
                dim = k[:-1] if k.endswith("s") else k
                filters[dim] = frozenset(v)
        if "all" in raw and (filters or each):
            raise ValueError("scope.all cannot be combined with each or filters")
        return cls(each, tuple(sorted(filters.items())))

    def matches(self, dims: Mapping[str, str]) -> bool:
        # a loop, not all(<generator>), which builds a generator per observation
        for dim, allowed in self.filters:  # noqa: SIM110
            if dims.get(dim) not in allowed:
                return False
        return True

    def group_of(self, dims: Mapping[str, str]) -> str | None:
        """The group an observation belongs to, or None if out of scope."""
        if not self.matches(dims):
            return None
        if self.each is None:
            return ALL_GROUP
        return dims.get(self.each)

    def declared_groups(self) -> tuple[str, ...]:
        """Groups known from config alone (so their series exist before any data arrives)."""
        if self.each is None:
            return (ALL_GROUP,)
        return ()

    def describe(self) -> str:
        parts = [f"each {self.each}"] if self.each else []
        parts += [f"{d} in [{', '.join(sorted(v))}]" for d, v in self.filters]
        return ", ".join(parts) or "all"


class ObservationIndex:
    """A source's observations indexed by dimension value, built once per source and cycle, so
    each budget scans only the observations its scope can match (100 budgets over a 10k-key
    source: each sees its own keys, not all 10k). A superset is fine: ``group_of`` still decides.
    """

    def __init__(self, observations: Sequence[SpendObservation]) -> None:
        self.observations = observations
        self._by_dim: dict[str, dict[str, list[SpendObservation]]] = {}

    def for_scope(self, scope: Scope) -> Sequence[SpendObservation]:
        if not scope.filters:
            return self.observations
        # the narrowest filter: fewest allowed values (a key list beats a project list)
        dim, allowed = min(scope.filters, key=lambda f: len(f[1]))
        index = self._by_dim.get(dim)
        if index is None:
            index = self._by_dim[dim] = {}
            for o in self.observations:
                v = o.dims.get(dim)
                if v is not None:
                    index.setdefault(v, []).append(o)
        out: list[SpendObservation] = []
        for v in sorted(allowed):
            out += index.get(v, ())
        return out
