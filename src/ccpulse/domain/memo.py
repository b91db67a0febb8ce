"""What was derived from the latest state of each contact, agent or ticket, kept for its next event.

Every lifecycle derives its facts as a pure function of an immutable state.
Applying one event compares the facts of the state before it with those of
the state after it, and the state before is the very object the previous
event of the same key left behind: remembering what was derived from it
saves deriving it again. A reading is reused only for the same state
*object* (identity, not equality), so a hit gives back exactly what deriving
would; the memory is bounded, the least recently stored key going first.
"""

from __future__ import annotations

from typing import Generic, TypeVar

S = TypeVar("S")
R = TypeVar("R")


class LatestReadings(Generic[S, R]):
    """For each key, one state object and what was derived from it; at most ``limit`` keys."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._limit = limit
        self._entries: dict[str, tuple[S, R]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, state: S) -> R | None:
        """What was derived from this very ``state`` of ``key``, or None if it is not the one remembered."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] is state:
            return entry[1]
        return None

    def put(self, key: str, state: S, reading: R) -> None:
        """Remember ``reading`` as derived from ``state``, the latest state of ``key``."""
        entries = self._entries
        entries.pop(key, None)  # to the end: the least recently stored key goes first
        entries[key] = (state, reading)
        if len(entries) > self._limit:
            del entries[next(iter(entries))]
