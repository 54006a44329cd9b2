from datetime import UTC, datetime, timedelta

import pytest

from killswitch.core.windows import WindowSpec


def t(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_daily_utc_aligns_to_midnight() -> None:
    w = WindowSpec.parse("daily").at(t(2026, 11, 23, 15, 30))
    assert (w.start, w.end) == (t(2026, 11, 23), t(2026, 11, 24))


def test_daily_in_zone_follows_local_midnight_across_dst() -> None:
    spec = WindowSpec.parse("daily", "Europe/Kyiv")
    summer = spec.at(t(2026, 7, 1, 12))  # UTC+3
    assert summer.start == t(2026, 6, 30, 21)
    winter = spec.at(t(2026, 12, 1, 12))  # UTC+2
    assert winter.start == t(2026, 11, 30, 22)
    # The DST-change day is 25 hours long (Oct 25, 2026 in Kyiv).
    change = spec.at(t(2026, 10, 25, 12))
    assert change.end - change.start == timedelta(hours=25)


def test_weekly_starts_monday_and_monthly_first() -> None:
    w = WindowSpec.parse("weekly").at(t(2026, 11, 26, 9))  # a Thursday
    assert w.start == t(2026, 11, 23) and w.end == t(2026, 11, 30)
    m = WindowSpec.parse("monthly").at(t(2026, 12, 31, 23, 59))
    assert m.start == t(2026, 12, 1) and m.end == t(2027, 1, 1)


def test_rolling_slides_and_interval_tumbles() -> None:
    r = WindowSpec.parse("rolling:24h")
    assert r.at(t(2026, 11, 23, 10)).start == t(2026, 11, 22, 10)
    i = WindowSpec.parse("interval:15m")
    w = i.at(t(2026, 11, 23, 10, 7, 30))
    assert (w.start, w.end) == (t(2026, 11, 23, 10), t(2026, 11, 23, 10, 15))


@pytest.mark.parametrize("bad", ["hourly", "rolling:", "rolling:abc", "interval:-5m", ""])
def test_bad_window_names_the_forms(bad: str) -> None:
    with pytest.raises(ValueError, match=r"daily|duration|positive"):
        WindowSpec.parse(bad)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        WindowSpec.parse("daily").at(datetime(2026, 1, 1))
