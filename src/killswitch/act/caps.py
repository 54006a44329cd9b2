"""Native caps kept in sync: read each target's provider-side cap, judge it, set it back, announce.

The provider's cap is the first line of defence and the poll-and-kill path the second; this
module is the first line's keeper. Per cycle and per budget with ``native_cap``: list the
budget's targets, read each cap, let the pure core (:func:`killswitch.core.caps.judge`) decide,
then journal and write (``native_cap: true``) or only alert (``verify``, or a dry run).

A set-back is journaled as an action before it is made (op ``cap``, prior = the value it
replaced, so an operator can put it back by hand); a drift is announced once per episode
(``native_cap_drift``), and a failed set-back once per episode too (``native_cap_failed``).
:func:`inspect` is the read-only half, shared with ``killswitch caps``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from killswitch.act.journal import Journal
from killswitch.config import BudgetConfig, cap_request
from killswitch.core.caps import CapStatus, Drift, NativeCap, judge
from killswitch.core.scope import ALL_GROUP
from killswitch.notifiers.events import Event
from killswitch.plugins import CapUnsupported, NativeCaps, Provider, Registry, registry
from killswitch.secrets import redact

log = structlog.get_logger("killswitch.act.caps")

CAP_TIMEOUT = 120.0  # one budget's caps (list, read, write): a hung provider cannot stall a cycle


@dataclass(frozen=True, slots=True)
class CapRow:
    """One target's cap as configured and as found; what ``killswitch caps`` prints."""

    budget: str
    provider: str
    target: str
    mode: str  # "true" | "verify"
    desired: NativeCap | None
    actual: NativeCap | None
    status: CapStatus
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "provider": self.provider,
            "target": self.target,
            "mode": self.mode,
            "configured": self.desired.to_json() if self.desired else None,
            "actual": self.actual.to_json() if self.actual else None,
            "status": self.status.value,
            "reason": self.reason,
        }


def mode_of(b: BudgetConfig) -> str:
    return "verify" if b.native_cap == "verify" else "true"


def _hooks(provider: Provider, reg: Registry) -> NativeCaps[Any] | None:
    cls = reg.caps_for(provider.config.type)
    return cls() if cls is not None else None


async def inspect(b: BudgetConfig, provider: Provider, *, reg: Registry = registry) -> list[CapRow]:
    """Every target of a ``native_cap`` budget with its configured and actual cap (reads only)."""

    def row(target: str, status: CapStatus, reason: str = "", **kw: Any) -> CapRow:
        return CapRow(b.name, provider.name, target, mode_of(b), status=status, reason=reason, **kw)

    hooks = _hooks(provider, reg)
    request = cap_request(b)
    try:
        if hooks is None:
            raise CapUnsupported(f"provider type {provider.config.type!r} has no native cap")
        desired = hooks.desired(request)
    except CapUnsupported as exc:
        return [row("*", CapStatus.UNSUPPORTED, str(exc), desired=None, actual=None)]
    try:
        found = await hooks.read_all(provider, request)
    except Exception as exc:
        return [row("*", CapStatus.UNREADABLE, _why(exc), desired=desired, actual=None)]
    out = []
    for target, actual in found.items():
        if isinstance(actual, Exception):
            out.append(
                row(target, CapStatus.UNREADABLE, _why(actual), desired=desired, actual=None)
            )
            continue
        status = CapStatus.IN_SYNC if actual.matches(desired) else CapStatus.DRIFT
        out.append(row(target, status, desired=desired, actual=actual))
    return out


def _group(b: BudgetConfig, target: str) -> str:
    """The budget group a target's cap belongs to: itself under ``each``, else the one group."""
    return target if b.scope_spec.each else ALL_GROUP


def _why(exc: BaseException) -> str:
    return redact(str(exc) or type(exc).__name__)


class CapKeeper:
    """Per-cycle sync of native caps; remembers open drift episodes and synced targets."""

    def __init__(
        self,
        journal: Journal,
        providers: Mapping[str, Provider],
        *,
        dry_run: bool = False,
        reg: Registry = registry,
    ) -> None:
        self.journal = journal
        self.providers = providers
        self.dry_run = dry_run
        self.reg = reg
        self._drift: dict[tuple[str, str], Drift] = {}
        self._synced: set[tuple[str, str]] = set()
        self._failed: set[tuple[str, str, str]] = set()

    async def sync(self, budgets: Sequence[BudgetConfig], now: datetime) -> list[Event]:
        """Check (and set back) the caps of these budgets; the events to announce."""
        events: list[Event] = []
        for b in budgets:
            if b.native_cap is False or b.provider is None or b.provider not in self.providers:
                continue  # config refuses native_cap on a budget across providers
            try:
                events += await asyncio.wait_for(self._budget(b, now), CAP_TIMEOUT)
            except TimeoutError:
                log.error("native caps not checked: timed out", budget=b.name)
        return events

    async def _budget(self, b: BudgetConfig, now: datetime) -> list[Event]:
        assert b.provider is not None  # sync() passes single-provider budgets only
        provider = self.providers[b.provider]
        events = []
        # A kill in force may have lowered this very cap (openai.spend-limit): leave it to the
        # kill until its restore, or the keeper would undo the kill.
        held = {k.target for k in self.journal.open_kills(b.name)}
        for r in await inspect(b, provider, reg=self.reg):
            if r.status in (CapStatus.UNSUPPORTED, CapStatus.UNREADABLE):
                log.error("native cap unreadable", budget=b.name, target=r.target, error=r.reason)
                continue
            if r.target in held:
                continue
            events += await self._target(b, provider, r, now)
        return events

    async def _target(
        self, b: BudgetConfig, provider: Provider, r: CapRow, now: datetime
    ) -> list[Event]:
        """Judge one readable target's cap (both values known); set it back, or announce."""
        target, desired, actual = r.target, r.desired, r.actual
        assert desired is not None and actual is not None
        key = (b.name, target)
        enforce = b.native_cap is True and not (self.dry_run or b.dry_run)
        verdict = judge(
            desired,
            actual,
            enforce=enforce,
            synced=self._was_synced(b, target, desired),
            drift=self._drift.get(key),
            now=now,
        )
        if verdict.status is CapStatus.IN_SYNC:
            self._synced.add(key)
        if verdict.drift is None:
            self._drift.pop(key, None)
        else:
            self._drift[key] = verdict.drift
        events = []
        if verdict.announce and verdict.drift is not None:
            events.append(drift_event(b, target, desired, verdict.drift, enforce))
        if verdict.write:
            failed = await self._write(b, provider, target, desired, actual, verdict.status, now)
            if failed is not None:
                events += failed
        return events

    def _was_synced(self, b: BudgetConfig, target: str, desired: NativeCap) -> bool:
        """In sync or set by us since start, or (after a restart) by a journaled write."""
        key = (b.name, target)
        if key in self._synced:
            return True
        row = self.journal.last_cap(b.name, _group(b, target), target)
        done = NativeCap.from_json(row.params.get("cap")) if row is not None else None
        if done is not None and done.matches(desired):
            self._synced.add(key)
            return True
        return False

    async def _write(
        self,
        b: BudgetConfig,
        provider: Provider,
        target: str,
        desired: NativeCap,
        actual: NativeCap,
        status: CapStatus,
        now: datetime,
    ) -> list[Event] | None:
        """Journal, then set the cap; None when it held, else the failure event (once each)."""
        hooks = _hooks(provider, self.reg)
        assert hooks is not None
        action = f"{provider.config.type}.native-cap"
        why = "drift: set back" if status is CapStatus.DRIFT else "first set"
        row_id = self.journal.cap_intent(
            b.name,
            _group(b, target),
            target,
            action,
            {"cap": actual.to_json()},
            {"cap": desired.to_json()},
            now,
            f"native cap {why}: {actual.describe()} -> {desired.describe()}",
        )
        try:
            await hooks.write(provider, target, desired)
        except Exception as exc:
            error = _why(exc)
            self.journal.fail(row_id, now, error)
            log.error("native cap not set", budget=b.name, target=target, error=error)
            return self._failed_event(b, target, desired, error, now)
        self.journal.cap_done(row_id, now)
        self._synced.add((b.name, target))
        self._drift.pop((b.name, target), None)
        log.info(
            "native cap set",
            budget=b.name,
            target=target,
            was=actual.describe(),
            now=desired.describe(),
        )
        return None

    def _failed_event(
        self, b: BudgetConfig, target: str, desired: NativeCap, error: str, now: datetime
    ) -> list[Event]:
        episode = self._drift.get((b.name, target))
        since = (episode.since if episode else now).isoformat()
        return [
            Event(
                "native_cap_failed",
                f"native_cap_failed:{b.name}:{target}:{since}",
                f"{b.name}: could not set the native cap of {target} at {b.provider} to "
                f"{desired.describe()}: {error}; the kill path still enforces the budget",
                now.isoformat(),
                budget=b.name,
                group=target,
                provider=b.provider,
                limit=str(b.limit_money.amount),
                currency=b.limit_money.currency,
            )
        ]


def drift_event(
    b: BudgetConfig, target: str, desired: NativeCap, drift: Drift, enforce: bool
) -> Event:
    """``native_cap_drift``: one per episode (the key holds when it started and what was found)."""
    then = "set back" if enforce else "not changed (native_cap: verify or dry-run): alert only"
    return Event(
        "native_cap_drift",
        f"native_cap_drift:{b.name}:{target}:{drift.since.isoformat()}",
        f"{b.name}: the native cap of {target} at {b.provider} is {drift.actual.describe()}, "
        f"configured {desired.describe()}; changed outside killswitch, {then}",
        drift.since.isoformat(),
        budget=b.name,
        group=target,
        provider=b.provider,
        limit=str(b.limit_money.amount),
        currency=b.limit_money.currency,
        details={
            "configured": desired.describe(),
            "actual": drift.actual.describe(),
            "mode": mode_of(b),
        },
    )


async def inspect_all(
    budgets: Sequence[BudgetConfig],
    providers: Mapping[str, Provider],
    timeout: float,
    *,
    reg: Registry = registry,
) -> list[CapRow]:
    """``killswitch caps``: every ``native_cap`` budget's rows, all within one deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    out: list[CapRow] = []
    for b in budgets:
        if b.native_cap is False or b.provider is None:
            continue  # config refuses native_cap on a budget across providers
        left = deadline - loop.time()
        try:
            if left <= 0:
                raise TimeoutError
            out += await asyncio.wait_for(inspect(b, providers[b.provider], reg=reg), left)
        except TimeoutError:
            why = f"no answer within the {timeout:g}s deadline (--timeout)"
            out.append(
                CapRow(b.name, b.provider, "*", mode_of(b), None, None, CapStatus.UNREADABLE, why)
            )
    return out
