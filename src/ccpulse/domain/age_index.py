"""Keys by the latest time they were seen, so housekeeping finds old keys without scanning all.

The engine forgets contacts, buckets and segments once stream time has left
them behind. Scanning every key at each housekeeping pass costs time in
proportion to all the state kept (48 hours of it); this index files keys in
coarse time slots, so a pass only visits the slots that have turned old.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class AgeIndex(Generic[K]):
    """Each key with its latest time (ms); keys older than a given time are found slot by slot."""

    def __init__(self, slot_ms: int) -> None:
        if slot_ms <= 0:
            raise ValueError(f"slot_ms must be positive, got {slot_ms}")
        self._slot_ms = slot_ms
        self._seen_ms: dict[K, int] = {}
        self._slots: dict[int, set[K]] = {}

    def __len__(self) -> int:
        return len(self._seen_ms)

    def __contains__(self, key: object) -> bool:
        return key in self._seen_ms

    def get(self, key: K) -> int | None:
        return self._seen_ms.get(key)

    def touch(self, key: K, ts_ms: int) -> None:
        """Record that ``key`` was seen at ``ts_ms``; its time only ever moves forward."""
        previous = self._seen_ms.get(key)
        if previous is not None:
            if ts_ms <= previous:
                return
            old_slot = previous - previous % self._slot_ms
            new_slot = ts_ms - ts_ms % self._slot_ms
            if old_slot != new_slot:
                self._remove_from_slot(key, old_slot)
                self._slots.setdefault(new_slot, set()).add(key)
        else:
            self._slots.setdefault(ts_ms - ts_ms % self._slot_ms, set()).add(key)
        self._seen_ms[key] = ts_ms

    def seen_between(self, from_ms: int, before_ms: int) -> Iterator[tuple[K, int]]:
        """Keys whose latest time is in ``[from_ms, before_ms)``, with that time (oldest slots first)."""
        first_slot = from_ms - from_ms % self._slot_ms
        for slot in sorted(s for s in self._slots if first_slot <= s < before_ms):
            for key in list(self._slots.get(slot, ())):
                seen_ms = self._seen_ms[key]
                if from_ms <= seen_ms < before_ms:
                    yield key, seen_ms

    def pop_older_than(self, before_ms: int) -> list[K]:
        """Remove and return every key whose latest time is before ``before_ms``."""
        gone: list[K] = []
        for slot in sorted(s for s in self._slots if s < before_ms):
            members = self._slots[slot]
            old = [key for key in members if self._seen_ms[key] < before_ms]
            for key in old:
                del self._seen_ms[key]
                members.discard(key)
            if not members:
                del self._slots[slot]
            gone.extend(old)
        return gone

    def _remove_from_slot(self, key: K, slot: int) -> None:
        members = self._slots[slot]
        members.discard(key)
        if not members:
            del self._slots[slot]
