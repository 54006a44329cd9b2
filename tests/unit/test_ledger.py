"""core/ledger.py: the in-memory window of observations; latest reading wins; pruning keeps
each counter's baseline so a window delta can still be measured."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from killswitch.core.ledger import Ledger
from killswitch.model import Money, ObservationKind, SpendObservation

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
H = timedelta(hours=1)


def counter(usd: str, at: datetime, target: str = "k") -> SpendObservation:
    return SpendObservation("s", target, ObservationKind.COUNTER, Money(Decimal(usd)), at)


def bucket(usd: str, start: datetime, observed: datetime = NOW) -> SpendObservation:
    return SpendObservation(
        "s", "k", ObservationKind.BUCKET, Money(Decimal(usd)), observed, start, start + H
    )


def test_a_reread_period_replaces_the_older_reading_only() -> None:
    led = Ledger()
    led.add([bucket("2", NOW - H, observed=NOW)])
    led.add([bucket("1", NOW - H, observed=NOW - H)])  # older reading arrives late: ignored
    (o,) = led.observations("s")
    assert o.amount == Money(Decimal(2))
    assert led.observations("other") == []


def test_unchanged_counter_readings_add_nothing_and_one_sample_per_instant() -> None:
    led = Ledger()
    led.add([counter("1", NOW - 3 * H), counter("2", NOW - 2 * H), counter("2", NOW - H)])
    assert [o.observed_at for o in led.observations("s")] == [NOW - 3 * H, NOW - 2 * H]
    led.add([counter("1.5", NOW - 2 * H)])  # a new reading for the same instant replaces it
    assert [o.amount.amount for o in led.observations("s")] == [1, Decimal("1.5")]
    assert led.size() == 2


def test_prune_drops_ended_periods_and_keeps_the_last_counter_baseline() -> None:
    led = Ledger()
    led.add([bucket("1", NOW - 5 * H), bucket("1", NOW - H)])
    led.add([counter("1", NOW - 4 * H), counter("2", NOW - 3 * H), counter("3", NOW)])
    led.prune("s", NOW - 2 * H)
    kept = led.observations("s")
    assert [o.start for o in kept if o.kind is ObservationKind.BUCKET] == [NOW - H]
    counters = [o.observed_at for o in kept if o.kind is ObservationKind.COUNTER]
    assert counters == [NOW - 3 * H, NOW]  # the baseline before the cutoff survives
