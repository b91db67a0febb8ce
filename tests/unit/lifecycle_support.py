"""What every lifecycle's property tests share: a checking consumer, and duplicate delivery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from hypothesis import strategies as st

from ccpulse.domain.changes import FactChanges


class HasFactId(Protocol):
    @property
    def fact_id(self) -> str: ...


class HasEventId(Protocol):
    @property
    def event_id(self) -> str: ...


F = TypeVar("F", bound=HasFactId)
Ev = TypeVar("Ev", bound=HasEventId)


@dataclass
class FactsLedger(Generic[F]):
    """What a consumer of published facts holds: published facts minus retracted ones.

    It checks the protocol on the way: retractions come first and withdraw a
    live fact; no fact id ever has two live facts.
    """

    live: dict[str, F] = field(default_factory=dict)

    def apply(self, changes: FactChanges[F]) -> None:
        for retracted in changes.retracted:
            assert self.live.pop(retracted.fact_id) == retracted, "retracted a fact that was not live"
        for published in changes.published:
            assert published.fact_id not in self.live, "two live facts for one id"
            self.live[published.fact_id] = published

    @property
    def facts(self) -> set[F]:
        return set(self.live.values())


def first_deliveries(events: Sequence[Ev]) -> list[Ev]:
    """The events as first delivered: every later copy of an id is the duplicate."""
    seen: set[str] = set()
    firsts: list[Ev] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            firsts.append(event)
    return firsts


def insert_duplicates(arrival: Sequence[Ev], data: st.DataObject, most: int = 8) -> list[Ev]:
    """``arrival`` with 1..``most`` copies of its events re-delivered at drawn positions."""
    with_duplicates = list(arrival)
    for _ in range(data.draw(st.integers(1, most), label="duplicate count")):
        copy = data.draw(st.sampled_from(arrival), label="duplicated event")
        with_duplicates.insert(data.draw(st.integers(0, len(with_duplicates)), label="position"), copy)
    return with_duplicates
