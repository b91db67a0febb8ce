"""Windows and clocks (SPEC sections 4 and 5): intervals, buckets, rolling windows, today across DST, clocks.

Hand-worked cases first (epoch values worked out in comments), then
properties. All times are epoch milliseconds, UTC.

Anchors: 2026-01-01T00:00Z is 56 years after 1970 with 14 leap days
(1972..2024), 56 * 365 + 14 = 20_454 days, * 86_400 s = 1_767_225_600 s.
Later 2026 dates add whole days: Jan 31, Feb 28, Mar 31, Apr 30, May 31,
Jun 30, Jul 31, Aug 31, Sep 30, Oct 31.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccpulse.domain.windows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    SECOND_MS,
    Clock,
    DailyReset,
    InvalidWindowSetting,
    NoStreamTime,
    StreamClock,
    WallClock,
    Window,
    WindowConfig,
    WindowKind,
    bucket_start_ms,
    buckets_between,
    closed_intervals,
    day_key,
    day_range_ms,
    day_start_ms,
    interval_buckets,
    interval_start_ms,
    rolling_buckets,
    window_name,
    windows_at,
)

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
JAN_15_MS = T0_MS + 14 * DAY_MS  # 2026-01-15T00:00Z
MAR_08_MS = T0_MS + (31 + 28 + 7) * DAY_MS  # 2026-03-08T00:00Z = 1_772_928_000_000
MAR_29_MS = T0_MS + (31 + 28 + 28) * DAY_MS  # 2026-03-29T00:00Z = 1_774_742_400_000
OCT_25_MS = T0_MS + (273 + 24) * DAY_MS  # 2026-10-25T00:00Z = 1_792_886_400_000 (Jan..Sep = 273 days)
NOV_01_MS = T0_MS + (273 + 31) * DAY_MS  # 2026-11-01T00:00Z = 1_793_491_200_000

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"

PROPERTY = settings(deadline=None, max_examples=200)

# 2000-01-01T00:00Z .. 2040-01-01T00:00Z
TIMESTAMPS_MS = st.integers(min_value=946_684_800_000, max_value=2_208_988_800_000)


def utc_ms(text: str) -> int:
    """Epoch ms of an ISO 8601 UTC time, only to spell expected values readably."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def local_wall(ts_ms: int, time_zone: str) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M:%S%z")


def test_anchor_constants_match_the_calendar() -> None:
    # The hand arithmetic above, checked once against the standard library.
    assert utc_ms("2026-01-01T00:00:00") == T0_MS
    assert utc_ms("2026-01-15T00:00:00") == JAN_15_MS
    assert utc_ms("2026-03-08T00:00:00") == MAR_08_MS
    assert utc_ms("2026-03-29T00:00:00") == MAR_29_MS
    assert utc_ms("2026-10-25T00:00:00") == OCT_25_MS
    assert utc_ms("2026-11-01T00:00:00") == NOV_01_MS


# --- intervals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts_ms", "size_ms", "expected_ms"),
    [
        pytest.param(T0_MS, 15 * MINUTE_MS, T0_MS, id="exactly-on-a-boundary-starts-it"),
        pytest.param(T0_MS + 1, 15 * MINUTE_MS, T0_MS, id="1ms-after"),
        pytest.param(T0_MS + 15 * MINUTE_MS - 1, 15 * MINUTE_MS, T0_MS, id="last-ms-of-00:00-00:15"),
        pytest.param(T0_MS + 15 * MINUTE_MS, 15 * MINUTE_MS, T0_MS + 15 * MINUTE_MS, id="00:15-starts-the-next"),
        # 00:52:30 -> 00:45 (15 min), 00:30 (30 min), 00:00 (60 min)
        pytest.param(T0_MS + 52 * MINUTE_MS + 30 * SECOND_MS, 15 * MINUTE_MS, T0_MS + 45 * MINUTE_MS, id="15m"),
        pytest.param(T0_MS + 52 * MINUTE_MS + 30 * SECOND_MS, 30 * MINUTE_MS, T0_MS + 30 * MINUTE_MS, id="30m"),
        pytest.param(T0_MS + 52 * MINUTE_MS + 30 * SECOND_MS, 60 * MINUTE_MS, T0_MS, id="60m"),
        pytest.param(0, 15 * MINUTE_MS, 0, id="the-epoch"),
        # Before 1970 the start is still a floor, not a truncation towards zero.
        pytest.param(-1, 15 * MINUTE_MS, -15 * MINUTE_MS, id="1ms-before-the-epoch"),
    ],
)
def test_interval_start_floors_to_an_epoch_aligned_multiple(ts_ms: int, size_ms: int, expected_ms: int) -> None:
    assert interval_start_ms(ts_ms, size_ms) == expected_ms


@pytest.mark.parametrize("size_ms", [0, -15 * MINUTE_MS])
def test_interval_size_must_be_positive(size_ms: int) -> None:
    with pytest.raises(ValueError, match="size_ms"):
        interval_start_ms(T0_MS, size_ms)


@pytest.mark.parametrize(
    ("time_zone", "size_minutes", "local_start"),
    [
        # Asia/Kolkata is +05:30: local 10:07 on 2026-01-15 is 04:37Z = JAN_15 + 277 min.
        # 15 and 30 min divide 330 min, so intervals start on local quarter and half hours;
        # 60 min does not: the hour interval runs 09:30-10:30 local (04:00-05:00Z).
        pytest.param("Asia/Kolkata", 15, "2026-01-15 10:00:00+0530", id="kolkata-15m"),
        pytest.param("Asia/Kolkata", 30, "2026-01-15 10:00:00+0530", id="kolkata-30m"),
        pytest.param("Asia/Kolkata", 60, "2026-01-15 09:30:00+0530", id="kolkata-60m-starts-at-:30"),
        # Asia/Kathmandu is +05:45 (345 min, a multiple of 15 but not of 30): local
        # 10:07 is 04:22Z. 15-min intervals start at local 10:00 (04:15Z); 30-min
        # ones at local :15 and :45, here 09:45 (04:00Z).
        pytest.param("Asia/Kathmandu", 15, "2026-01-15 10:00:00+0545", id="kathmandu-15m"),
        pytest.param("Asia/Kathmandu", 30, "2026-01-15 09:45:00+0545", id="kathmandu-30m-starts-at-:45"),
    ],
)
def test_epoch_aligned_intervals_in_half_and_quarter_hour_zones(
    time_zone: str, size_minutes: int, local_start: str
) -> None:
    offset_minutes = {"Asia/Kolkata": 330, "Asia/Kathmandu": 345}[time_zone]
    local_10_07_ms = JAN_15_MS + (10 * 60 + 7 - offset_minutes) * MINUTE_MS

    start_ms = interval_start_ms(local_10_07_ms, size_minutes * MINUTE_MS)

    assert local_wall(start_ms, time_zone) == local_start


def test_bucket_start_and_buckets_between() -> None:
    assert bucket_start_ms(T0_MS + 59_999, MINUTE_MS) == T0_MS
    assert bucket_start_ms(T0_MS + 60_000, MINUTE_MS) == T0_MS + MINUTE_MS
    # [00:00:30, 00:03:00): the bucket starting 00:00 began before the window, so it is not in it.
    assert list(buckets_between(T0_MS + 30 * SECOND_MS, T0_MS + 3 * MINUTE_MS, MINUTE_MS)) == [
        T0_MS + MINUTE_MS,
        T0_MS + 2 * MINUTE_MS,
    ]
    assert list(buckets_between(T0_MS, T0_MS, MINUTE_MS)) == []
    with pytest.raises(ValueError, match="bucket_ms"):
        bucket_start_ms(T0_MS, 0)


def test_interval_buckets_are_the_whole_buckets_of_the_interval() -> None:
    buckets = interval_buckets(T0_MS + 15 * MINUTE_MS, 15 * MINUTE_MS, MINUTE_MS)

    assert len(buckets) == 15
    assert buckets[0] == T0_MS + 15 * MINUTE_MS  # 00:15
    assert buckets[-1] == T0_MS + 29 * MINUTE_MS  # 00:29, the last whole minute before 00:30


def test_interval_buckets_reject_misfits() -> None:
    with pytest.raises(ValueError, match="size_ms"):
        interval_buckets(T0_MS, 15 * MINUTE_MS + 1, MINUTE_MS)
    with pytest.raises(ValueError, match="interval_start_ms"):
        interval_buckets(T0_MS + MINUTE_MS, 15 * MINUTE_MS, MINUTE_MS)
    with pytest.raises(ValueError, match="bucket_ms"):
        interval_buckets(T0_MS, 15 * MINUTE_MS, -MINUTE_MS)


@PROPERTY
@given(ts_ms=TIMESTAMPS_MS, size_minutes=st.sampled_from([1, 5, 15, 30, 60, 1440]))
def test_every_timestamp_lies_in_exactly_one_interval(ts_ms: int, size_minutes: int) -> None:
    size_ms = size_minutes * MINUTE_MS
    start_ms = interval_start_ms(ts_ms, size_ms)

    assert start_ms <= ts_ms < start_ms + size_ms
    assert start_ms % size_ms == 0
    # The neighbours do not contain it: the previous one ends at start, the next starts after ts.
    assert interval_start_ms(start_ms - 1, size_ms) == start_ms - size_ms
    assert interval_start_ms(start_ms + size_ms, size_ms) == start_ms + size_ms


# --- rolling windows -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now_ms", "expected_first_ms", "expected_last_ms"),
    [
        # now exactly 00:10:00: the 5 whole minutes 00:05..00:09 plus the current bucket 00:10,
        # which holds only events stamped 00:10:00.000 so far. Covered: [00:05, 00:10:00.000].
        pytest.param(T0_MS + 10 * MINUTE_MS, T0_MS + 5 * MINUTE_MS, T0_MS + 10 * MINUTE_MS, id="exact-00:10"),
        # now 00:10:30: the same six buckets; covered [00:05, 00:10:30], 30 s more than 5 min.
        pytest.param(
            T0_MS + 10 * MINUTE_MS + 30 * SECOND_MS, T0_MS + 5 * MINUTE_MS, T0_MS + 10 * MINUTE_MS, id="00:10:30"
        ),
        # now 00:10:59.999: still the same buckets; the worst case, 59.999 s more.
        pytest.param(T0_MS + 11 * MINUTE_MS - 1, T0_MS + 5 * MINUTE_MS, T0_MS + 10 * MINUTE_MS, id="00:10:59.999"),
        # now 00:09:59.999: one bucket earlier, 00:04..00:09.
        pytest.param(T0_MS + 10 * MINUTE_MS - 1, T0_MS + 4 * MINUTE_MS, T0_MS + 9 * MINUTE_MS, id="00:09:59.999"),
    ],
)
def test_rolling_5m_is_the_current_bucket_plus_five_whole_minutes(
    now_ms: int, expected_first_ms: int, expected_last_ms: int
) -> None:
    buckets = rolling_buckets(now_ms, 5 * MINUTE_MS, MINUTE_MS)

    assert len(buckets) == 6
    assert buckets[0] == expected_first_ms
    assert buckets[-1] == expected_last_ms
    assert buckets.step == MINUTE_MS


def test_rolling_window_must_be_whole_buckets() -> None:
    with pytest.raises(ValueError, match="window_ms"):
        rolling_buckets(T0_MS, 5 * MINUTE_MS + 30 * SECOND_MS, MINUTE_MS)
    with pytest.raises(ValueError, match="window_ms"):
        rolling_buckets(T0_MS, 0, MINUTE_MS)
    with pytest.raises(ValueError, match="bucket_ms"):
        rolling_buckets(T0_MS, 5 * MINUTE_MS, 0)


@PROPERTY
@given(
    now_ms=TIMESTAMPS_MS,
    window_minutes=st.sampled_from([5, 15, 30, 60]),
    bucket_ms=st.sampled_from([10 * SECOND_MS, MINUTE_MS, 5 * MINUTE_MS]),
    offset_ms=st.integers(min_value=0, max_value=2 * HOUR_MS),
)
def test_rolling_buckets_contain_the_trailing_window_and_at_most_one_bucket_more(
    now_ms: int, window_minutes: int, bucket_ms: int, offset_ms: int
) -> None:
    window_ms = window_minutes * MINUTE_MS
    buckets = rolling_buckets(now_ms, window_ms, bucket_ms)
    ts_ms = now_ms - offset_ms
    in_window = now_ms - window_ms < ts_ms <= now_ms

    assert len(buckets) == window_ms // bucket_ms + 1
    if in_window:
        assert bucket_start_ms(ts_ms, bucket_ms) in buckets
    if bucket_start_ms(ts_ms, bucket_ms) in buckets:
        assert ts_ms > now_ms - window_ms - bucket_ms


# --- closing intervals -----------------------------------------------------------


@pytest.mark.parametrize(
    ("previous_offset_ms", "now_offset_ms", "expected_offsets_minutes"),
    [
        # 00:14:59.999 -> 00:15:00.000: [00:00, 00:15) has closed.
        pytest.param(15 * MINUTE_MS - 1, 15 * MINUTE_MS, [0], id="reaching-the-end-closes"),
        pytest.param(15 * MINUTE_MS, 30 * MINUTE_MS - 1, [], id="within-one-interval"),
        pytest.param(15 * MINUTE_MS, 30 * MINUTE_MS, [15], id="boundary-to-boundary"),
        # 00:14 -> 00:46: the ends 00:15, 00:30 and 00:45 were all passed.
        pytest.param(14 * MINUTE_MS, 46 * MINUTE_MS, [0, 15, 30], id="a-jump-closes-several"),
        pytest.param(20 * MINUTE_MS, 20 * MINUTE_MS, [], id="clock-stood-still"),
        pytest.param(46 * MINUTE_MS, 14 * MINUTE_MS, [], id="clock-went-back"),
    ],
)
def test_closed_intervals(previous_offset_ms: int, now_offset_ms: int, expected_offsets_minutes: list[int]) -> None:
    closed = closed_intervals(T0_MS + previous_offset_ms, T0_MS + now_offset_ms, 15 * MINUTE_MS)

    assert list(closed) == [T0_MS + minutes * MINUTE_MS for minutes in expected_offsets_minutes]


@PROPERTY
@given(
    first_ms=TIMESTAMPS_MS,
    # Clock readings up to two days apart: a paused worker, not decades (which would list millions of intervals).
    offsets_ms=st.lists(st.integers(min_value=0, max_value=2 * DAY_MS), min_size=1, max_size=20),
    size_minutes=st.sampled_from([15, 30, 60]),
)
def test_each_interval_closes_exactly_once_as_the_clock_advances(
    first_ms: int, offsets_ms: list[int], size_minutes: int
) -> None:
    readings_ms = [first_ms, *sorted(first_ms + offset for offset in offsets_ms)]
    size_ms = size_minutes * MINUTE_MS
    step_by_step = [
        start for before, after in pairwise(readings_ms) for start in closed_intervals(before, after, size_ms)
    ]

    assert step_by_step == list(closed_intervals(readings_ms[0], readings_ms[-1], size_ms))
    assert all(readings_ms[0] < start + size_ms <= readings_ms[-1] for start in step_by_step)


# --- today -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_zone", "reset_at", "ts_ms", "expected_start_ms", "expected_end_ms", "hours"),
    [
        pytest.param("UTC", "00:00", T0_MS + 12 * HOUR_MS, T0_MS, T0_MS + DAY_MS, 24, id="utc"),
        # Berlin springs forward at 01:00Z on 2026-03-29 (02:00 CET -> 03:00 CEST).
        # Midnight CET (+01) is 2026-03-28T23:00Z; the next midnight is CEST (+02): 2026-03-29T22:00Z.
        pytest.param(
            BERLIN,
            "00:00",
            MAR_29_MS + 12 * HOUR_MS,
            MAR_29_MS - HOUR_MS,
            MAR_29_MS + 22 * HOUR_MS,
            23,
            id="berlin-23h",
        ),
        # Berlin falls back at 01:00Z on 2026-10-25 (03:00 CEST -> 02:00 CET).
        # Midnight CEST (+02) is 2026-10-24T22:00Z; the next midnight is CET (+01): 2026-10-25T23:00Z.
        pytest.param(
            BERLIN,
            "00:00",
            OCT_25_MS + 12 * HOUR_MS,
            OCT_25_MS - 2 * HOUR_MS,
            OCT_25_MS + 23 * HOUR_MS,
            25,
            id="berlin-25h",
        ),
        # New York springs forward at 07:00Z on 2026-03-08 (02:00 EST -> 03:00 EDT).
        # Midnight EST (-05) is 05:00Z; the next midnight is EDT (-04): 2026-03-09T04:00Z = +28 h.
        pytest.param(
            NEW_YORK,
            "00:00",
            MAR_08_MS + 12 * HOUR_MS,
            MAR_08_MS + 5 * HOUR_MS,
            MAR_08_MS + 28 * HOUR_MS,
            23,
            id="ny-23h",
        ),
        # New York falls back at 06:00Z on 2026-11-01 (02:00 EDT -> 01:00 EST).
        # Midnight EDT (-04) is 04:00Z; the next midnight is EST (-05): 2026-11-02T05:00Z = +29 h.
        pytest.param(
            NEW_YORK,
            "00:00",
            NOV_01_MS + 12 * HOUR_MS,
            NOV_01_MS + 4 * HOUR_MS,
            NOV_01_MS + 29 * HOUR_MS,
            25,
            id="ny-25h",
        ),
        # A 02:30 reset does not exist in Berlin on 2026-03-29: the day starts at the first
        # instant after the gap, 03:00 CEST = 01:00Z. The next reset, 02:30 CEST on
        # 2026-03-30, is 00:30Z = MAR_29 + 24.5 h: this day lasts 23.5 h.
        pytest.param(
            BERLIN,
            "02:30",
            MAR_29_MS + 12 * HOUR_MS,
            MAR_29_MS + HOUR_MS,
            MAR_29_MS + DAY_MS + 30 * MINUTE_MS,
            23.5,
            id="berlin-reset-in-the-gap",
        ),
        # 01:30 happens twice in New York on 2026-11-01: 01:30 EDT (05:30Z), then 01:30 EST
        # (06:30Z). The day starts at the first; the next reset is 01:30 EST on 11-02 (06:30Z).
        pytest.param(
            NEW_YORK,
            "01:30",
            NOV_01_MS + 12 * HOUR_MS,
            NOV_01_MS + 5 * HOUR_MS + 30 * MINUTE_MS,
            NOV_01_MS + DAY_MS + 6 * HOUR_MS + 30 * MINUTE_MS,
            25,
            id="ny-ambiguous-reset-uses-the-first",
        ),
    ],
)
def test_day_range_across_dst(
    time_zone: str, reset_at: str, ts_ms: int, expected_start_ms: int, expected_end_ms: int, hours: float
) -> None:
    reset = DailyReset(time_zone, reset_at)

    assert day_range_ms(ts_ms, reset) == (expected_start_ms, expected_end_ms)
    assert day_start_ms(ts_ms, reset) == expected_start_ms
    assert expected_end_ms - expected_start_ms == hours * HOUR_MS


def test_a_reset_in_the_gap_also_shortens_the_day_before() -> None:
    # 02:30 CET on 2026-03-28 is 01:30Z; the next day starts at 01:00Z on 03-29 (see above): 23.5 h.
    reset = DailyReset(BERLIN, "02:30")
    start_ms, end_ms = day_range_ms(MAR_29_MS - 12 * HOUR_MS, reset)

    assert start_ms == MAR_29_MS - DAY_MS + HOUR_MS + 30 * MINUTE_MS
    assert end_ms == MAR_29_MS + HOUR_MS
    assert local_wall(end_ms, BERLIN) == "2026-03-29 03:00:00+0200"


def test_ambiguous_reset_the_second_occurrence_is_already_in_the_new_day() -> None:
    reset = DailyReset(NEW_YORK, "01:30")
    first_0115_ms = NOV_01_MS + 5 * HOUR_MS + 15 * MINUTE_MS  # 01:15 EDT = 05:15Z, before the reset at 05:30Z
    second_0115_ms = NOV_01_MS + 6 * HOUR_MS + 15 * MINUTE_MS  # 01:15 EST = 06:15Z, after it

    assert day_key(first_0115_ms, reset) == "2026-10-31"
    assert day_key(second_0115_ms, reset) == "2026-11-01"
    assert day_start_ms(second_0115_ms, reset) == NOV_01_MS + 5 * HOUR_MS + 30 * MINUTE_MS


def test_midnight_reset_versus_0600_reset() -> None:
    # 2026-01-15 in Berlin is CET (+01). Local 05:59 is 04:59Z; local 06:00 is 05:00Z.
    before_six_ms = JAN_15_MS + 5 * HOUR_MS - 1  # 05:59:59.999 local
    six_ms = JAN_15_MS + 5 * HOUR_MS  # 06:00:00.000 local
    midnight = DailyReset(BERLIN, "00:00")
    six_am = DailyReset(BERLIN, "06:00")

    # Midnight reset: both belong to 2026-01-15, which began at 00:00 CET = 01-14T23:00Z.
    assert day_start_ms(before_six_ms, midnight) == JAN_15_MS - HOUR_MS
    assert day_key(before_six_ms, midnight) == day_key(six_ms, midnight) == "2026-01-15"
    # 06:00 reset: 05:59:59.999 still belongs to the day that began 2026-01-14 06:00 CET (05:00Z).
    assert day_start_ms(before_six_ms, six_am) == JAN_15_MS - DAY_MS + 5 * HOUR_MS
    assert day_key(before_six_ms, six_am) == "2026-01-14"
    # ... and 06:00:00.000 exactly starts the new one.
    assert day_range_ms(six_ms, six_am) == (six_ms, six_ms + DAY_MS)
    assert day_key(six_ms, six_am) == "2026-01-15"


def test_day_key_just_before_and_after_midnight_in_new_york() -> None:
    # Midnight EST (-05) starting 2026-01-15 is 05:00Z.
    reset = DailyReset(NEW_YORK)
    midnight_ms = JAN_15_MS + 5 * HOUR_MS

    assert day_key(midnight_ms - 1, reset) == "2026-01-14"
    assert day_key(midnight_ms, reset) == "2026-01-15"


def test_a_skipped_date_is_no_day() -> None:
    # Pacific/Apia jumped from -10 to +14 at the end of 2011-12-29 local: 2011-12-30 never
    # happened there. Midnight of 12-29 (-10) is 12-29T10:00Z; the next midnight, 12-31 (+14),
    # is 12-30T10:00Z. The zero-length "2011-12-30" is skipped.
    reset = DailyReset("Pacific/Apia")
    dec_29_ms = utc_ms("2011-12-29T10:00:00")

    assert day_range_ms(dec_29_ms + HOUR_MS, reset) == (dec_29_ms, dec_29_ms + DAY_MS)
    assert day_key(dec_29_ms + DAY_MS - 1, reset) == "2011-12-29"
    assert day_key(dec_29_ms + DAY_MS, reset) == "2011-12-31"


@pytest.mark.parametrize(
    "time_zone", ["Mars/Olympus_Mons", "", "Europe", "../etc/passwd", "/usr/share/zoneinfo/UTC", "utc", "localtime"]
)
def test_unknown_time_zone_names_the_setting(time_zone: str) -> None:
    with pytest.raises(InvalidWindowSetting, match="time_zone") as caught:
        DailyReset(time_zone=time_zone)
    assert caught.value.setting == "time_zone"


@pytest.mark.parametrize("daily_reset", ["24:00", "7:30", "07:60", "0730", "", " 07:30", "07:30:00", "0\u0667:3\u0660"])
def test_malformed_daily_reset_names_the_setting(daily_reset: str) -> None:
    with pytest.raises(InvalidWindowSetting, match="daily_reset") as caught:
        DailyReset(daily_reset=daily_reset)
    assert caught.value.setting == "daily_reset"


def test_daily_reset_is_a_value() -> None:
    assert DailyReset() == DailyReset("UTC", "00:00")
    assert DailyReset(BERLIN, "06:30") != DailyReset(BERLIN, "06:00")
    assert repr(DailyReset(BERLIN, "06:30")) == "DailyReset(time_zone='Europe/Berlin', daily_reset='06:30')"
    assert hash(DailyReset(BERLIN)) == hash(DailyReset(BERLIN))


ALL_KINDS_OF_ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    "America/Santiago",  # DST changes at local midnight, falling back across it
    "America/Havana",  # midnight gap in spring, repeated midnight hour in autumn
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",  # 30-min DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Apia",  # skipped 2011-12-30
]
RESETS = st.builds(
    lambda hours, minutes: f"{hours:02d}:{minutes:02d}",
    st.integers(min_value=0, max_value=23),
    st.sampled_from([0, 1, 15, 30, 45, 59]),
)


@PROPERTY
@given(ts_ms=TIMESTAMPS_MS, time_zone=st.sampled_from(ALL_KINDS_OF_ZONES), reset_at=RESETS)
@example(ts_ms=utc_ms("2011-12-30T12:00:00"), time_zone="Pacific/Apia", reset_at="12:00")
@example(ts_ms=MAR_29_MS + HOUR_MS, time_zone=BERLIN, reset_at="02:30")
def test_every_timestamp_lies_in_exactly_one_day(ts_ms: int, time_zone: str, reset_at: str) -> None:
    reset = DailyReset(time_zone, reset_at)
    start_ms, end_ms = day_range_ms(ts_ms, reset)

    assert start_ms <= ts_ms < end_ms
    assert day_start_ms(ts_ms, reset) == start_ms
    # The days tile the time line: the next one starts where this one ends, the previous ends where it starts.
    assert day_range_ms(end_ms, reset)[0] == end_ms
    assert day_range_ms(start_ms - 1, reset)[1] == start_ms
    assert day_key(start_ms - 1, reset) < day_key(ts_ms, reset) < day_key(end_ms, reset)


HOURLY_DST_ZONES = ["UTC", BERLIN, NEW_YORK, "America/Santiago", "America/Havana", "Australia/Sydney", "Asia/Kolkata"]


@PROPERTY
@given(
    ts_ms=TIMESTAMPS_MS,
    time_zone=st.sampled_from(HOURLY_DST_ZONES),
    reset_hour=st.integers(min_value=0, max_value=23),
)
@example(ts_ms=MAR_29_MS, time_zone=BERLIN, reset_hour=2)  # a reset at the very start of the gap
def test_consecutive_day_starts_are_23_24_or_25_hours_apart(ts_ms: int, time_zone: str, reset_hour: int) -> None:
    # With whole-hour resets and one-hour DST shifts; a reset inside a gap
    # (02:30 in Berlin) gives 23.5 h days, covered by the hand-worked cases.
    start_ms, end_ms = day_range_ms(ts_ms, DailyReset(time_zone, f"{reset_hour:02d}:00"))

    assert end_ms - start_ms in {23 * HOUR_MS, 24 * HOUR_MS, 25 * HOUR_MS}


@PROPERTY
@given(
    ts_ms=TIMESTAMPS_MS,
    interval_minutes=st.sampled_from([15, 30, 60]),
    bucket_ms=st.sampled_from([10 * SECOND_MS, MINUTE_MS, 5 * MINUTE_MS]),
)
def test_interval_buckets_partition_an_aligned_days_buckets(ts_ms: int, interval_minutes: int, bucket_ms: int) -> None:
    size_ms = interval_minutes * MINUTE_MS
    day_start, day_end = day_range_ms(ts_ms, DailyReset("UTC", "00:00"))
    day_buckets = list(buckets_between(day_start, day_end, bucket_ms))

    per_interval = [
        bucket for start in range(day_start, day_end, size_ms) for bucket in interval_buckets(start, size_ms, bucket_ms)
    ]

    assert per_interval == day_buckets  # same buckets, each once, in order
    assert len(day_buckets) == DAY_MS // bucket_ms


# --- window descriptors and their configuration ---------------------------------------


def test_windows_at_with_the_defaults() -> None:
    now_ms = T0_MS + 10 * MINUTE_MS + 30 * SECOND_MS  # 2026-01-01T00:10:30Z
    windows = windows_at(now_ms, WindowConfig())

    assert windows == [
        Window(WindowKind.INTERVAL, "interval_15m", T0_MS, T0_MS + 15 * MINUTE_MS),
        # Rolling: from (current bucket 00:10) - N min to the end of the current bucket, 00:11.
        Window(WindowKind.ROLLING, "rolling_5m", T0_MS + 5 * MINUTE_MS, T0_MS + 11 * MINUTE_MS),
        Window(WindowKind.ROLLING, "rolling_15m", T0_MS - 5 * MINUTE_MS, T0_MS + 11 * MINUTE_MS),
        Window(WindowKind.ROLLING, "rolling_60m", T0_MS - 50 * MINUTE_MS, T0_MS + 11 * MINUTE_MS),
        Window(WindowKind.TODAY, "today", T0_MS, T0_MS + DAY_MS),
    ]
    assert [window.kind for window in windows] == ["interval", "rolling", "rolling", "rolling", "today"]
    assert windows[1].bucket_starts(MINUTE_MS) == rolling_buckets(now_ms, 5 * MINUTE_MS, MINUTE_MS)
    assert windows[0].bucket_starts(MINUTE_MS) == interval_buckets(T0_MS, 15 * MINUTE_MS, MINUTE_MS)
    assert all(window.contains(now_ms) for window in windows)


def test_windows_at_with_several_intervals_and_a_local_day() -> None:
    config = WindowConfig.from_settings(
        interval_minutes=[15, 30], rolling_minutes=[], time_zone=BERLIN, daily_reset="06:00"
    )
    # 2026-03-29T04:40Z is 06:40 CEST, after the 06:00 CEST reset (04:00Z), on the 23-h day.
    now_ms = MAR_29_MS + 4 * HOUR_MS + 40 * MINUTE_MS

    assert windows_at(now_ms, config) == [
        Window(WindowKind.INTERVAL, "interval_15m", now_ms - 10 * MINUTE_MS, now_ms + 5 * MINUTE_MS),
        Window(WindowKind.INTERVAL, "interval_30m", now_ms - 10 * MINUTE_MS, now_ms + 20 * MINUTE_MS),
        # Today: 06:00 CEST on 03-29 (04:00Z) to 06:00 CEST on 03-30 (03-30T04:00Z).
        Window(WindowKind.TODAY, "today", MAR_29_MS + 4 * HOUR_MS, MAR_29_MS + DAY_MS + 4 * HOUR_MS),
    ]


def test_today_in_kathmandu_is_whole_minute_buckets() -> None:
    # Local midnight +05:45 is 18:15Z the evening before: whole minutes, so buckets fit exactly.
    today = windows_at(JAN_15_MS, WindowConfig(reset=DailyReset("Asia/Kathmandu")))[-1]

    assert today.start_ms == JAN_15_MS - 5 * HOUR_MS - 45 * MINUTE_MS
    assert today.bucket_starts(MINUTE_MS)[0] == today.start_ms
    assert len(today.bucket_starts(MINUTE_MS)) == 24 * 60


def test_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="today"):
        Window(WindowKind.TODAY, "today", T0_MS, T0_MS)


def test_window_names() -> None:
    assert window_name(WindowKind.INTERVAL, 15 * MINUTE_MS) == "interval_15m"
    assert window_name(WindowKind.ROLLING, 60 * MINUTE_MS) == "rolling_60m"
    assert window_name(WindowKind.TODAY) == "today"
    with pytest.raises(ValueError, match="whole minutes"):
        window_name(WindowKind.ROLLING, 90 * SECOND_MS)


def test_window_config_defaults_follow_the_spec() -> None:
    config = WindowConfig()

    assert config == WindowConfig.from_settings()
    assert config.interval_sizes_ms == (15 * MINUTE_MS,)
    assert config.rolling_sizes_ms == (5 * MINUTE_MS, 15 * MINUTE_MS, 60 * MINUTE_MS)
    assert config.bucket_ms == 60 * SECOND_MS
    assert config.reset == DailyReset("UTC", "00:00")


@pytest.mark.parametrize(
    ("settings_changes", "setting"),
    [
        pytest.param({"interval_minutes": []}, "interval_minutes", id="no-interval"),
        pytest.param({"interval_minutes": [0]}, "interval_minutes", id="zero-interval"),
        pytest.param({"interval_minutes": [-15]}, "interval_minutes", id="negative-interval"),
        pytest.param({"interval_minutes": [7]}, "interval_minutes", id="interval-not-dividing-a-day"),
        pytest.param({"interval_minutes": [15, 30, 15]}, "interval_minutes", id="repeated-interval"),
        pytest.param({"bucket_seconds": 0}, "bucket_seconds", id="zero-bucket"),
        pytest.param({"bucket_seconds": 120}, "interval_minutes", id="interval-not-whole-buckets"),
        pytest.param(
            {"bucket_seconds": 300, "rolling_minutes": [5, 7]}, "rolling_minutes", id="rolling-not-whole-buckets"
        ),
        pytest.param({"rolling_minutes": [0]}, "rolling_minutes", id="zero-rolling"),
        pytest.param({"rolling_minutes": [5, 5]}, "rolling_minutes", id="repeated-rolling"),
        pytest.param({"time_zone": "Europe/Atlantis"}, "time_zone", id="zone"),
        pytest.param({"daily_reset": "6:00"}, "daily_reset", id="reset"),
    ],
)
def test_invalid_window_settings_name_the_setting(settings_changes: dict[str, object], setting: str) -> None:
    with pytest.raises(InvalidWindowSetting, match=f"^setting {setting}:") as caught:
        WindowConfig.from_settings(**settings_changes)  # type: ignore[arg-type]
    assert caught.value.setting == setting


@pytest.mark.parametrize(
    ("config_changes", "setting"),
    [
        pytest.param({"interval_sizes_ms": (15 * MINUTE_MS + 1,)}, "interval_minutes", id="interval-not-whole-minutes"),
        pytest.param({"rolling_sizes_ms": (90 * SECOND_MS,)}, "rolling_minutes", id="rolling-not-whole-minutes"),
        pytest.param({"bucket_ms": 1_500}, "bucket_seconds", id="bucket-not-whole-seconds"),
    ],
)
def test_sizes_in_ms_are_checked_against_the_settings_units(config_changes: dict[str, object], setting: str) -> None:
    with pytest.raises(InvalidWindowSetting) as caught:
        WindowConfig(**config_changes)  # type: ignore[arg-type]
    assert caught.value.setting == setting


def test_sub_minute_buckets_are_allowed() -> None:
    config = WindowConfig.from_settings(bucket_seconds=10)

    assert len(windows_at(T0_MS, config)[1].bucket_starts(config.bucket_ms)) == 5 * 6 + 1


# --- clocks -------------------------------------------------------------------------


def test_wall_clock_reads_the_injected_source_in_ms() -> None:
    readings_ns = iter([1_767_225_600_123_456_789, 1_767_225_600_124_999_999])
    clock = WallClock(time_source_ns=lambda: next(readings_ns))

    assert clock.now_ms() == 1_767_225_600_123  # nanoseconds floored to ms
    assert clock.now_ms() == 1_767_225_600_124
    assert isinstance(clock, Clock)


def test_wall_clock_defaults_to_the_host_clock() -> None:
    before_ms = int(datetime.now(UTC).timestamp() * 1000)
    now_ms = WallClock().now_ms()
    after_ms = int(datetime.now(UTC).timestamp() * 1000)

    assert before_ms - 1 <= now_ms <= after_ms + 1


def test_stream_clock_is_the_minimum_over_observed_partitions() -> None:
    clock = StreamClock()
    clock.observe(0, T0_MS + 10 * MINUTE_MS)
    clock.observe(1, T0_MS + 3 * MINUTE_MS)  # a partition read more slowly
    clock.observe(0, T0_MS + 12 * MINUTE_MS)

    assert clock.now_ms(0) == T0_MS + 12 * MINUTE_MS
    assert clock.now_ms(1) == T0_MS + 3 * MINUTE_MS
    # The worker's time waits for partition 1: [00:00, 00:15) must not close yet, nor [00:00, 00:05).
    assert clock.now_ms() == T0_MS + 3 * MINUTE_MS
    assert isinstance(clock, Clock)


def test_stream_time_never_goes_back_on_a_partition() -> None:
    clock = StreamClock()
    clock.observe(2, T0_MS + 10 * MINUTE_MS)

    assert clock.observe(2, T0_MS + MINUTE_MS) == T0_MS + 10 * MINUTE_MS  # a late event
    assert clock.now_ms(2) == T0_MS + 10 * MINUTE_MS


def test_unobserved_partitions_do_not_hold_the_clock_back_and_forgotten_ones_stop_doing_so() -> None:
    clock = StreamClock()
    clock.observe(0, T0_MS + 10 * MINUTE_MS)

    assert clock.now_ms() == T0_MS + 10 * MINUTE_MS  # partitions 1.. never seen: no say
    clock.observe(1, T0_MS)
    assert clock.now_ms() == T0_MS
    clock.forget(1)  # revoked in a rebalance
    assert clock.now_ms() == T0_MS + 10 * MINUTE_MS
    clock.forget(7)  # never observed: nothing to do
    assert clock.partition_times_ms() == {0: T0_MS + 10 * MINUTE_MS}


def test_stream_clock_without_observations_has_no_time() -> None:
    clock = StreamClock()

    assert clock.watermark_ms() is None
    assert clock.watermark_ms(3) is None
    with pytest.raises(NoStreamTime, match="any partition"):
        clock.now_ms()
    clock.observe(0, T0_MS)
    with pytest.raises(NoStreamTime, match="partition 3"):
        clock.now_ms(3)


def test_stream_clock_restores_from_saved_times_and_copies_them_out() -> None:
    clock = StreamClock({0: T0_MS, 1: T0_MS + MINUTE_MS})
    saved = clock.partition_times_ms()
    saved[0] = 0

    assert clock.now_ms() == T0_MS
    assert StreamClock(clock.partition_times_ms()).partition_times_ms() == {0: T0_MS, 1: T0_MS + MINUTE_MS}
    with pytest.raises(ValueError, match="partition"):
        clock.observe(-1, T0_MS)


@PROPERTY
@given(
    observations=st.lists(st.tuples(st.integers(min_value=0, max_value=5), TIMESTAMPS_MS), min_size=1, max_size=50),
    revoked=st.sets(st.integers(min_value=0, max_value=5)),
)
def test_stream_clock_is_the_min_of_per_partition_maxima(
    observations: list[tuple[int, int]], revoked: set[int]
) -> None:
    clock = StreamClock()
    for partition, ts_ms in observations:
        clock.observe(partition, ts_ms)
    for partition in revoked:
        clock.forget(partition)

    maxima: dict[int, int] = {}
    for partition, ts_ms in observations:
        if partition not in revoked:
            maxima[partition] = max(ts_ms, maxima.get(partition, ts_ms))
    assert clock.partition_times_ms() == maxima
    assert clock.watermark_ms() == (min(maxima.values()) if maxima else None)
