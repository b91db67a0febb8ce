"""Per-queue KPI settings, with the SPEC's defaults and fail-fast validation.

Every error names the setting (and the queue, for an override) so a wrong
value in a config file points at itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ccpulse.domain.windows import DailyReset, InvalidWindowSetting

DEFAULT_SL_THRESHOLDS_S = (20, 30, 60)
# Bounds of the wait histograms (seconds). Every SL threshold and the
# short-abandon threshold are added, so "within T" can be read off a bucket edge.
DEFAULT_WAIT_BOUNDS_S = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200)


class QueueConfigError(ValueError):
    """A queue setting is invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """KPI rules for one queue (SPEC section 3)."""

    sl_thresholds_s: tuple[int, ...] = DEFAULT_SL_THRESHOLDS_S
    sl_target_threshold_s: int = 20
    sl_target_ratio: float = 0.8
    short_abandon_s: int = 5  # 0 disables short-abandon exclusion
    acw_timeout_s: int = 600
    repeat_window_h: int = 72
    time_zone: str = "UTC"
    daily_reset: str = "00:00"
    complaint_dispositions: frozenset[str] = field(default_factory=lambda: frozenset({"complaint"}))
    escalation_dispositions: frozenset[str] = field(default_factory=lambda: frozenset({"escalated", "escalation"}))
    cost_per_agent_hour: float | None = None
    wait_bounds_s: tuple[int, ...] = DEFAULT_WAIT_BOUNDS_S
    queue_name: str = ""  # for error messages only

    def __post_init__(self) -> None:
        where = f" (queue {self.queue_name})" if self.queue_name else ""

        def check(ok: bool, setting: str, problem: str) -> None:
            if not ok:
                raise QueueConfigError(f"setting {setting}{where}: {problem}")

        thresholds = self.sl_thresholds_s
        check(len(thresholds) > 0, "sl_thresholds_s", "needs at least one threshold")
        check(all(isinstance(t, int) and t > 0 for t in thresholds), "sl_thresholds_s", "must be positive seconds")
        check(list(thresholds) == sorted(set(thresholds)), "sl_thresholds_s", "must be increasing without repeats")
        check(
            self.sl_target_threshold_s in thresholds,
            "sl_target_threshold_s",
            f"must be one of sl_thresholds_s {list(thresholds)}",
        )
        check(0 < self.sl_target_ratio < 1, "sl_target_ratio", "must be between 0 and 1 (e.g. 0.8)")
        check(self.short_abandon_s >= 0, "short_abandon_s", "must be 0 (disabled) or more seconds")
        check(self.acw_timeout_s > 0, "acw_timeout_s", "must be positive seconds")
        check(self.repeat_window_h > 0, "repeat_window_h", "must be positive hours")
        check(
            self.cost_per_agent_hour is None or self.cost_per_agent_hour >= 0,
            "cost_per_agent_hour",
            "must not be negative",
        )
        check(all(b > 0 for b in self.wait_bounds_s), "wait_bounds_s", "must be positive seconds")
        try:
            DailyReset(time_zone=self.time_zone, daily_reset=self.daily_reset)
        except InvalidWindowSetting as exc:
            raise QueueConfigError(f"{exc}{where}") from exc
        # Histogram bounds always include the thresholds that KPIs read off them.
        needed = set(thresholds) | ({self.short_abandon_s} if self.short_abandon_s else set())
        bounds = tuple(sorted(set(self.wait_bounds_s) | needed))
        object.__setattr__(self, "wait_bounds_s", bounds)

    @property
    def reset(self) -> DailyReset:
        """The queue's ``today`` window rule."""
        return DailyReset(time_zone=self.time_zone, daily_reset=self.daily_reset)

    @property
    def short_abandon_ms(self) -> int:
        return self.short_abandon_s * 1000

    @property
    def acw_timeout_ms(self) -> int:
        return self.acw_timeout_s * 1000

    @property
    def repeat_window_ms(self) -> int:
        return self.repeat_window_h * 3_600_000


@dataclass(frozen=True, slots=True)
class QueueConfigs:
    """The default rules plus per-queue overrides."""

    default: QueueConfig = field(default_factory=QueueConfig)
    overrides: Mapping[str, QueueConfig] = field(default_factory=dict)

    def for_queue(self, queue: str) -> QueueConfig:
        return self.overrides.get(queue, self.default)

    @classmethod
    def from_mapping(cls, default: Mapping[str, Any], per_queue: Mapping[str, Mapping[str, Any]]) -> QueueConfigs:
        """Build from plain settings (e.g. TOML tables); per-queue values override the default ones."""
        base = _build(QueueConfig(), default, "")
        return cls(base, {name: _build(base, values, name) for name, values in per_queue.items()})


_LIST_SETTINGS = {"sl_thresholds_s", "wait_bounds_s"}
_SET_SETTINGS = {"complaint_dispositions", "escalation_dispositions"}


def _build(base: QueueConfig, values: Mapping[str, Any], queue: str) -> QueueConfig:
    known = set(QueueConfig.__dataclass_fields__) - {"queue_name"}
    changes: dict[str, Any] = {"queue_name": queue}
    for key, value in values.items():
        if key not in known:
            where = f" for queue {queue}" if queue else ""
            raise QueueConfigError(f"unknown queue setting {key!r}{where}; known: {', '.join(sorted(known))}")
        if key in _LIST_SETTINGS:
            changes[key] = tuple(value)
        elif key in _SET_SETTINGS:
            changes[key] = frozenset(value)
        else:
            changes[key] = value
    return replace(base, **changes)
