"""Carry out one operation at the provider, bounded in time, and say what happened.

:func:`run_op` is the only place a provider's ``execute`` or ``undo`` is called. Whatever the
plugin does (an :class:`ActionError`, a timeout, or a bug raising anything else), the caller
gets an :class:`ActionResult` back, never an exception: a plugin must not kill the loop, nor
lose the journal record of what it was asked to do. Error texts are redacted here.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from killswitch.act.plan import Op
from killswitch.errors import ActionError
from killswitch.plugins import ActionContext, Provider
from killswitch.secrets import redact

log = structlog.get_logger("killswitch.act")

ACTION_TIMEOUT = 120.0


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of one operation. ``prior`` is what to journal for its undo (not announced)."""

    action: str
    target: str
    outcome: Outcome
    error: str | None = None
    undo: str | None = None
    prior: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.FAILURE

    def to_event(self) -> dict[str, Any]:
        """The entry of an event's ``actions`` list: action, target, result, [error], [undo]."""
        out: dict[str, Any] = {
            "action": self.action,
            "target": self.target,
            "result": self.outcome.value,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.undo is not None:
            out["undo"] = self.undo
        return out

    @classmethod
    def dry_run(cls, op: Op) -> ActionResult:
        return cls(op.action.name, op.target, Outcome.DRY_RUN)

    @classmethod
    def skipped(cls, op: Op, why: str) -> ActionResult:
        return cls(op.action.name, op.target, Outcome.SKIPPED, error=why)


async def snapshot(
    op: Op, provider: Provider, timeout: float = ACTION_TIMEOUT
) -> dict[str, Any] | None:
    """Read the prior state before anything changes (raises: the caller must not act blind)."""
    return await asyncio.wait_for(op.impl.snapshot(provider, op.target, op.action.params), timeout)


async def applied(op: Op, provider: Provider, timeout: float = ACTION_TIMEOUT) -> bool | None:
    """Whether ``op`` is already in effect at the provider; ``None`` when it cannot tell.

    A failed read is ``None`` too (logged): the replay then performs the idempotent write, which
    is what it did before providers could be asked.
    """
    try:
        return await asyncio.wait_for(
            op.impl.applied(provider, op.target, op.action.params), timeout
        )
    except Exception as exc:
        error = redact(str(exc) or type(exc).__name__)
        log.warning(
            "cannot read whether the action is applied; replaying it", **_op(op), error=error
        )
        return None


async def run_op(
    op: Op,
    provider: Provider,
    ctx: ActionContext,
    *,
    undo_prior: Mapping[str, Any] | None = None,
    snapshot: Mapping[str, Any] | None = None,
    timeout: float = ACTION_TIMEOUT,
) -> ActionResult:
    """Execute ``op`` (or, with ``undo_prior``, undo it) and return the outcome.

    For a kill, a ``snapshot`` journaled before the call is authoritative: it is merged over
    whatever ``execute`` returns as the prior state.
    """
    verb = "kill" if undo_prior is None else "undo"
    try:
        prior = await asyncio.wait_for(_call(op, provider, ctx, undo_prior), timeout)
    except (ActionError, TimeoutError) as exc:
        error = redact(str(exc) or type(exc).__name__)
        log.error("action failed", op=verb, **_fields(op, ctx), error=error)
        return _failed(op, error)
    except Exception as exc:  # a plugin bug must not kill the loop, nor lose the record
        log.exception("action raised", op=verb, **_fields(op, ctx))
        return _failed(op, redact(f"{type(exc).__name__}: {exc}"))
    if snapshot is not None:  # journaled before the call: authoritative
        prior = {**(prior or {}), **snapshot}
    log.warning("action done", op=verb, **_fields(op, ctx))
    return ActionResult(
        op.action.name, op.target, Outcome.SUCCESS, undo=op.impl.undo_summary, prior=prior
    )


async def _call(
    op: Op, provider: Provider, ctx: ActionContext, undo_prior: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    params = op.action.params
    if undo_prior is None:
        return await op.impl.execute(provider, op.target, params, ctx)
    await op.impl.undo(provider, op.target, params, undo_prior, ctx)
    return dict(undo_prior)


def _failed(op: Op, error: str) -> ActionResult:
    return ActionResult(
        op.action.name, op.target, Outcome.FAILURE, error=error, undo=op.impl.undo_summary
    )


def _op(op: Op) -> dict[str, str]:
    return {"action": op.action.name, "target": op.target}


def _fields(op: Op, ctx: ActionContext) -> dict[str, str]:
    return {"action": op.action.name, "target": op.target, "budget": ctx.budget, "group": ctx.group}
