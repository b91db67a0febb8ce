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
    """Each key with its latest time (ms); keys older than a given time are found slot by slot.

    A slot lists the keys touched in it, in a list (a set costs several times the
    memory per key): a key that moved on to a later slot stays listed in the
    earlier one too, and is skipped there because its time is no longer in it.
    """

    def __init__(self, slot_ms: int) -> None:
        if slot_ms <= 0:
            raise ValueError(f"slot_ms must be positive, got {slot_ms}")
        self._slot_ms = slot_ms
        self._seen_ms: dict[K, int] = {}
        self._slots: dict[int, list[K]] = {}

    def __len__(self) -> int:
        return len(self._seen_ms)

    def __contains__(self, key: object) -> bool:
        return key in self._seen_ms

    def get(self, key: K) -> int | None:
        return self._seen_ms.get(key)

    def touch(self, key: K, ts_ms: int) -> None:
        """Record that ``key`` was seen at ``ts_ms``; its time only ever moves forward."""
        slot_ms = self._slot_ms
        previous = self._seen_ms.get(key)
        if previous is not None:
            if ts_ms <= previous:
                return
            if previous - previous % slot_ms == ts_ms - ts_ms % slot_ms:
                self._seen_ms[key] = ts_ms  # same slot: already listed there
                return
        self._seen_ms[key] = ts_ms
        slot = ts_ms - ts_ms % slot_ms
        members = self._slots.get(slot)
        if members is None:
            self._slots[slot] = [key]
        else:
            members.append(key)

    def _in_slot(self, slot: int) -> Iterator[tuple[K, int]]:
        """The keys whose latest time is in ``slot`` (each once), with that time."""
        slot_ms, seen = self._slot_ms, self._seen_ms
        listed: set[K] = set()
        for key in self._slots.get(slot, ()):
            seen_ms = seen.get(key)
            if seen_ms is not None and seen_ms - seen_ms % slot_ms == slot and key not in listed:
                listed.add(key)
                yield key, seen_ms

    def seen_between(self, from_ms: int, before_ms: int) -> Iterator[tuple[K, int]]:
        """Keys whose latest time is in ``[from_ms, before_ms)``, with that time (oldest slots first)."""
        first_slot = from_ms - from_ms % self._slot_ms
        for slot in sorted(s for s in self._slots if first_slot <= s < before_ms):
            for key, seen_ms in list(self._in_slot(slot)):
                if from_ms <= seen_ms < before_ms:
                    yield key, seen_ms

    def pop_older_than(self, before_ms: int) -> list[K]:
        """Remove and return every key whose latest time is before ``before_ms``."""
        gone: list[K] = []
        seen = self._seen_ms
        for slot in sorted(s for s in self._slots if s < before_ms):
            kept: list[K] = []
            for key, seen_ms in list(self._in_slot(slot)):
                if seen_ms < before_ms:
                    del seen[key]
                    gone.append(key)
                else:
                    kept.append(key)
            if kept:
                self._slots[slot] = kept
            else:
                del self._slots[slot]
        return gone
