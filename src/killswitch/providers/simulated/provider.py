"""Deterministic spend ramps that stop while a target is killed.

Each target's lifetime spend is ``rate x seconds it has been active since start``; killing it
freezes the counter, restoring resumes it. The kill/restore history lives in memory and, when
``state_file`` is set, in a JSON file, so a restarted daemon and the CLI see the same world. It
exercises the ``counter`` observation path and real kill/undo round trips without a network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from killswitch.errors import ActionError
from killswitch.model import Money, ObservationKind, PollResult, SpendObservation
from killswitch.plugins import (
    Action,
    ActionContext,
    ActionParams,
    Capabilities,
    Prior,
    Provider,
    ProviderConfig,
    ProviderContext,
    Source,
    State,
    registry,
)


class SimTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    rate_usd_per_second: Decimal = Field(default=Decimal("0.01"), ge=0)
    dims: dict[str, str] = Field(default_factory=dict)


class SimulatedConfig(ProviderConfig):
    targets: list[SimTarget] = Field(min_length=1)
    start: datetime | None = Field(default=None, description="ramp origin (default: first poll)")
    state_file: str | None = Field(default=None, description="persist kills across processes")
    fail_polls: bool = Field(default=False, description="every poll fails (tests staleness)")


class _World:
    """Active intervals per target; persisted so kills survive restarts."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.disabled: dict[str, list[list[str | None]]] = {}  # target -> [[off, on|None], ...]
        self.origin: str | None = None
        self.calls: list[dict[str, Any]] = []
        self._load()

    def _load(self) -> None:
        if self.path and self.path.exists():
            data = json.loads(self.path.read_text())
            self.disabled = data.get("disabled", {})
            self.origin = data.get("origin")
            self.calls = data.get("calls", [])

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"disabled": self.disabled, "origin": self.origin, "calls": self.calls})
            )
            os.replace(tmp, self.path)

    def is_disabled(self, target: str) -> bool:
        self._load()
        spans = self.disabled.get(target, [])
        return bool(spans) and spans[-1][1] is None

    def set_disabled(self, target: str, disabled: bool, at: datetime, op: str) -> bool:
        """Returns the prior 'disabled' value. Idempotent."""
        self._load()
        prior = self.is_disabled(target)
        self.calls.append({"op": op, "target": target, "at": at.isoformat()})
        if disabled and not prior:
            self.disabled.setdefault(target, []).append([at.isoformat(), None])
        elif not disabled and prior:
            self.disabled[target][-1][1] = at.isoformat()
        self.save()
        return prior

    def active_seconds(self, target: str, origin: datetime, now: datetime) -> Decimal:
        total = Decimal(str(max(0.0, (now - origin).total_seconds())))
        for off, on in self.disabled.get(target, []):
            assert off is not None
            start = max(datetime.fromisoformat(off), origin)
            end = min(datetime.fromisoformat(on) if on else now, now)
            if end > start:
                total -= Decimal(str((end - start).total_seconds()))
        return max(total, Decimal(0))


class SimulatedSource:
    def __init__(self, provider: SimulatedProvider) -> None:
        self.provider = provider
        self.name = "simulated"

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        cfg = self.provider.cfg
        if cfg.fail_polls:
            return PollResult(self.name, error="simulated failure (fail_polls: true)")
        world = self.provider.world
        world._load()
        if cfg.start is not None:
            origin = cfg.start
        else:
            if world.origin is None:
                world.origin = now.isoformat()
                world.save()
            origin = datetime.fromisoformat(world.origin)
        obs = []
        for t in cfg.targets:
            spent = (t.rate_usd_per_second * world.active_seconds(t.id, origin, now)).quantize(
                Decimal("0.000001")
            )
            obs.append(
                SpendObservation(
                    source=self.name,
                    target=t.id,
                    kind=ObservationKind.COUNTER,
                    amount=Money(spent, "USD"),
                    observed_at=now,
                    dims={"key": t.id, **t.dims},
                )
            )
        # The counter was 0 at the ramp's origin and before it: a baseline sample at the
        # earlier of the two lets windows that began before our first poll be measured exactly.
        base_at = min(origin, since)
        obs += [
            SpendObservation(
                source=self.name,
                target=t.id,
                kind=ObservationKind.COUNTER,
                amount=Money(Decimal(0), "USD"),
                observed_at=base_at,
                dims={"key": t.id, **t.dims},
            )
            for t in cfg.targets
        ]
        return PollResult(self.name, tuple(obs), data_as_of=now)


@registry.provider
class SimulatedProvider(Provider[SimulatedConfig]):
    type = "simulated"
    config_model = SimulatedConfig
    source_names = ("simulated",)
    capabilities = Capabilities(
        reads=["per-target lifetime spend counter (deterministic ramp)"],
        granularity="per poll",
        latency="none",
        scopes=["all", "key", "any configured dimension"],
        notes=["for the demo and tests; kills freeze a target's ramp, restores resume it"],
    )

    def __init__(self, name: str, config: SimulatedConfig, context: ProviderContext) -> None:
        super().__init__(name, config, context)
        self.world = _World(config.state_file)
        self._sources: Mapping[str, Source] = {"simulated": SimulatedSource(self)}

    def sources(self) -> Mapping[str, Source]:
        return self._sources


class FailParams(ActionParams):
    fail: bool = Field(default=False, description="make the action fail (tests retries)")


@registry.action
class SimulatedDisable(Action[SimulatedProvider, FailParams]):
    name = "simulated.disable"
    summary = "freeze a simulated target's spend ramp"
    undo_summary = "simulated.disable undo: resume the ramp"

    async def applied(self, provider: SimulatedProvider, target: str, params: FailParams) -> bool:
        return provider.world.is_disabled(target)

    async def execute(
        self, provider: SimulatedProvider, target: str, params: FailParams, ctx: ActionContext
    ) -> State:
        if params.fail:
            raise ActionError("simulated action failure (fail: true)")
        prior = provider.world.set_disabled(target, True, ctx.now, "disable")
        return {"disabled": prior}

    async def undo(
        self,
        provider: SimulatedProvider,
        target: str,
        params: FailParams,
        prior: Prior,
        ctx: ActionContext,
    ) -> None:
        provider.world.set_disabled(target, bool(prior.get("disabled", False)), ctx.now, "enable")


@registry.action
class SimulatedDelete(Action[SimulatedProvider, ActionParams]):
    name = "simulated.delete"
    summary = "permanently remove a simulated target (irreversible; for testing the opt-in)"

    async def execute(
        self, provider: SimulatedProvider, target: str, params: ActionParams, ctx: ActionContext
    ) -> State:
        provider.world.set_disabled(target, True, ctx.now, "delete")
        return {}
