"""Per-queue KPI settings: SPEC defaults, overrides, and errors that name the setting."""

from __future__ import annotations

import pytest

from ccpulse.domain.queue_config import QueueConfig, QueueConfigError, QueueConfigs


def test_defaults_are_the_specs() -> None:
    config = QueueConfig()

    assert config.sl_thresholds_s == (20, 30, 60)
    assert (config.sl_target_threshold_s, config.sl_target_ratio) == (20, 0.8)
    assert (config.short_abandon_s, config.acw_timeout_s, config.repeat_window_h) == (5, 600, 72)
    assert (config.short_abandon_ms, config.acw_timeout_ms, config.repeat_window_ms) == (5_000, 600_000, 259_200_000)
    assert (config.time_zone, config.daily_reset) == ("UTC", "00:00")


def test_histogram_bounds_always_contain_the_thresholds_read_off_them() -> None:
    config = QueueConfig(sl_thresholds_s=(25, 40), sl_target_threshold_s=25, short_abandon_s=8, wait_bounds_s=(60,))

    assert config.wait_bounds_s == (8, 25, 40, 60)


def test_per_queue_overrides_inherit_the_default_section() -> None:
    configs = QueueConfigs.from_mapping(
        {"short_abandon_s": 10, "time_zone": "Europe/Berlin"},
        {"vip": {"sl_thresholds_s": [10, 20], "sl_target_threshold_s": 10, "sl_target_ratio": 0.9}},
    )

    vip, other = configs.for_queue("vip"), configs.for_queue("anything-else")
    assert (vip.sl_thresholds_s, vip.sl_target_ratio, vip.short_abandon_s) == ((10, 20), 0.9, 10)
    assert vip.time_zone == "Europe/Berlin"
    assert (other.sl_thresholds_s, other.short_abandon_s) == ((20, 30, 60), 10)
    assert vip.reset.time_zone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"sl_thresholds_s": ()}, "sl_thresholds_s"),
        ({"sl_thresholds_s": (30, 20)}, "sl_thresholds_s"),
        ({"sl_thresholds_s": (0, 20)}, "sl_thresholds_s"),
        ({"sl_target_threshold_s": 45}, "sl_target_threshold_s"),
        ({"sl_target_ratio": 1.0}, "sl_target_ratio"),
        ({"short_abandon_s": -1}, "short_abandon_s"),
        ({"acw_timeout_s": 0}, "acw_timeout_s"),
        ({"repeat_window_h": 0}, "repeat_window_h"),
        ({"cost_per_agent_hour": -3.0}, "cost_per_agent_hour"),
        ({"wait_bounds_s": (0, 10)}, "wait_bounds_s"),
        ({"time_zone": "Europe"}, "time_zone"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"daily_reset": "24:00"}, "daily_reset"),
        ({"daily_reset": "6:00"}, "daily_reset"),
    ],
)
def test_each_invalid_setting_is_named_with_its_queue(settings: dict[str, object], named: str) -> None:
    with pytest.raises(QueueConfigError, match=rf"setting {named}\b.*queue vip"):
        QueueConfigs.from_mapping({}, {"vip": settings})


def test_unknown_queue_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(QueueConfigError, match=r"unknown queue setting 'sla'.*sl_thresholds_s"):
        QueueConfigs.from_mapping({"sla": 20}, {})
