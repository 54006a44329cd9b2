"""/metrics that scale: aggregates for every budget, per-target series only where they matter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from killswitch import config as cfgmod
from killswitch import daemon
from killswitch.core.windows import WindowSpec
from killswitch.metrics import BudgetSeries, Metrics, PerTarget
from killswitch.model import BudgetState, GroupStatus, Money
from killswitch.testing import FakeClock

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
DAILY = WindowSpec.parse("daily")


def samples(m: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(m.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(m: Metrics, name: str, **labels: str) -> float | None:
    for (n, lbls), v in samples(m).items():
        if n == name and set(labels.items()) <= lbls:
            return v
    return None


def status(group: str, spend: str | None, state: BudgetState) -> GroupStatus:
    return GroupStatus(
        "b",
        group,
        DAILY.at(NOW),
        Money(Decimal(spend)) if spend is not None else None,
        Money(Decimal(10)),
        state,
    )


def metrics(per_target: PerTarget = "breaching", max_series: int = 2000) -> Metrics:
    m = Metrics()
    m.init_budgets(
        [BudgetSeries("b", "or", DAILY, Decimal(10), "USD")],
        NOW,
        per_target=per_target,
        max_series=max_series,
    )
    return m


def fleet(m: Metrics, ok: int = 100) -> None:
    m.snapshot.statuses["b"] = [
        *(status(f"k{i}", "1", BudgetState.OK) for i in range(ok)),
        status("warm", "8.5", BudgetState.WARNING),
        status("dead", "12", BudgetState.KILLED),
    ]
    m.publish(NOW, ["b"])


def test_a_budget_has_no_data_series_before_any_poll() -> None:
    m = metrics()
    assert value(m, "killswitch_budget_groups", budget="b", state="no_data") == 1.0
    assert value(m, "killswitch_budget_groups", budget="b", state="ok") == 0.0
    assert value(m, "killswitch_budget_limit_usd", budget="b") == 10.0
    assert value(m, "killswitch_budget_window_end_timestamp_seconds", budget="b") == (
        DAILY.at(NOW).end.timestamp()
    )
    assert value(m, "killswitch_budget_spend_sum_usd", budget="b") is None  # never 0 for no data


def test_declared_groups_get_per_target_no_data_series_from_the_start() -> None:
    m = Metrics()
    m.init_budgets([BudgetSeries("b", "or", DAILY, Decimal(10), "USD", ("*",))], NOW)
    assert value(m, "killswitch_budget_state", budget="b", target="*", state="no_data") == 1.0


def test_aggregates_count_every_group_and_per_target_shows_only_the_breaching() -> None:
    m = metrics()
    fleet(m)
    assert value(m, "killswitch_budget_groups", budget="b", state="ok") == 100.0
    assert value(m, "killswitch_budget_groups", budget="b", state="killed") == 1.0
    assert value(m, "killswitch_budget_groups", budget="b", state="no_data") == 0.0
    assert value(m, "killswitch_budget_spend_sum_usd", budget="b") == 120.5
    assert value(m, "killswitch_budget_utilization_max_ratio", budget="b") == 1.2
    assert value(m, "killswitch_budget_utilization_p95_ratio", budget="b") == 0.1
    assert value(m, "killswitch_budget_state", target="dead", state="killed") == 1.0
    assert value(m, "killswitch_budget_state", target="warm", state="warning") == 1.0
    assert value(m, "killswitch_spend_usd", target="warm") == 8.5
    assert value(m, "killswitch_budget_state", target="k1") is None
    assert value(m, "killswitch_spend_usd", target="k1") is None
    assert value(m, "killswitch_metrics_groups_dropped", budget="b") == 0.0


def test_per_target_all_and_none() -> None:
    m = metrics("all")
    fleet(m, ok=3)
    assert value(m, "killswitch_budget_state", target="k1", state="ok") == 1.0
    m = metrics("none")
    fleet(m, ok=3)
    assert value(m, "killswitch_budget_state", target="dead") is None
    assert value(m, "killswitch_budget_groups", budget="b", state="killed") == 1.0


def test_max_series_keeps_the_most_urgent_whole_targets_and_counts_the_rest() -> None:
    m = metrics("all", max_series=9)  # one target: 7 states + spend + ratio
    fleet(m, ok=5)
    assert value(m, "killswitch_budget_state", target="dead", state="killed") == 1.0
    assert value(m, "killswitch_budget_state", target="warm") is None
    assert value(m, "killswitch_metrics_groups_dropped", budget="b") == 6.0
    per_target = [n for (n, lbls), _ in samples(m).items() if ("target", "dead") in lbls]
    assert len(per_target) == 9


def test_a_scrape_reads_the_published_exposition_not_the_working_snapshot() -> None:
    m = metrics()
    fleet(m)
    m.snapshot.statuses["b"] = []  # the engine mid-cycle: not yet published
    assert value(m, "killswitch_budget_groups", budget="b", state="killed") == 1.0
    m.publish(NOW, ["b"])
    assert value(m, "killswitch_budget_groups", budget="b", state="no_data") == 1.0


def test_10k_keys_stay_small_by_default() -> None:
    m = metrics()
    m.snapshot.statuses["b"] = [
        status(f"{i:064x}", "9" if i % 10 == 0 else "1", BudgetState.WARNING)
        if i % 10 == 0
        else status(f"{i:064x}", "1", BudgetState.OK)
        for i in range(10_000)
    ]
    m.publish(NOW, ["b"])
    body = generate_latest(m.registry)
    assert len(body) < 1_000_000
    assert value(m, "killswitch_budget_groups", budget="b", state="warning") == 1000.0
    assert value(m, "killswitch_metrics_groups_dropped", budget="b") == 1000 - 2000 // 9


async def test_every_source_failing_still_exports_the_budget(tmp_path: Path) -> None:
    clock = FakeClock()
    data = {
        "state": f"sqlite:///{tmp_path / 's.db'}",
        "providers": {
            "or": {"type": "openrouter", "api_key": "k", "base_url": "http://127.0.0.1:9/api/v1"}
        },
        "budgets": [
            {
                "name": "per-key",
                "provider": "or",
                "scope": {"each": "key"},
                "limit_usd": 10,
                "actions": ["openrouter.disable-key"],
            }
        ],
    }
    rt = daemon.build(cfgmod.parse(data), clock=clock, identity="test")
    try:
        assert value(rt.metrics, "killswitch_budget_groups", budget="per-key", state="no_data")
        report = await rt.engine.cycle("or")
        assert not report.ok
        assert (
            value(rt.metrics, "killswitch_budget_groups", budget="per-key", state="no_data") == 1.0
        )
        assert value(rt.metrics, "killswitch_source_stale", provider="or") == 1.0
    finally:
        await rt.aclose()
