"""core/spend.py: which observations make a window's spend, and when there is none (never 0)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from killswitch.core.spend import covered, group_spend, target_spend
from killswitch.core.windows import WindowSpec
from killswitch.model import Coverage, Money, ObservationKind, SpendObservation

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
DAY = WindowSpec.parse("daily").at(NOW)
H = timedelta(hours=1)


def obs(kind: ObservationKind, usd: str, at: datetime = NOW, **kw: Any) -> SpendObservation:
    return SpendObservation("s", "k", kind, Money(Decimal(usd)), at, **kw)


def test_to_date_for_the_exact_window_wins_and_the_latest_reading_counts() -> None:
    old = obs(ObservationKind.TO_DATE, "1", NOW - H, start=DAY.start, end=DAY.end)
    new = obs(ObservationKind.TO_DATE, "3", NOW, start=DAY.start, end=DAY.end)
    other = obs(ObservationKind.TO_DATE, "99", NOW, start=DAY.start - 24 * H, end=DAY.start)
    bucket = obs(ObservationKind.BUCKET, "50", start=DAY.start, end=DAY.start + H)
    ts = target_spend([new, old, other, bucket], DAY, "USD", NOW)
    assert ts.amount == Money(Decimal(3)) and ts.complete


def test_buckets_inside_the_window_add_up_and_a_reread_replaces() -> None:
    a = obs(ObservationKind.BUCKET, "1", NOW - H, start=DAY.start, end=DAY.start + H)
    a2 = obs(ObservationKind.BUCKET, "2", NOW, start=DAY.start, end=DAY.start + H)
    b = obs(ObservationKind.BUCKET, "0.5", start=DAY.start + H, end=DAY.start + 2 * H)
    before = obs(ObservationKind.BUCKET, "7", start=DAY.start - H, end=DAY.start)
    assert target_spend([a, a2, b, before], DAY, "USD", NOW).amount == Money(Decimal("2.5"))


def test_counter_is_the_difference_from_the_last_sample_before_the_window() -> None:
    base = obs(ObservationKind.COUNTER, "10", DAY.start - H)
    mid = obs(ObservationKind.COUNTER, "12", DAY.start + H)
    last = obs(ObservationKind.COUNTER, "15", NOW)
    ts = target_spend([last, base, mid], DAY, "USD", NOW)
    assert ts.amount == Money(Decimal(5)) and ts.complete


def test_counter_history_starting_inside_the_window_is_incomplete() -> None:
    first = obs(ObservationKind.COUNTER, "12", DAY.start + H)
    last = obs(ObservationKind.COUNTER, "15", NOW)
    ts = target_spend([first, last], DAY, "USD", NOW)
    assert ts.amount == Money(Decimal(3)) and not ts.complete
    one = target_spend([last], DAY, "USD", NOW)
    assert one.amount is None and "need two" in one.notes[0]


def test_no_observation_is_no_data_never_zero() -> None:
    ts = target_spend([], DAY, "USD", NOW)
    assert ts.amount is None and not ts.complete and ts.notes == ["no data"]


def test_coverage_spans_merge_and_make_missing_buckets_zero() -> None:
    spans = [Coverage("s", DAY.start, DAY.start + H), Coverage("s", DAY.start + H, NOW)]
    assert covered(spans, DAY.start, NOW)
    assert not covered(spans[:1], DAY.start, NOW)
    gs = group_spend({"k": []}, DAY, "USD", NOW, spans)
    assert gs.amount == Money(Decimal(0)) and gs.complete
    assert group_spend({"k": []}, DAY, "USD", NOW).amount is None


def test_group_sum_is_incomplete_when_a_member_has_no_data_or_another_currency() -> None:
    a = obs(ObservationKind.TO_DATE, "2", start=DAY.start, end=DAY.end, dims={"team": "x"})
    eur = SpendObservation(
        "s", "e", ObservationKind.TO_DATE, Money(Decimal(1), "EUR"), NOW, DAY.start, DAY.end
    )
    gs = group_spend({"k": [a], "none": []}, DAY, "USD", NOW)
    assert gs.amount == Money(Decimal(2)) and not gs.complete
    assert gs.members == ["k", "none"] and gs.dims == {"team": {"x"}}
    mixed = group_spend({"k": [a], "e": [eur]}, DAY, "USD", NOW)
    assert mixed.currency_mismatch and not mixed.complete
    assert mixed.amount == Money(Decimal(2))
    assert "e reports EUR, limit is USD" in mixed.notes
