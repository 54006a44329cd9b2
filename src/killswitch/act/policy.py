"""Resolve each budget's :class:`~killswitch.model.BudgetPolicy` from the config, once.

The only module of ``killswitch.act`` that reads the config: everything downstream gets the
frozen policy on the decision (or by budget name, for journal rows replayed after a restart).
"""

from __future__ import annotations

from killswitch.config import BudgetConfig, Config
from killswitch.model import BudgetPolicy, RestoreMode


def policy_of(config: Config, budget: BudgetConfig) -> BudgetPolicy:
    """One budget's policy: the global rails (protect, dry_run) joined with the budget's own."""
    return BudgetPolicy(
        name=budget.name,
        provider=budget.home,
        limit=budget.limit_money,
        window=budget.window_spec,
        actions=tuple(config.actions.get(budget.name, ())),
        protect=frozenset(config.base.protect) | frozenset(budget.protect),
        dry_run=config.base.dry_run or budget.dry_run,
        alert_only=budget.mode == "alert-only",
        restore=RestoreMode(budget.restore),
        scope_each=budget.scope_spec.each,
        config_path=config.source_path,
    )


def resolve(config: Config) -> dict[str, BudgetPolicy]:
    """Every configured budget's policy, by name."""
    return {b.name: policy_of(config, b) for b in config.budgets}
