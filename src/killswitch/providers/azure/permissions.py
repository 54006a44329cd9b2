"""Azure RBAC operations each source and action needs, and how Azure evaluates them.

One table feeds ``Action.permissions`` (what ``killswitch providers`` prints), ``doctor``'s
check against ``Microsoft.Authorization/permissions`` and the test that keeps
``deploy/permissions/azure-role-definition.json`` complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

BUDGETS = ("Microsoft.Consumption/budgets/read",)
COST_QUERY = ("Microsoft.CostManagement/query/action",)
# ARM answers a PATCH with 202 + Azure-AsyncOperation; the status URL lives at
# /subscriptions/{id}/providers/Microsoft.CognitiveServices/locations/{region}/operationResults.
OPERATION_STATUS = "Microsoft.CognitiveServices/locations/operationResults/read"
DISABLE_LOCAL_AUTH = (
    "Microsoft.CognitiveServices/accounts/read",
    "Microsoft.CognitiveServices/accounts/write",
    OPERATION_STATUS,
)
REGENERATE_KEYS = ("Microsoft.CognitiveServices/accounts/regenerateKey/action",)
DEPLOYMENT_CAPACITY = (
    "Microsoft.CognitiveServices/accounts/deployments/read",
    "Microsoft.CognitiveServices/accounts/deployments/write",
    OPERATION_STATUS,
)
DOCTOR = ("Microsoft.Authorization/permissions/read",)

SOURCES: Mapping[str, tuple[str, ...]] = {
    "azure.budgets": BUDGETS,
    "azure.cost-query": COST_QUERY,
}
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "azure.disable-local-auth": DISABLE_LOCAL_AUTH,
    "azure.regenerate-keys": REGENERATE_KEYS,
    "azure.deployment-capacity": DEPLOYMENT_CAPACITY,
}


def every() -> list[str]:
    """Every operation any part of the provider needs (the custom role's Actions)."""
    ops: Iterable[str] = (
        p for group in (*SOURCES.values(), *ACTIONS.values(), DOCTOR) for p in group
    )
    return sorted(set(ops), key=str.lower)


@lru_cache(maxsize=256)
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(map(re.escape, glob.split("*"))) + "$", re.IGNORECASE)


def _matches(globs: Sequence[Any], operation: str) -> bool:
    return any(isinstance(g, str) and _pattern(g).match(operation) for g in globs)


def allowed(entries: Sequence[Mapping[str, Any]], operation: str) -> bool:
    """Azure's rule: some assignment's ``actions`` match and none of ITS ``notActions`` do.

    ``entries`` is the ``value`` list of ``GET {scope}/providers/Microsoft.Authorization/
    permissions``: one entry per role the caller holds at that scope (deny assignments are not
    listed there, so a ``True`` can still be overridden by one).
    """
    return any(
        _matches(e.get("actions") or (), operation)
        and not _matches(e.get("notActions") or (), operation)
        for e in entries
    )


def missing(entries: Sequence[Mapping[str, Any]], wanted: Iterable[str]) -> list[str]:
    return [op for op in wanted if not allowed(entries, op)]
