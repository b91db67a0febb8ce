"""Windows and clocks of the KPI engine: which buckets make up which window, and what time it is.

The engine keeps aggregates in fixed *buckets* (default one minute) of event
time, in plain changelog-backed tables; every window a KPI is published for is
a set of bucket starts, computed here (SPEC section 4). Nothing in this module
holds aggregates: it is integer arithmetic on epoch milliseconds, plus the
time-zone rules for ``today``.

Conventions (all times are integer epoch milliseconds, UTC):

- A bucket, an interval and a day are half-open ``[start, end)``: an instant
  exactly on a boundary belongs to the one that starts there.
- A bucket belongs to a window when the bucket's *start* lies in the window;
  window sizes are whole buckets, so intervals are exact.
- ``rolling_Nm`` is the current (partial) bucket plus the N minutes of whole
  buckets before it: it contains every event of the trailing window
  ``(now - N min, now]``, and up to one bucket of older ones (see
  :func:`rolling_buckets`).
- ``today`` starts at the daily reset in an IANA time zone, DST-correct (see
  :func:`day_start_ms`).
- Wall-clock mode reads :class:`WallClock`; stream-time mode reads
  :class:`StreamClock`, whose worker-wide time is the minimum over partitions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from time import time_ns
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

DEFAULT_INTERVAL_SIZES_MS: tuple[int, ...] = (15 * MINUTE_MS,)
DEFAULT_ROLLING_SIZES_MS: tuple[int, ...] = (5 * MINUTE_MS, 15 * MINUTE_MS, 60 * MINUTE_MS)
DEFAULT_BUCKET_MS = MINUTE_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")  # ASCII only: \d also matches other scripts' digits
# How far from a timestamp's local date the reset that starts its day can be.
# One day either side covers DST shifts; the extra day covers a zone that
# skipped a whole date (Pacific/Apia jumped from 2011-12-29 to 2011-12-31).
_DAY_SEARCH_SPAN = 3


class InvalidWindowSetting(ValueError):
    """A window setting is invalid; ``setting`` is its name in the config file, and the message starts with it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting}: {problem}")
        self.setting = setting


# --- aligned intervals and buckets ------------------------------------------


def interval_start_ms(ts_ms: int, size_ms: int) -> int:
    """Start of the aligned interval ``[start, start + size_ms)`` that contains ``ts_ms``.

    Intervals are aligned to the Unix epoch, that is to UTC: the start is
    ``ts_ms`` floored to a multiple of ``size_ms`` (also for times before 1970).
    A timestamp exactly on a boundary starts the new interval.

    Local alignment: an epoch-aligned interval of S minutes also starts on
    local multiples of S exactly when the zone's UTC offset is a multiple of
    S. Every UTC offset in use today is a multiple of 15 min, so 15-min
    intervals start on local quarter hours everywhere. 30-min intervals do too
    except where the offset ends in :45 (Asia/Kathmandu +05:45, Australia/Eucla
    +08:45, Pacific/Chatham +12:45): there they start at local :15 and :45.
    60-min intervals start on the local hour only in whole-hour zones; in
    Asia/Kolkata (+05:30) they run from :30 to :30 local. When the daily reset
    is not on an interval boundary, one interval per day straddles the reset;
    ``today`` is still exact because it is summed from buckets, not intervals.

    Raises ValueError naming ``size_ms`` unless it is positive.
    """
    _require_positive("size_ms", size_ms)
    return ts_ms - ts_ms % size_ms  # Python's % is non-negative for a positive divisor: a floor


def bucket_start_ms(ts_ms: int, bucket_ms: int) -> int:
    """Start of the storage bucket ``[start, start + bucket_ms)`` holding an event at ``ts_ms``.

    Same arithmetic as :func:`interval_start_ms`; raises ValueError naming ``bucket_ms`` unless positive.
    """
    _require_positive("bucket_ms", bucket_ms)
    return ts_ms - ts_ms % bucket_ms


def buckets_between(start_ms: int, end_ms: int, bucket_ms: int) -> range:
    """Starts of the buckets whose start lies in ``[start_ms, end_ms)``, oldest first.

    This is the one rule that assigns buckets to windows. Consecutive windows
    (``end`` of one is ``start`` of the next) therefore never share or lose a
    bucket, even when a boundary is not bucket-aligned: a bucket straddling the
    boundary belongs to the window in which it starts. Empty if ``end_ms <= start_ms``.
    """
    _require_positive("bucket_ms", bucket_ms)
    first = -(-start_ms // bucket_ms) * bucket_ms  # start_ms rounded up to a bucket boundary
    return range(first, end_ms, bucket_ms)


def interval_buckets(interval_start_ms: int, size_ms: int, bucket_ms: int) -> range:
    """The ``size_ms // bucket_ms`` bucket starts of the interval that starts at ``interval_start_ms``.

    Raises ValueError naming the argument if ``size_ms`` is not a positive
    multiple of ``bucket_ms`` or ``interval_start_ms`` is not aligned to ``size_ms``.
    """
    _require_whole_buckets("size_ms", size_ms, bucket_ms)
    if interval_start_ms % size_ms:
        raise ValueError(f"interval_start_ms must be a multiple of size_ms ({size_ms}), got {interval_start_ms}")
    return range(interval_start_ms, interval_start_ms + size_ms, bucket_ms)


def rolling_buckets(now_ms: int, window_ms: int, bucket_ms: int) -> range:
    """Bucket starts of the trailing window ``(now_ms - window_ms, now_ms]``, oldest first.

    Convention: the current bucket (the one containing ``now_ms``, usually
    partial) plus the ``window_ms // bucket_ms`` whole buckets before it, i.e.
    ``window_ms // bucket_ms + 1`` buckets covering
    ``[bucket_start(now) - window_ms, bucket_start(now) + bucket_ms)``.

    So the window never misses an event inside ``(now - window, now]``, and
    over-covers by ``now_ms - bucket_start(now) + 1`` ms of older events (at
    most one bucket: 1 ms when ``now_ms`` is exactly on a bucket boundary, up
    to a whole minute just before the next one with 1-min buckets). Ratios
    (SL, abandonment, ASA, AHT) are barely affected; a rate must divide by the
    covered span, not by ``window_ms``. Events in the current bucket that are
    stamped after ``now_ms`` (clock skew, up to ``max_future_skew_s``) are counted too.

    Raises ValueError naming the argument unless ``window_ms`` is a positive
    multiple of ``bucket_ms``.
    """
    _require_whole_buckets("window_ms", window_ms, bucket_ms)
    current = bucket_start_ms(now_ms, bucket_ms)
    return range(current - window_ms, current + bucket_ms, bucket_ms)


def closed_intervals(previous_now_ms: int, now_ms: int, size_ms: int) -> range:
    """Starts of the intervals that closed when the clock moved from ``previous_now_ms`` to ``now_ms``.

    An interval ``[start, end)`` is closed once the clock reads ``end`` or
    later, so the ones listed are those with ``previous_now_ms < end <= now_ms``,
    oldest first (several if the clock jumped, e.g. after a pause). A clock
    that stood still or went backwards closes nothing. Whether a closed
    interval is final also depends on the lateness allowance; that is the caller's rule.
    """
    return range(interval_start_ms(previous_now_ms, size_ms), interval_start_ms(now_ms, size_ms), size_ms)


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _require_whole_buckets(name: str, value: int, bucket_ms: int) -> None:
    _require_positive("bucket_ms", bucket_ms)
    _require_positive(name, value)
    if value % bucket_ms:
        raise ValueError(f"{name} must be a multiple of bucket_ms ({bucket_ms}), got {value}")


# --- today -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyReset:
    """When ``today`` starts: a local wall-clock time (``daily_reset``, "HH:MM") in an IANA zone (``time_zone``).

    Field names are the setting names. An unknown zone raises
    :class:`InvalidWindowSetting` for ``time_zone``; so does ``"localtime"``,
    which names whatever zone the host happens to have, not the site's. A
    reset that is not "HH:MM" in 00:00..23:59 raises it for ``daily_reset``.
    """

    time_zone: str = "UTC"
    daily_reset: str = "00:00"
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    reset_time: time = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", _zone_setting(self.time_zone))
        matched = _HH_MM.fullmatch(self.daily_reset) if isinstance(self.daily_reset, str) else None
        if matched is None:
            raise InvalidWindowSetting("daily_reset", f"{self.daily_reset!r} is not HH:MM, e.g. 00:00 or 06:30")
        object.__setattr__(self, "reset_time", time(int(matched[1]), int(matched[2])))


def day_start_ms(ts_ms: int, reset: DailyReset) -> int:
    """Epoch ms of the most recent daily reset at or before ``ts_ms``: the start of its ``today``.

    DST-correct, so a day lasts 23, 24 or 25 hours (or 23.5/24.5 in
    Australia/Lord_Howe). When the reset's local time does not exist that day
    (spring forward: 02:30 in Europe/Berlin on 2026-03-29), the day starts at
    the first instant after the gap (03:00 CEST). When it occurs twice (fall
    back: 01:30 in America/New_York on 2026-11-01), the day starts at the first
    occurrence (01:30 EDT). A reset at 02:30 thus makes the day before a
    spring-forward day and that day itself 23.5 h long each; whole-hour resets keep
    every day at 23, 24 or 25 h.
    """
    return _day_of(ts_ms, reset)[1]


def day_range_ms(ts_ms: int, reset: DailyReset) -> tuple[int, int]:
    """``(start, end)`` of the day containing ``ts_ms``: ``start <= ts_ms < end``, ``end`` is the next day's start."""
    nominal_date, start_ms = _day_of(ts_ms, reset)
    return start_ms, _next_day_start_ms(nominal_date, start_ms, reset)


def day_key(ts_ms: int, reset: DailyReset) -> str:
    """Local date ('YYYY-MM-DD') of the reset that started the day containing ``ts_ms``.

    With a 06:00 reset, 05:59 local on 2026-03-10 belongs to '2026-03-09'. The
    date is that of the scheduled reset even when a DST gap moved the start.
    """
    return _day_of(ts_ms, reset)[0].isoformat()


def _day_of(ts_ms: int, reset: DailyReset) -> tuple[date, int]:
    """The nominal local date and the epoch ms of the reset that starts the day containing ``ts_ms``."""
    # Offsets are whole seconds, so dropping the milliseconds cannot change the local date.
    local_date = datetime.fromtimestamp(ts_ms // SECOND_MS, reset.zone).date()
    # Start one day ahead: a fall-back across midnight can put the next date's
    # first reset before the second occurrence of a late-evening time.
    for days_back in range(-1, _DAY_SEARCH_SPAN):
        nominal_date = local_date - timedelta(days=days_back)
        start_ms = _reset_epoch_s(reset.zone, reset.reset_time, nominal_date) * SECOND_MS
        if start_ms <= ts_ms:
            return nominal_date, start_ms
    raise AssertionError(f"no daily reset within {_DAY_SEARCH_SPAN} days before {ts_ms} in {reset.time_zone}")


def _next_day_start_ms(nominal_date: date, start_ms: int, reset: DailyReset) -> int:
    for days_ahead in range(1, _DAY_SEARCH_SPAN + 1):
        next_start_ms = _reset_epoch_s(reset.zone, reset.reset_time, nominal_date + timedelta(days=days_ahead))
        if next_start_ms * SECOND_MS > start_ms:  # equal only for a skipped date: a zero-length day is no day
            return next_start_ms * SECOND_MS
    raise AssertionError(f"no daily reset within {_DAY_SEARCH_SPAN} days after {start_ms} in {reset.time_zone}")


@lru_cache(maxsize=4096)  # every event asks for its day; a handful of dates are live at once
def _reset_epoch_s(zone: ZoneInfo, reset_time: time, nominal_date: date) -> int:
    """Epoch seconds of ``reset_time`` on ``nominal_date``: its first occurrence, or the first instant after a gap."""
    wall = datetime.combine(nominal_date, reset_time)
    first = _epoch_s(wall.replace(tzinfo=zone, fold=0))  # fold=0 is the earlier of two occurrences
    if _local_wall(first, zone) == wall:
        return first
    # The wall time falls in a gap. fold=0 and fold=1 map it with the offsets
    # before and after the transition, landing on either side of it; the local
    # wall clock is below ``wall`` before the transition and above it after,
    # so bisect for the transition instant, where it jumps past the gap.
    other = _epoch_s(wall.replace(tzinfo=zone, fold=1))
    before, after = min(first, other), max(first, other)
    while after - before > 1:
        middle = (before + after) // 2
        if _local_wall(middle, zone) > wall:
            after = middle
        else:
            before = middle
    return after


def _epoch_s(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(seconds=1)


def _local_wall(epoch_s: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch_s, zone).replace(tzinfo=None)


def _zone_setting(name: str) -> ZoneInfo:
    if name == "localtime":
        raise InvalidWindowSetting("time_zone", "'localtime' depends on the host; name the site's IANA zone")
    try:
        return ZoneInfo(name)
    # Unknown key (ZoneInfoNotFoundError), malformed or absolute path
    # (ValueError), a directory such as 'Europe' (IsADirectoryError), not a str (TypeError).
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as exc:
        raise InvalidWindowSetting("time_zone", f"{name!r} is not an IANA time zone, e.g. Europe/Berlin") from exc


# --- window descriptors ------------------------------------------------------


class WindowKind(StrEnum):
    INTERVAL = "interval"
    ROLLING = "rolling"
    TODAY = "today"


@dataclass(frozen=True, slots=True)
class Window:
    """One published window: ``name`` is its label ('interval_15m', 'rolling_5m', 'today').

    ``[start_ms, end_ms)`` is the span of event time its buckets cover; for an
    open window ``end_ms`` lies after now. For a rolling window that span is
    the bucket approximation described in :func:`rolling_buckets`.
    """

    kind: WindowKind
    name: str
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"window {self.name} must end after it starts: [{self.start_ms}, {self.end_ms})")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def contains(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms

    def bucket_starts(self, bucket_ms: int) -> range:
        """The buckets whose start lies in the window (see :func:`buckets_between`)."""
        return buckets_between(self.start_ms, self.end_ms, bucket_ms)


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Which windows are published (SPEC section 4). Sizes are in ms here, whole minutes in the settings.

    Errors are :class:`InvalidWindowSetting` naming the setting: ``interval_minutes``,
    ``rolling_minutes``, ``bucket_seconds`` (and ``time_zone``, ``daily_reset``
    from :class:`DailyReset`). Rules: the bucket is whole seconds; every
    interval and rolling size is whole minutes and whole buckets, without
    repeats; every interval divides 24 h (so every UTC midnight is an interval
    boundary and interval starts repeat daily); at least one interval size.
    """

    interval_sizes_ms: tuple[int, ...] = DEFAULT_INTERVAL_SIZES_MS
    rolling_sizes_ms: tuple[int, ...] = DEFAULT_ROLLING_SIZES_MS
    bucket_ms: int = DEFAULT_BUCKET_MS
    reset: DailyReset = field(default_factory=DailyReset)

    def __post_init__(self) -> None:
        if self.bucket_ms <= 0 or self.bucket_ms % SECOND_MS:
            raise InvalidWindowSetting("bucket_seconds", f"must be positive whole seconds, got {self.bucket_ms} ms")
        if not self.interval_sizes_ms:
            raise InvalidWindowSetting("interval_minutes", "needs at least one interval size, e.g. [15]")
        _check_sizes("interval_minutes", self.interval_sizes_ms, self.bucket_ms)
        for size_ms in self.interval_sizes_ms:
            if DAY_MS % size_ms:
                raise InvalidWindowSetting("interval_minutes", f"{size_ms // MINUTE_MS} min does not divide 24 h")
        _check_sizes("rolling_minutes", self.rolling_sizes_ms, self.bucket_ms)

    @classmethod
    def from_settings(
        cls,
        *,
        interval_minutes: Sequence[int] = (15,),
        rolling_minutes: Sequence[int] = (5, 15, 60),
        bucket_seconds: int = 60,
        time_zone: str = "UTC",
        daily_reset: str = "00:00",
    ) -> WindowConfig:
        """Build from the settings as written in the config file (minutes and seconds)."""
        return cls(
            interval_sizes_ms=tuple(minutes * MINUTE_MS for minutes in interval_minutes),
            rolling_sizes_ms=tuple(minutes * MINUTE_MS for minutes in rolling_minutes),
            bucket_ms=bucket_seconds * SECOND_MS,
            reset=DailyReset(time_zone=time_zone, daily_reset=daily_reset),
        )


def _check_sizes(setting: str, sizes_ms: tuple[int, ...], bucket_ms: int) -> None:
    for size_ms in sizes_ms:
        if size_ms <= 0 or size_ms % MINUTE_MS:
            raise InvalidWindowSetting(setting, f"must be positive whole minutes, got {size_ms} ms")
        if size_ms % bucket_ms:
            raise InvalidWindowSetting(
                setting,
                f"{size_ms // MINUTE_MS} min is not whole buckets (bucket_seconds={bucket_ms // SECOND_MS})",
            )
    if len(set(sizes_ms)) != len(sizes_ms):
        raise InvalidWindowSetting(setting, f"lists a size twice: {[size // MINUTE_MS for size in sizes_ms]}")


def window_name(kind: WindowKind, size_ms: int | None = None) -> str:
    """The published label: 'interval_15m', 'rolling_60m', 'today' (sizes in whole minutes)."""
    if kind is WindowKind.TODAY:
        return "today"
    if size_ms is None or size_ms <= 0 or size_ms % MINUTE_MS:
        raise ValueError(f"{kind} windows need a positive size in whole minutes, got {size_ms}")
    return f"{kind}_{size_ms // MINUTE_MS}m"


def windows_at(now_ms: int, config: WindowConfig) -> list[Window]:
    """The windows current at ``now_ms``: each interval size, each rolling size (in config order), then today."""
    windows: list[Window] = []
    for size_ms in config.interval_sizes_ms:
        start_ms = interval_start_ms(now_ms, size_ms)
        windows.append(
            Window(WindowKind.INTERVAL, window_name(WindowKind.INTERVAL, size_ms), start_ms, start_ms + size_ms)
        )
    for size_ms in config.rolling_sizes_ms:
        buckets = rolling_buckets(now_ms, size_ms, config.bucket_ms)
        windows.append(
            Window(WindowKind.ROLLING, window_name(WindowKind.ROLLING, size_ms), buckets.start, buckets.stop)
        )
    day_start, day_end = day_range_ms(now_ms, config.reset)
    windows.append(Window(WindowKind.TODAY, window_name(WindowKind.TODAY), day_start, day_end))
    return windows


# --- clocks ------------------------------------------------------------------


@runtime_checkable
class Clock(Protocol):
    """What time it is for window closing and timeouts, in epoch ms."""

    def now_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class WallClock:
    """The host's clock (``time.time_ns``); tests inject ``time_source_ns``.

    Rolling windows end at wall-clock now, so they age out without events (SPEC section 4).
    """

    time_source_ns: Callable[[], int] = time_ns

    def now_ms(self) -> int:
        return self.time_source_ns() // 1_000_000


class NoStreamTime(LookupError):
    """Stream time was asked for before any event was observed (on that partition, or at all)."""


class StreamClock:
    """Stream time: per input partition, the largest event time observed on it (SPEC section 5).

    ``now_ms(partition)`` is that partition's time: timeouts of contacts keyed
    to the partition follow it. ``now_ms()`` is the worker's time: the
    *minimum* over the partitions observed, a low watermark. A window may close
    only once every partition has passed its end; taking the maximum would let
    a fast partition close windows that a lagging one (read more slowly, or
    catching up after a rebalance) still has events for. The price: an
    observed partition that goes quiet holds the worker's time back until it
    carries an event or a ``stream.watermark`` (which replays send to every
    partition). Partitions never observed do not hold it back; :meth:`forget`
    a revoked partition so that it stops doing so.

    Stream time never goes backwards on a partition: an older (late) event
    leaves it where it is. The worker-wide time can go back when a partition
    that is behind is assigned; callers keep their own previous reading.
    """

    __slots__ = ("_partition_times_ms",)

    def __init__(self, partition_times_ms: Mapping[int, int] | None = None) -> None:
        """Start empty, or from saved per-partition times (e.g. restored from a changelog)."""
        self._partition_times_ms: dict[int, int] = {}
        for partition, ts_ms in (partition_times_ms or {}).items():
            self.observe(partition, ts_ms)

    def observe(self, partition: int, ts_ms: int) -> int:
        """Record an event time seen on ``partition``; return the partition's stream time afterwards."""
        if partition < 0:
            raise ValueError(f"partition must not be negative, got {partition}")
        current = self._partition_times_ms.get(partition)
        if current is None or ts_ms > current:
            self._partition_times_ms[partition] = current = ts_ms
        return current

    def forget(self, partition: int) -> None:
        """Drop a revoked partition; forgetting one never observed is a no-op."""
        self._partition_times_ms.pop(partition, None)

    def watermark_ms(self, partition: int | None = None) -> int | None:
        """Like :meth:`now_ms`, but None instead of raising when there is no stream time yet."""
        if partition is not None:
            return self._partition_times_ms.get(partition)
        return min(self._partition_times_ms.values(), default=None)

    def now_ms(self, partition: int | None = None) -> int:
        """Stream time of ``partition``, or of the whole worker (the low watermark) when None.

        Raises :class:`NoStreamTime` if there is none yet.
        """
        watermark = self.watermark_ms(partition)
        if watermark is None:
            where = "any partition" if partition is None else f"partition {partition}"
            raise NoStreamTime(f"no event time observed on {where} yet")
        return watermark

    def partition_times_ms(self) -> dict[int, int]:
        """A copy of the per-partition stream times, for saving and for self-metrics."""
        return dict(self._partition_times_ms)

    def __repr__(self) -> str:
        return f"StreamClock({self._partition_times_ms!r})"
