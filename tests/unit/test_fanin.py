"""The pure fan-in of a budget across providers: spend summed over sources, each source's share
kept, each provider's own targets for its actions, and nothing unknown ever read as $0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from killswitch.core.evaluate import BudgetRule
from killswitch.core.fanin import Feed, evaluate_feeds
from killswitch.core.scope import Scope
from killswitch.core.windows import WindowSpec
from killswitch.model import (
    BudgetState,
    Coverage,
    DecisionKind,
    Money,
    ObservationKind,
    SpendObservation,
    TargetState,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)


def rule(scope: dict[str, Any] | None = None, limit: int = 100) -> BudgetRule:
    return BudgetRule(
        name="org",
        scope=Scope.parse(scope or {"all": True}),
        window=WindowSpec.parse("daily"),
        limit=Money(Decimal(limit)),
        warn_at=(Decimal("0.8"),),
    )


def to_date(source: str, key: str, usd: str, cur: str = "USD", **dims: str) -> SpendObservation:
    return SpendObservation(
        source,
        key,
        ObservationKind.TO_DATE,
        Money(Decimal(usd), cur),
        NOW,
        DAY.start,
        DAY.end,
        {"key": key, **dims},
    )


def bucket(source: str, key: str, usd: str, hour: int, **dims: str) -> SpendObservation:
    start = DAY.start + timedelta(hours=hour)
    return SpendObservation(
        source,
        key,
        ObservationKind.BUCKET,
        Money(Decimal(usd)),
        NOW,
        start,
        start + timedelta(hours=1),
        {"key": key, **dims},
    )


def shares(status: Any) -> dict[str, Decimal | None]:
    return {
        f"{p.provider}/{p.source}": (p.spend.amount if p.spend else None) for p in status.sources
    }


def test_three_sources_under_the_limit_each_breach_it_in_sum() -> None:
    feeds = [
        Feed("openai", "openai.usage", [bucket("openai.usage", "key_o", "30", 9)]),
        Feed("anthropic", "anthropic.usage", [bucket("anthropic.usage", "apikey_a", "35", 10)]),
        Feed("openrouter", "openrouter", [to_date("openrouter", "h1", "40")]),
    ]
    ev = evaluate_feeds(rule(), feeds, {}, NOW)
    (st,) = ev.statuses
    assert st.state is BudgetState.BREACHED and st.spend == Money(Decimal(105))
    assert shares(st) == {
        "openai/openai.usage": Decimal(30),
        "anthropic/anthropic.usage": Decimal(35),
        "openrouter/openrouter": Decimal(40),
    }
    (kill,) = [d for d in ev.decisions if d.kind is DecisionKind.KILL]
    # each provider's own keys, so each action acts on its own provider's targets only
    assert kill.dims_for("openai") == {"key": ("key_o",)}
    assert kill.dims_for("anthropic") == {"key": ("apikey_a",)}
    assert kill.dims_for("openrouter") == {"key": ("h1",)}
    assert kill.dims_for("xai") == {}  # a provider with nothing in the group gets nothing
    assert kill.dims["key"] == ("apikey_a", "h1", "key_o")


def test_under_the_limit_in_sum_is_a_warning_not_a_kill() -> None:
    feeds = [
        Feed("openai", "openai.usage", [bucket("openai.usage", "k", "50", 9)]),
        Feed("openrouter", "openrouter", [to_date("openrouter", "h1", "35")]),
    ]
    ev = evaluate_feeds(rule(), feeds, {}, NOW)
    assert [d.kind for d in ev.decisions] == [DecisionKind.WARN]
    assert ev.statuses[0].state is BudgetState.WARNING


def test_a_stale_source_counts_its_last_data_and_marks_the_group_stale() -> None:
    feeds = [
        Feed("openai", "openai.usage", [bucket("openai.usage", "k", "20", 9)]),
        Feed("anthropic", "anthropic.usage", [], stale=True, why_stale="last poll failed"),
        Feed("openrouter", "openrouter", [to_date("openrouter", "h1", "10")], stale=True),
    ]
    (st,) = evaluate_feeds(rule(), feeds, {}, NOW).statuses
    assert st.stale and st.spend == Money(Decimal(30))
    # nothing known from anthropic: no amount at all, not $0
    assert shares(st)["anthropic/anthropic.usage"] is None
    assert [p.stale for p in st.sources] == [False, True, True]
    assert "anthropic/anthropic.usage is stale (last poll failed)" in st.detail


def test_one_sources_coverage_never_vouches_for_another_sources_silence() -> None:
    # openai vouches for the whole day so far; anthropic has a key whose only bucket is from
    # yesterday: that key's spend today is unknown, so the group's data is incomplete.
    cover = [Coverage("openai.usage", DAY.start, NOW)]
    old = bucket("anthropic.usage", "apikey_a", "5", -3)
    feeds = [
        Feed("openai", "openai.usage", [bucket("openai.usage", "k", "20", 9)], cover),
        Feed("anthropic", "anthropic.usage", [old]),
    ]
    (st,) = evaluate_feeds(rule(), feeds, {}, NOW).statuses
    assert st.incomplete and st.state is BudgetState.INCOMPLETE
    assert shares(st) == {"openai/openai.usage": Decimal(20), "anthropic/anthropic.usage": None}
    # with its own coverage the missing bucket is $0 and the data complete
    feeds[1] = Feed(
        "anthropic", "anthropic.usage", [old], [Coverage("anthropic.usage", DAY.start, NOW)]
    )
    (st,) = evaluate_feeds(rule(), feeds, {}, NOW).statuses
    assert not st.incomplete and st.state is BudgetState.OK
    assert shares(st)["anthropic/anthropic.usage"] == Decimal(0)


def test_a_source_in_another_currency_is_never_summed_and_errs_the_group() -> None:
    feeds = [
        Feed("openai", "openai.usage", [bucket("openai.usage", "k", "20", 9)]),
        Feed("vendor", "vendor", [to_date("vendor", "v1", "70", "EUR")]),
    ]
    ev = evaluate_feeds(rule(), feeds, {}, NOW)
    (st,) = ev.statuses
    assert st.state is BudgetState.ERROR and st.spend == Money(Decimal(20))
    assert "vendor/vendor: v1 reports EUR, limit is USD" in st.detail
    assert [d.kind for d in ev.decisions] == [DecisionKind.INCOMPLETE]


def test_each_team_groups_across_sources_by_the_shared_dim() -> None:
    feeds = [
        Feed(
            "openai",
            "openai.usage",
            [
                bucket("openai.usage", "k1", "60", 9, team="red"),
                bucket("openai.usage", "k2", "10", 9, team="blue"),
            ],
        ),
        Feed("openrouter", "openrouter", [to_date("openrouter", "h1", "45", team="red")]),
    ]
    ev = evaluate_feeds(rule({"each": "team"}), feeds, {}, NOW)
    by = {s.group: s for s in ev.statuses}
    assert by["red"].state is BudgetState.BREACHED and by["red"].spend == Money(Decimal(105))
    assert by["blue"].state is BudgetState.OK
    assert shares(by["blue"]) == {"openai/openai.usage": Decimal(10), "openrouter/openrouter": None}
    (kill,) = [d for d in ev.decisions if d.kind is DecisionKind.KILL]
    assert kill.group == "red" and kill.dims_for("openrouter") == {"key": ("h1",), "team": ("red",)}


def test_a_killed_group_is_restored_once_the_sum_is_under_the_line_next_window() -> None:
    yesterday = DAY.start - timedelta(days=1)
    prior = {"*": TargetState(window_start=yesterday, killed=True, killed_window_start=yesterday)}
    feeds = [
        Feed("openai", "openai.usage", [bucket("openai.usage", "k", "20", 1)]),
        Feed("openrouter", "openrouter", [to_date("openrouter", "h1", "5")]),
    ]
    ev = evaluate_feeds(rule(), feeds, prior, NOW)
    assert [d.kind for d in ev.decisions] == [DecisionKind.RESTORE]
    # ... but not while one of its sources is stale: its share of the new window is unknown
    feeds.append(Feed("anthropic", "anthropic.usage", [], stale=True))
    ev = evaluate_feeds(rule(), feeds, prior, NOW)
    assert ev.decisions == [] and ev.statuses[0].state is BudgetState.KILLED
