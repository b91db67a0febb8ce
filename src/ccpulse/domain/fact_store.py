"""The queue side of a distributed run: the live facts of one partition and the view built on them.

The worker's second stage reads :class:`~ccpulse.domain.entities.Upsert`,
:class:`~ccpulse.domain.entities.Delete` and
:class:`~ccpulse.domain.entities.Sync` records keyed by queue. A
:class:`FactStore` holds the facts live in its partition, keyed by
``(queue, fact key)``, and keeps a :class:`~ccpulse.domain.queue_view.QueueView`
in step with them. Every change is idempotent: an upsert of the fact already
held, or a delete of one not held, changes nothing, so records delivered again
after a crash are harmless.

Durability: the worker writes each row the store reports (:class:`RowWrite`) to
a changelog-backed table and, after a restart or a rebalance, rebuilds the
store from the table's rows with :meth:`FactStore.load`; the view is a pure
function of the rows and the clock, so it comes back exactly.

Clock: each first-stage partition reports its stream time; the store's stream
clock is the *minimum* over the partitions that reported (a watermark), so a
partition read faster than another never moves the windows of the other's
data on (SPEC section 5).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccpulse.domain.entities import Delete, QueueChange, Sync, Upsert
from ccpulse.domain.facts import (
    AgentPresenceFact,
    AgentStateFact,
    HandlingFact,
    QueueArrivalFact,
    QueueOutcomeFact,
    TicketOpenFact,
)
from ccpulse.domain.queue_view import QueueView, ViewConfig, ViewFact, ViewStats


@dataclass(frozen=True, slots=True)
class LiveFact:
    entity: str
    fact: ViewFact


@dataclass(frozen=True, slots=True)
class RowWrite:
    """Persist ``value`` under ``(queue, key)``; None deletes the row."""

    queue: str
    key: str
    value: LiveFact | None


class FactStore:
    """Live facts of one queue-stage partition and the KPI view over them."""

    def __init__(self, config: ViewConfig, stats: ViewStats | None = None) -> None:
        self.view = QueueView(config, stats, track_changes=True)
        self._live: dict[tuple[str, str], LiveFact] = {}
        self._keys_of: dict[tuple[str, str], set[str]] = {}  # (queue, entity) -> fact keys
        self._source_clocks: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._live)

    def get(self, queue: str, key: str) -> LiveFact | None:
        return self._live.get((queue, key))

    def apply(self, change: QueueChange) -> list[RowWrite]:
        """Fold one change in; return the rows to persist (none if it changed nothing)."""
        if isinstance(change, Upsert):
            return self._upsert(change.queue, change.key, LiveFact(change.entity, change.fact))
        if isinstance(change, Delete):
            return self._delete(change.queue, change.key)
        return self._sync(change)

    def _upsert(self, queue: str, key: str, live: LiveFact) -> list[RowWrite]:
        row = (queue, key)
        current = self._live.get(row)
        if current is not None and current.entity == live.entity and _same_fact(current.fact, live.fact):
            return []
        self.view.apply((live.fact,), () if current is None else (current.fact,), only_queue=queue)
        self._live[row] = live
        entity_keys = self._keys_of.get((queue, live.entity))
        if entity_keys is None:
            self._keys_of[(queue, live.entity)] = {key}
        else:
            entity_keys.add(key)
        return [RowWrite(queue, key, live)]

    def _delete(self, queue: str, key: str) -> list[RowWrite]:
        current = self._live.pop((queue, key), None)
        if current is None:
            return []
        self.view.apply(retracted=(current.fact,), only_queue=queue)
        self._unindex(queue, key, current.entity)
        return [RowWrite(queue, key, None)]

    def _unindex(self, queue: str, key: str, entity: str) -> None:
        keys = self._keys_of.get((queue, entity))
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys_of[(queue, entity)]

    def _sync(self, change: Sync) -> list[RowWrite]:
        stale = self._keys_of.get((change.queue, change.entity), set()) - set(change.keys)
        writes: list[RowWrite] = []
        for key in sorted(stale):
            writes += self._delete(change.queue, key)
        return writes

    def forget_before(self, horizon_ms: int) -> list[RowWrite]:
        """Drop facts that count before ``horizon_ms`` (their buckets are gone); the view is not touched.

        Live records (presence, open tickets) stay while they are live.
        """
        old = [(queue, key) for (queue, key), live in self._live.items() if _counts_at_ms(live.fact) < horizon_ms]
        writes: list[RowWrite] = []
        for queue, key in old:
            live = self._live.pop((queue, key))
            self._unindex(queue, key, live.entity)
            writes.append(RowWrite(queue, key, None))
        return writes

    def load(self, rows: list[tuple[str, str, LiveFact]]) -> None:
        """Rebuild from persisted rows ``(queue, key, live fact)`` (an empty store only)."""
        if self._live:
            raise ValueError("load() rebuilds an empty store; this one holds facts")
        # Every bucket loaded counts as changed: the worker that published rows for them
        # may have died before publishing its last changes, so closed windows are published again.
        for queue, key, live in rows:
            self._upsert(queue, key, live)

    # -- clock ---------------------------------------------------------------------

    def observe_source_clock(self, source: int, stream_time_ms: int) -> bool:
        """A first-stage partition's stream time; True if it moved on."""
        if stream_time_ms <= self._source_clocks.get(source, -(2**62)):
            return False
        self._source_clocks[source] = stream_time_ms
        return True

    def source_clocks(self) -> dict[int, int]:
        return dict(self._source_clocks)

    def stream_clock_ms(self) -> int | None:
        """The watermark: the slowest first-stage partition's stream time (None before any report)."""
        return min(self._source_clocks.values()) if self._source_clocks else None


def _same_fact(held: ViewFact, fact: ViewFact) -> bool:
    """``held == fact``, without comparing field by field when it is the very same object."""
    return held is fact or held == fact


def _counts_at_ms(fact: ViewFact) -> int:
    """When a fact counts (its bucket); live records never age out."""
    if isinstance(fact, AgentPresenceFact | TicketOpenFact):
        return 2**62
    if isinstance(fact, QueueArrivalFact):
        return fact.queued_ts_ms
    if isinstance(fact, QueueOutcomeFact):
        return fact.outcome_ts_ms
    if isinstance(fact, HandlingFact):
        return fact.completed_ts_ms
    if isinstance(fact, AgentStateFact):
        return fact.end_ts_ms
    return fact.ts_ms
