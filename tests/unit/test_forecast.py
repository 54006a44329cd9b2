"""Forecast kills, pure: the projector (rate, data age, too little history) and the core's
forecast warnings and kills on top of the reactive checks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch import config as cfgmod
from killswitch.core.evaluate import BudgetRule, evaluate
from killswitch.core.forecast import (
    ForecastRule,
    History,
    Sample,
    crossing,
    project,
    robust_rate,
    steepest,
)
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.errors import ConfigError
from killswitch.model import (
    DecisionKind,
    Money,
    ObservationKind,
    SpendObservation,
    TargetState,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)
FR = ForecastRule(horizon=timedelta(minutes=15), kill=True, min_history=timedelta(minutes=10))


def ramp(
    minutes: int, per_minute: str, *, start: str = "0", end: datetime = NOW, lag: int = 0
) -> list[Sample]:
    """One sample a minute for ``minutes`` minutes up to ``end - lag`` at a constant rate."""
    last = end - timedelta(minutes=lag)
    rate, base = Decimal(per_minute), Decimal(start)
    return [
        Sample(last - timedelta(minutes=minutes - i), base + rate * i, DAY.start)
        for i in range(minutes + 1)
    ]


def test_a_ramp_that_will_cross_is_projected_past_the_line_with_its_rate_and_crossing() -> None:
    # $0.20/min = $12/h, at $5 now; 15 min ahead: $8, crossing $6 in 5 min
    samples = ramp(10, "0.2", start="3")
    f = project(FR, samples, DAY, NOW, Decimal(6))
    assert f is not None
    assert f.rate_per_hour == Money(Decimal(12))
    assert f.projected.amount == Decimal(8)
    assert f.crosses_at == NOW + timedelta(minutes=5)
    assert f.at == NOW + timedelta(minutes=15)


def test_too_little_history_gives_no_projection() -> None:
    assert project(FR, ramp(9, "1"), DAY, NOW, Decimal(1)) is None
    assert project(FR, ramp(0, "1"), DAY, NOW, Decimal(1)) is None
    assert project(FR, [], DAY, NOW, Decimal(1)) is None
    assert project(FR, ramp(10, "1"), DAY, NOW, Decimal(1)) is not None


def test_samples_of_an_earlier_window_are_not_history() -> None:
    yesterday = DAY.start - timedelta(days=1)
    old = [
        Sample(s.as_of, s.spend, yesterday) for s in ramp(30, "1", end=NOW - timedelta(minutes=5))
    ]
    assert project(FR, [*old, *ramp(4, "1")], DAY, NOW, Decimal(1)) is None


def test_the_data_age_is_extrapolated_so_the_estimate_is_of_spend_now() -> None:
    """Data cut 5 minutes ago at $5, $1/min: spend now is about $10, in 15 minutes $25."""
    samples = ramp(10, "1", start="-5", lag=5)
    f = project(FR, samples, DAY, NOW, Decimal(100))
    assert f is not None
    assert f.data_age == timedelta(minutes=5)
    assert f.estimated_now.amount == Decimal(10)
    assert f.projected.amount == Decimal(25)
    fresh = project(FR, ramp(10, "1", start="-5"), DAY, NOW, Decimal(100))
    assert fresh is not None and fresh.projected.amount == Decimal(20)


def test_the_projection_stops_at_the_window_end() -> None:
    late = DAY.end - timedelta(minutes=5)
    samples = ramp(10, "1", end=late)
    f = project(FR, samples, DAY, late, Decimal(100))
    assert f is not None and f.at == DAY.end
    assert f.projected.amount == Decimal(15)  # $10 now + 5 minutes, not 15


def test_one_burst_does_not_move_the_rate_a_sustained_ramp_does() -> None:
    steady = ramp(10, "0.1")
    burst = [
        Sample(s.as_of, s.spend + (Decimal(5) if i >= 9 else 0), s.window_start)
        for i, s in enumerate(steady)
    ]
    assert robust_rate(burst) == robust_rate(steady) == Decimal("0.1") / 60
    sustained = [*ramp(4, "0.1", end=NOW - timedelta(minutes=6)), *ramp(5, "2", start="0.4")]
    assert robust_rate(sustained) > Decimal(1) / 60


def test_crossing_is_the_projection_when_it_reaches_the_line_and_none_otherwise() -> None:
    rnd = random.Random(3)
    for _ in range(200):
        spend, samples = Decimal(0), []
        for m in range(15):
            spend += Decimal(rnd.randint(0, 100)) / 100
            samples.append(Sample(NOW - timedelta(minutes=14 - m), spend, DAY.start))
        line = Decimal(rnd.randint(5, 40))
        f = project(FR, samples, DAY, NOW, line)
        assert f is not None and robust_rate(samples) <= steepest(samples)
        assert crossing(FR, samples, DAY, NOW, line) == (f if f.projected.amount >= line else None)


def test_spend_that_went_down_is_not_a_negative_rate() -> None:
    assert robust_rate(ramp(10, "-1", start="20")) == 0


def test_a_steady_noisy_workload_at_90_percent_is_never_projected_past_its_cap() -> None:
    """A day of bursty noise whose total is 90% of the cap: no projection crosses the cap."""
    cap = Decimal(100)
    rnd = random.Random(7)
    minutes = 24 * 60
    weights = []
    burst = 0
    for _ in range(minutes):
        if burst == 0 and rnd.random() < 0.02:
            burst = rnd.randint(1, 8)
        w = rnd.lognormvariate(0, 0.5) * (rnd.uniform(2, 5) if burst else 1)
        burst = max(0, burst - 1)
        weights.append(w)
    scale = Decimal("0.9") * cap / Decimal(str(sum(weights)))
    spend, history = Decimal(0), History(FR.min_history + FR.horizon)
    crossed = 0
    for m in range(minutes):
        spend += Decimal(str(weights[m])) * scale
        as_of = DAY.start + timedelta(minutes=m + 1)
        history.add("k", Sample(as_of, spend, DAY.start))
        f = project(FR, history["k"], DAY, as_of + timedelta(minutes=5), cap)
        crossed += bool(f and f.projected.amount >= cap)
    assert spend < cap and crossed == 0


def test_history_is_bounded_by_time_and_reset_by_a_new_window() -> None:
    h = History(timedelta(minutes=10), max_samples=100)
    for s in ramp(60, "1"):
        h.add("k", s)
    assert len(h["k"]) == 11  # the last 10 minutes, both ends included
    h.add("k", Sample(NOW, Decimal(99), DAY.start))  # same as_of: replaced, not appended
    assert len(h["k"]) == 11 and h["k"][-1].spend == 99
    h.add("k", Sample(DAY.end, Decimal(0), DAY.end))
    assert len(h["k"]) == 1
    h.retain([])
    assert "k" not in h


# ---- the core: forecast decisions on top of the reactive checks ---------------------------


def rule(forecast: ForecastRule | None = FR, **kw: Any) -> BudgetRule:
    base: dict[str, Any] = dict(
        name="b",
        scope=Scope.parse({"each": "key"}),
        window=WindowSpec.parse("daily"),
        limit=Money(Decimal(10)),
        warn_at=(),
        forecast=forecast,
    )
    base.update(kw)
    return BudgetRule(**base)


def obs(usd: str, at: datetime = NOW) -> SpendObservation:
    return SpendObservation(
        "src", "k1", ObservationKind.TO_DATE, Money(Decimal(usd)), at, DAY.start, DAY.end,
        {"key": "k1"},
    )  # fmt: skip


def test_a_ramp_is_killed_on_forecast_with_a_reason_that_says_so() -> None:
    past = ramp(10, "0.4", start="0.6", end=NOW - timedelta(minutes=1))  # to $4.60
    ev = evaluate(rule(), [obs("5")], {}, NOW, history={"k1": past})
    (d,) = ev.decisions
    assert d.kind is DecisionKind.KILL and d.reason.startswith("forecast:")
    assert d.forecast is not None and d.forecast.projected.amount == Decimal(11)
    assert "24.00 USD per hour" in d.reason and d.spend == Money(Decimal(5))
    assert ev.samples["k1"] == Sample(NOW, Decimal(5), DAY.start)


def test_without_kill_the_forecast_only_warns_and_only_once_per_window() -> None:
    past = ramp(10, "0.4", start="0.6", end=NOW - timedelta(minutes=1))
    r = rule(ForecastRule(kill=False))
    ev = evaluate(r, [obs("5")], {}, NOW, history={"k1": past})
    (d,) = ev.decisions
    assert d.kind is DecisionKind.FORECAST_WARN and d.forecast is not None
    again = evaluate(r, [obs("5")], ev.states, NOW, history={"k1": past})
    assert again.decisions == []
    assert ev.states["k1"].forecast_warned_window == DAY.start


def test_a_slow_group_is_not_forecast_and_a_killed_or_breached_one_not_twice() -> None:
    slow = ramp(10, "0.01", start="3", end=NOW - timedelta(minutes=1))
    assert evaluate(rule(), [obs("3.11")], {}, NOW, history={"k1": slow}).decisions == []
    fast = ramp(10, "0.4", start="0.6", end=NOW - timedelta(minutes=1))
    killed = {"k1": TargetState(DAY.start, killed=True, killed_window_start=DAY.start)}
    assert evaluate(rule(), [obs("5")], killed, NOW, history={"k1": fast}).decisions == []
    (d,) = evaluate(rule(), [obs("10")], {}, NOW, history={"k1": fast}).decisions
    assert d.kind is DecisionKind.KILL and d.forecast is None  # the reactive kill


def test_no_forecast_on_stale_data_or_without_a_forecast_rule() -> None:
    fast = ramp(10, "0.4", start="0.6", end=NOW - timedelta(minutes=1))
    hist = {"k1": fast}
    assert evaluate(rule(), [obs("5")], {}, NOW, history=hist, stale=True).decisions == []
    plain = evaluate(rule(None), [obs("5")], {}, NOW, history=hist)
    assert plain.decisions == [] and plain.samples == {}


def test_the_sample_is_dated_by_the_data_not_by_the_poll() -> None:
    cut = NOW - timedelta(minutes=5)
    ev = evaluate(rule(), [obs("5")], {}, NOW, data_as_of=cut)
    assert ev.samples["k1"].as_of == cut


# ---- config ---------------------------------------------------------------------------


def budget(**forecast: Any) -> dict[str, Any]:
    return {
        "providers": {"sim": {"type": "simulated", "targets": [{"id": "a"}]}},
        "budgets": [
            {
                "name": "b",
                "provider": "sim",
                "limit_usd": 10,
                "actions": ["simulated.disable"],
                "forecast": forecast,
            }
        ],
    }


def test_forecast_config_parses_durations_and_defaults() -> None:
    b = cfgmod.parse(budget(horizon="20m", kill=True)).budgets[0]
    assert b.forecast is not None
    assert b.forecast.rule == ForecastRule(timedelta(minutes=20), True, timedelta(minutes=10))
    assert cfgmod.parse(budget()).budgets[0].forecast == cfgmod.ForecastConfig()


@pytest.mark.parametrize(
    ("forecast", "field", "words"),
    [
        ({"horizon": "soon"}, "budgets[0].forecast.horizon", "not a duration"),
        ({"min_history": "10s"}, "budgets[0].forecast", "min_history under 1m"),
        ({"horizon": "2d"}, "budgets[0].forecast", "horizon above 1d"),
        ({"kil": True}, "budgets[0].forecast.kil", "unknown field"),
    ],
)
def test_forecast_config_errors_name_the_field(
    forecast: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        cfgmod.parse(budget(**forecast))
    ((path, msg),) = exc.value.problems
    assert path == field and words in msg and "\n" not in msg
