"""Building blocks the cloud actions (aws, azure, gcp) share.

Every cloud action names its targets in its params (principals, accounts, projects) instead of
reading them from the spend's dimensions, and validates those names against a pattern; each
action class used to write both out again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from killswitch.plugins import ActionParams, TargetRequest


class NamedTargets:
    """Mixin (before ``Action`` in the bases) for actions whose params list their targets.

    ``targets_field`` names the params field; the targets are its values in order, each once
    (after ``target_of``, for params that accept several spellings of one target).
    A plain mixin rather than an ``Action`` subclass, so ``Action[Provider, Params]`` stays a
    direct base and the provider type and params model are still inferred from it.
    """

    target_dim: ClassVar[str | None] = None
    targets_field: ClassVar[str]

    def target_of(self, value: str) -> str:
        """The target a params value names (itself by default; a user ARN -> its name)."""
        return value

    def targets(self, params: ActionParams, request: TargetRequest) -> list[str]:
        return list(dict.fromkeys(self.target_of(v) for v in getattr(params, self.targets_field)))


def require_each(values: Iterable[str], pattern: re.Pattern[str] | str, what: str) -> None:
    """Refuse (ValueError ``'<value>' is not <what>``) the first value ``pattern`` rejects."""
    for v in values:
        if not re.match(pattern, v):
            raise ValueError(f"{v!r} is not {what}")
