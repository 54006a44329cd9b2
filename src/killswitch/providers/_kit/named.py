"""Validators shared by the configs whose entries each become a source named after them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import AfterValidator


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def unique_names(what: str) -> AfterValidator:
    """Refuse two entries of one name: budgets pick a source by name, so it must be unambiguous."""

    def check(entries: Sequence[_Named]) -> Sequence[_Named]:
        names = [e.name for e in entries]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"{what} names must be unique: {', '.join(dup)}")
        return entries

    return AfterValidator(check)
