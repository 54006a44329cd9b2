"""The shared native-cap scope rule: a cap on one provider object maps only to one each."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.model import Money
from killswitch.plugins import CapRequest, CapUnsupported
from killswitch.providers._admin_api.actions import require_one_each


def _request(scope: dict[str, Any]) -> CapRequest:
    return CapRequest("b", Scope.parse(scope), WindowSpec.parse("monthly"), Money(Decimal(5)))


@pytest.mark.parametrize(
    "scope", [{"each": "project"}, {"projects": ["p1"]}, {"each": "project", "models": ["m"]}]
)
def test_one_project_each_fits(scope: dict[str, Any]) -> None:
    require_one_each(_request(scope), "project", "an OpenAI")


@pytest.mark.parametrize(
    "scope",
    [
        {"each": "key"},
        {"all": True},
        {"projects": ["p1", "p2"]},
        {"each": "key", "projects": ["p"]},
    ],
)
def test_anything_else_is_refused_with_the_scopes_that_fit(scope: dict[str, Any]) -> None:
    with pytest.raises(CapUnsupported) as exc:
        require_one_each(_request(scope), "project", "an OpenAI")
    assert str(exc.value) == (
        "an OpenAI native cap is per project: use scope {each: project} or {projects: [one]}"
    )
