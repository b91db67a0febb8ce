"""The worker's two stages, in process, give the engine's KPIs: in order, shuffled, duplicated, with lost output.

The entity stage keeps one row per contact, agent or ticket and sends
upserts, deletes and syncs keyed by queue; the queue stage's fact stores
(one per partition) build the views. Whatever the delivery, every queue's
aggregates over the whole stream, its live view, agents by state and backlog
equal those of one :class:`Engine` that saw the same events.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import pytest

from ccpulse.bench.engine_bench import BenchPlan, engine_config, generate_messages
from ccpulse.codec.events import decode_event
from ccpulse.domain.aggregates import QueueAggregate
from ccpulse.domain.contacts import ContactRules
from ccpulse.domain.engine import Engine
from ccpulse.domain.entities import (
    EntityRules,
    EntityState,
    QueueChange,
    entity_key,
    process_event,
)
from ccpulse.domain.events import CanonicalEvent
from ccpulse.domain.fact_store import FactStore
from ccpulse.domain.queue_view import ALL_CHANNELS, QueueView, ViewConfig
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS, Window, WindowKind

PARTITIONS = 3


def partition_of(queue: str) -> int:
    return zlib.crc32(queue.encode()) % PARTITIONS


@dataclass
class TwoStages:
    """The first stage's rows and the second stage's stores, joined without a broker."""

    engine: Engine
    rows: dict[str, EntityState] = field(default_factory=dict)
    stores: list[FactStore] = field(default_factory=list)
    duplicates: int = 0

    def __post_init__(self) -> None:
        config = self.engine.config
        view_config = ViewConfig(
            queues=config.queues,
            windows=config.windows,
            retention_ms=config.retention_ms,
            max_queue_age_ms=config.max_queue_age_ms,
            staffing_rate_window_ms=config.staffing_rate_window_ms,
        )
        self.stores = [FactStore(view_config) for _ in range(PARTITIONS)]
        self.rules = EntityRules(
            ContactRules(acw_timeout_ms=lambda q: config.queues.for_queue(q).acw_timeout_ms),
            customer_key=self.engine.customer_key,
        )

    def step(self, event: CanonicalEvent) -> list[QueueChange]:
        """Run the first stage for one event; return what it sends (not delivered yet)."""
        key = entity_key(event)
        if key is None:
            return []
        row, changes, duplicate = process_event(key, self.rows.get(key, EntityState()), event, self.rules)
        self.rows[key] = row
        self.duplicates += duplicate
        return changes

    def deliver(self, changes: Sequence[QueueChange]) -> None:
        for change in changes:
            self.stores[partition_of(change.queue)].apply(change)

    def view_of(self, queue: str) -> QueueView:
        return self.stores[partition_of(queue)].view

    def advance_to(self, now_ms: int) -> None:
        for store in self.stores:
            store.view.advance_to(now_ms)


def mixed_events(contacts: int = 150, seed: int = 7) -> list[CanonicalEvent]:
    messages, _ = generate_messages(BenchPlan(contacts=contacts, seed=seed, queues=6))
    return [decode_event(message) for message in messages]


def comparable(aggregate: QueueAggregate) -> dict[str, object]:
    return {f.name: getattr(aggregate, f.name) for f in fields(aggregate)}


def assert_same_kpis(engine: Engine, stages: TwoStages, events: Sequence[CanonicalEvent], now_ms: int) -> None:
    first_ms = min(e.ts_ms for e in events) // HOUR_MS * HOUR_MS
    everything = Window(WindowKind.ROLLING, "everything", first_ms, now_ms + HOUR_MS)
    queues = {queue for queue, _ in engine.queues()}
    assert queues, "the stream has queues"
    for queue, channel in engine.queues():
        view = stages.view_of(queue)
        assert comparable(view.aggregate(queue, channel, everything)) == comparable(
            engine.aggregate(queue, channel, everything)
        ), (queue, channel)
        assert view.live(queue, channel, now_ms) == engine.live(queue, channel, now_ms), (queue, channel)
    for queue in queues:
        view = stages.view_of(queue)
        assert comparable(view.aggregate(queue, ALL_CHANNELS, everything)) == comparable(
            engine.aggregate(queue, ALL_CHANNELS, everything)
        ), queue
        assert view.agents_by_state(queue) == engine.agents_by_state(queue), queue
        assert view.open_tickets(queue) == engine.open_tickets(queue), queue


def run_both(arrival: Sequence[CanonicalEvent], *, lose_every: int = 0) -> tuple[Engine, TwoStages, int]:
    """The engine over ``arrival``; the two stages too, losing the output of every ``lose_every``-th event
    and then (like a restarted worker) receiving those events again."""
    engine = Engine(engine_config())
    for event in arrival:
        engine.apply(event)
    stages = TwoStages(Engine(engine_config()))
    lost: list[CanonicalEvent] = []
    for number, event in enumerate(arrival, start=1):
        changes = stages.step(event)
        if lose_every and number % lose_every == 0:
            lost.append(event)  # the row was written, the output never left
        else:
            stages.deliver(changes)
    for event in lost:  # redelivered: duplicates now, so the entity is resynced
        stages.deliver(stages.step(event))
    # Past every ACW timeout, well inside the retention and the repeat window.
    now_ms = max(e.ts_ms for e in arrival) + 2 * HOUR_MS
    engine.advance_to(now_ms)
    stages.advance_to(now_ms)
    return engine, stages, now_ms


@pytest.fixture(scope="module")
def events() -> list[CanonicalEvent]:
    return mixed_events()


def test_in_order_stream_gives_the_engine_kpis(events: list[CanonicalEvent]) -> None:
    engine, stages, now_ms = run_both(events)
    assert stages.duplicates == 0
    assert_same_kpis(engine, stages, events, now_ms)


@pytest.mark.parametrize(("seed", "lose_every"), [(1, 0), (2, 0), (3, 5)])
def test_shuffled_and_duplicated_stream_gives_the_engine_kpis(
    events: list[CanonicalEvent], seed: int, lose_every: int
) -> None:
    rng = random.Random(seed)
    # Shuffle within 10-minute slices (events of a contact arrive out of order, time still moves on),
    # and deliver a tenth of them twice.
    arrival: list[CanonicalEvent] = []
    slice_ms = 10 * MINUTE_MS
    by_slice: dict[int, list[CanonicalEvent]] = {}
    for event in events:
        by_slice.setdefault(event.ts_ms // slice_ms, []).append(event)
    for key in sorted(by_slice):
        chunk = by_slice[key] + [e for e in by_slice[key] if rng.random() < 0.1]
        rng.shuffle(chunk)
        arrival += chunk
    engine, stages, now_ms = run_both(arrival, lose_every=lose_every)
    assert stages.duplicates > 0
    assert_same_kpis(engine, stages, events, now_ms)


@pytest.mark.parametrize("lose_every", [3, 7])
def test_lost_output_is_repaired_when_the_events_come_again(events: list[CanonicalEvent], lose_every: int) -> None:
    engine, stages, now_ms = run_both(events, lose_every=lose_every)
    assert stages.duplicates == len(events) // lose_every - sum(
        1 for n, e in enumerate(events, 1) if n % lose_every == 0 and entity_key(e) is None
    )
    assert_same_kpis(engine, stages, events, now_ms)


def test_a_store_rebuilt_from_its_rows_gives_the_same_view(events: list[CanonicalEvent]) -> None:
    engine, stages, now_ms = run_both(events)
    for partition, store in enumerate(stages.stores):
        rebuilt = FactStore(store.view.config)
        rebuilt.load([(queue, key, live) for (queue, key), live in store._live.items()])
        rebuilt.view.advance_to(now_ms)
        stages.stores[partition] = rebuilt
    assert_same_kpis(engine, stages, events, now_ms)
