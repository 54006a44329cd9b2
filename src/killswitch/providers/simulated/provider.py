"""Deterministic spend ramps that stop while a target is killed.

Each target's lifetime spend is its rate integrated over the time it has been active since start
(the rate is constant, or a ``schedule`` of steps: a runaway at 14:00, a bursty day); killing it
freezes the counter, restoring resumes it. ``lag`` makes the source report spend as of that long
ago, the way real usage APIs do (``data_as_of`` says so). The kill/restore history lives in memory and, when
``state_file`` is set, in a JSON file, so a restarted daemon and the CLI see the same world. It
exercises the ``counter`` observation path and real kill/undo round trips without a network.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from killswitch.errors import ActionError
from killswitch.model import Money, ObservationKind, PollResult, SpendObservation
from killswitch.plugins import (
    Action,
    ActionContext,
    ActionParams,
    Capabilities,
    Prior,
    ProviderConfig,
    Source,
    State,
    registry,
)
from killswitch.providers._kit.provider import BuiltProvider


class RateStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime
    rate_usd_per_second: Decimal = Field(ge=0)


class SimTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    rate_usd_per_second: Decimal = Field(default=Decimal("0.01"), ge=0)
    schedule: list[RateStep] = Field(
        default_factory=list, description="from each step's `at` on, spend at its rate"
    )
    dims: dict[str, str] = Field(default_factory=dict)


class SimulatedConfig(ProviderConfig):
    targets: list[SimTarget] = Field(min_length=1)
    lag: timedelta = Field(
        default=timedelta(0), description="report spend as of this long ago (a usage API's lag)"
    )
    start: datetime | None = Field(default=None, description="ramp origin (default: first poll)")
    state_file: str | None = Field(default=None, description="persist kills across processes")
    fail_polls: bool = Field(default=False, description="every poll fails (tests staleness)")

    @field_validator("lag", mode="before")
    @classmethod
    def _lag(cls, v: object) -> object:
        from killswitch.durations import parse_duration

        return parse_duration(v) if isinstance(v, str) and v not in ("0", "0s") else v


def _secs(td: timedelta) -> Decimal:
    return Decimal(td.days * 86400 + td.seconds) + Decimal(td.microseconds) / 1_000_000


class _Profile:
    """A target's cumulative spend curve from ``origin``: prefix sums over its rate steps, so
    spend at any instant is one bisect away (a day of per-minute steps stays cheap)."""

    def __init__(self, base: Decimal, steps: Sequence[RateStep], origin: datetime) -> None:
        self.times, self.rates, self.cum = [origin], [base], [Decimal(0)]
        for st in sorted(steps, key=lambda x: x.at):
            if st.at <= self.times[-1]:
                self.rates[-1] = st.rate_usd_per_second
                continue
            self.cum.append(self.cum[-1] + self.rates[-1] * _secs(st.at - self.times[-1]))
            self.times.append(st.at)
            self.rates.append(st.rate_usd_per_second)

    def at(self, t: datetime) -> Decimal:
        i = bisect_right(self.times, t) - 1
        if i < 0:
            return Decimal(0)
        return self.cum[i] + self.rates[i] * _secs(t - self.times[i])


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

    def spent(self, target: str, profile: _Profile, now: datetime) -> Decimal:
        """Lifetime spend at ``now``: the curve, minus what it would have spent while disabled."""
        total = profile.at(now)
        for off, on in self.disabled.get(target, []):
            assert off is not None
            start = datetime.fromisoformat(off)
            end = min(datetime.fromisoformat(on) if on else now, now)
            if end > start:
                total -= profile.at(end) - profile.at(start)
        return max(total, Decimal(0))


class SimulatedSource:
    def __init__(self, provider: SimulatedProvider) -> None:
        self.provider = provider
        self.name = "simulated"
        self._profiles: dict[tuple[str, datetime], _Profile] = {}

    def profile(self, t: SimTarget, origin: datetime) -> _Profile:
        p = self._profiles.get((t.id, origin))
        if p is None:
            p = self._profiles[(t.id, origin)] = _Profile(t.rate_usd_per_second, t.schedule, origin)
        return p

    def spent(self, target: str, now: datetime) -> Decimal:
        """A target's true lifetime spend at ``now`` (no lag): what tests and benchmarks check."""
        origin = self._origin(now)
        (t,) = [x for x in self.provider.cfg.targets if x.id == target]
        return self.provider.world.spent(t.id, self.profile(t, origin), now)

    def _origin(self, now: datetime) -> datetime:
        cfg, world = self.provider.cfg, self.provider.world
        if cfg.start is not None:
            return cfg.start
        if world.origin is None:
            world.origin = now.isoformat()
            world.save()
        return datetime.fromisoformat(world.origin)

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        cfg = self.provider.cfg
        if cfg.fail_polls:
            return PollResult(self.name, error="simulated failure (fail_polls: true)")
        world = self.provider.world
        world._load()
        origin = self._origin(now)
        as_of = now - cfg.lag
        obs = []
        for t in cfg.targets:
            spent = world.spent(t.id, self.profile(t, origin), as_of).quantize(Decimal("0.000001"))
            obs.append(
                SpendObservation(
                    source=self.name,
                    target=t.id,
                    kind=ObservationKind.COUNTER,
                    amount=Money(spent, "USD"),
                    observed_at=as_of,
                    dims={"key": t.id, **t.dims},
                )
            )
        # The counter was 0 at the ramp's origin and before it: a baseline sample at the
        # earlier of the two lets windows that began before our first poll be measured exactly.
        base_at = min(origin, since, as_of)
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
        return PollResult(self.name, tuple(obs), data_as_of=as_of)


@registry.provider
class SimulatedProvider(BuiltProvider[SimulatedConfig]):
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

    def setup(self) -> None:
        self.world = _World(self.cfg.state_file)

    def build_sources(self) -> Mapping[str, Source]:
        return {"simulated": SimulatedSource(self)}


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
