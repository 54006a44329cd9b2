"""Managed keys as budgets: every key ``killswitch keys create`` made is enforced by the daemon.

A managed key carries its own limit and window, so each one becomes a budget of its own,
``managed-keys.<provider>.<name>``, scoped to that key (``{each: key, keys: [<id>]}``) and acting
with the actions its provider's :class:`~killswitch.plugins.KeyIssuer` names. They are derived
from the state, never written to the config file: :func:`with_managed` returns the config plus
these budgets, and the engine adopts a new one when the set of managed keys changes. Pure: the
keys are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from killswitch.config import BudgetConfig, Config
from killswitch.model import ManagedKey, ResolvedAction
from killswitch.plugins import Registry, key_issuing, registry

PREFIX = "managed-keys"
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")


def budget_name(provider: str, name: str) -> str:
    return f"{PREFIX}.{provider}.{name}"


def is_managed(budget: str) -> bool:
    return budget.startswith(f"{PREFIX}.")


def check_name(provider: str, name: str) -> str | None:
    """Why ``name`` cannot name a managed key of ``provider`` (None when it can)."""
    if not KEY_NAME.match(name):
        return "use 1-40 letters, digits, '-', '_' or '.', starting alphanumeric"
    if len(budget_name(provider, name)) > 64:
        return f"too long with the provider name: {budget_name(provider, name)!r} exceeds 64"
    return None


def budget_of(key: ManagedKey, reg: Registry, ptype: str) -> BudgetConfig | None:
    """The budget that enforces one key, or None when its provider cannot issue keys (any more)."""
    cls = reg.providers.get(ptype)
    if cls is None or key_issuing(cls) is None:
        return None
    actions: list[Any] = list(cls.key_actions(key))  # type: ignore[attr-defined]
    irreversible = any(
        reg.actions[a if isinstance(a, str) else str(a["type"])].irreversible for a in actions
    )
    return BudgetConfig.model_validate(
        {
            "name": budget_name(key.provider, key.name),
            "provider": key.provider,
            "scope": {"each": "key", "keys": [key.id]},
            "window": key.window,
            "limit": {"amount": key.limit.amount, "currency": key.limit.currency},
            "actions": actions,
            "allow_irreversible": irreversible,
            "restore": "on_reset",
            "description": f"managed key {key.name} (killswitch keys create)",
        }
    )


def _resolve(b: BudgetConfig, reg: Registry) -> tuple[ResolvedAction, ...]:
    out = []
    for entry in b.actions:
        name = entry if isinstance(entry, str) else entry.type
        raw = {} if isinstance(entry, str) else dict(entry.model_extra or {})
        acls = reg.actions[name]
        out.append(ResolvedAction(name, acls.params_model.model_validate(raw), acls.irreversible))
    return tuple(out)


def with_managed(config: Config, keys: Sequence[ManagedKey], reg: Registry | None = None) -> Config:
    """``config`` plus one budget per managed key whose provider entry it still has.

    A configured budget of the same name wins (an operator's word over a derived one). A key
    that cannot become a budget (its provider no longer issues keys, a stored id the action
    refuses) is left out rather than failing the cycle of every other budget:
    :func:`unenforced` names it, and ``keys list`` shows it as NOT ENFORCED.
    """
    reg = reg or registry
    taken = {b.name for b in config.budgets if not is_managed(b.name)}
    base = [b for b in config.budgets if not is_managed(b.name)]
    actions = {n: a for n, a in config.actions.items() if n in taken}
    for key in keys:
        pconf = config.providers.get(key.provider)
        try:
            b = budget_of(key, reg, pconf.type) if pconf is not None else None
            resolved = _resolve(b, reg) if b is not None else ()
        except (ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
            continue
        if b is None or b.name in taken:
            continue
        taken.add(b.name)
        base.append(b)
        actions[b.name] = resolved
    new_base = config.base.model_copy(update={"budgets": tuple(base)})
    return replace(config, base=new_base, actions=actions)


def unenforced(config: Config, keys: Sequence[ManagedKey]) -> list[str]:
    """Names of keys no budget enforces (their provider entry left the config)."""
    names = {b.name for b in config.budgets}
    return [k.name for k in keys if budget_name(k.provider, k.name) not in names]
