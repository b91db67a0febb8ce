"""What one event changed in a lifecycle's facts: facts to publish and earlier facts to withdraw.

Every lifecycle (queue stints, contacts, agent states, tickets, surveys) derives its facts as a pure
function of the set of events seen. Applying one event compares the facts
before and after it; the difference is published as :class:`FactChanges`. A
consumer that applies ``retracted`` before ``published`` and keeps the latest
fact per ``fact_id`` holds exactly the facts of the event set, whatever order
the events arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class FactChanges(Generic[F]):
    """Facts to publish, and previously published facts to withdraw (applied first)."""

    published: tuple[F, ...] = ()
    retracted: tuple[F, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.published or self.retracted)


def diff_facts(before: Mapping[str, F], after: Mapping[str, F]) -> FactChanges[F]:
    """The changes that turn the facts ``before`` into ``after`` (both keyed by ``fact_id``).

    A fact whose content changed under the same id is both retracted (old
    content) and published (new content).
    """
    return FactChanges(
        published=tuple(fact for fact_id, fact in after.items() if before.get(fact_id) != fact),
        retracted=tuple(fact for fact_id, fact in before.items() if after.get(fact_id) != fact),
    )
