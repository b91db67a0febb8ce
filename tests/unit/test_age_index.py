"""AgeIndex: keys by latest time, found old without scanning every key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccpulse.domain.age_index import AgeIndex


def test_touch_keeps_the_latest_time_and_moves_between_slots() -> None:
    index = AgeIndex[str](10)
    index.touch("a", 5)
    index.touch("a", 3)  # older: ignored
    assert index.get("a") == 5
    index.touch("a", 27)
    assert index.get("a") == 27
    assert index.pop_older_than(20) == []
    assert index.pop_older_than(28) == ["a"]
    assert len(index) == 0
    assert "a" not in index


def test_seen_between_is_half_open_and_leaves_keys_in_place() -> None:
    index = AgeIndex[str](10)
    for key, ts in {"a": 0, "b": 9, "c": 10, "d": 25}.items():
        index.touch(key, ts)
    assert sorted(index.seen_between(9, 25)) == [("b", 9), ("c", 10)]
    assert len(index) == 4


def test_slot_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slot_ms"):
        AgeIndex[str](0)


@given(
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(-50, 200)), max_size=40),
    st.integers(-60, 210),
    st.integers(1, 30),
)
def test_pop_older_than_matches_a_full_scan(touches: list[tuple[str, int]], before_ms: int, slot_ms: int) -> None:
    index = AgeIndex[str](slot_ms)
    latest: dict[str, int] = {}
    for key, ts in touches:
        index.touch(key, ts)
        latest[key] = max(latest.get(key, ts), ts)
    expected_between = {(k, t) for k, t in latest.items() if before_ms - 40 <= t < before_ms}
    assert set(index.seen_between(before_ms - 40, before_ms)) == expected_between
    assert sorted(index.pop_older_than(before_ms)) == sorted(k for k, t in latest.items() if t < before_ms)
    assert {k: index.get(k) for k in latest if k in index} == {k: t for k, t in latest.items() if t >= before_ms}
