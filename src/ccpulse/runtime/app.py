"""Build the Faust application: a factory, never an app at import time.

Topology (every arrow a Kafka topic, every table changelog-backed)::

    input topic ──ingest──▶ decode, validate, late/future check ──▶ dead-letter topic
        │                                                           (original bytes, reason and
        ▼  re-keyed by entity (contact / agent / ticket;           source topic/partition/offset
        │  a survey goes with what it rates)                        in headers)
    <app>-entity-events ──entities──▶ entities table (one row per entity)
        │
        ▼  upserts / deletes / syncs of facts keyed by queue, and each
        │  partition's stream time broadcast to every queue partition
    <app>-queue-changes ──queues──▶ queue-facts table (the live facts) ──▶ view per partition
                                        │                                   │
                                        ▼                                   ▼  every kpi_publish_interval_s
                               contact-facts topic                 KPI topic; /metrics at scrape time

The entity stage derives each entity's *eventual* facts and sends what
changed as idempotent upserts and deletes (``ccpulse.domain.entities``); a
duplicate event resyncs the entity, which repairs output lost in a crash. The
queue stage keeps the live facts per partition (``ccpulse.domain.fact_store``)
and a view over them that it rebuilds from its table after a restart or a
rebalance. Windows are our own buckets, never Faust's windowed tables.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

import faust
from prometheus_client import CollectorRegistry

from ccpulse.codec.batches import CorruptBatch, encode_batches, is_batch, partition_for_key, split_batch
from ccpulse.codec.events import InvalidEvent, RejectReason, decode_event, encode_event
from ccpulse.codec.outputs import fact_record, fact_record_key
from ccpulse.codec.stage_records import (
    SourceClock,
    clock_to_json,
    decode_queue_record,
    entity_state_from_dict,
    entity_state_to_dict,
    live_fact_from_dict,
    live_fact_to_dict,
    queue_change_to_json,
)
from ccpulse.config import Settings
from ccpulse.domain.contacts import ContactRules
from ccpulse.domain.engine import hash_customer_id
from ccpulse.domain.entities import (
    Delete,
    EntityRules,
    EntityState,
    QueueChange,
    Upsert,
    entity_key,
    process_event,
)
from ccpulse.domain.events import ContactEvent
from ccpulse.domain.fact_store import FactStore, LiveFact, RowWrite
from ccpulse.domain.queue_view import QueueView, ViewConfig, ViewStats
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS
from ccpulse.runtime.direct_output import DirectOutput
from ccpulse.runtime.kafka_security import KafkaSecurity
from ccpulse.runtime.kpi_publisher import KpiPublisher
from ccpulse.runtime.producer_buffer import CcpulseFaustApp
from ccpulse.runtime.topics import compacted_config, entity_topic_name, queue_topic_name
from ccpulse.telemetry.metrics import ConsumerLagCollector, KpiCollector, MetricsLimits, SelfMetrics

logger = logging.getLogger(__name__)

CLOCK_BROADCAST_INTERVAL_S = 1.0
REAP_EVERY_MS = 5 * MINUTE_MS  # stream time between sweeps of rows older than the retention
CLOCK_ROW_PREFIX = "~clock|"  # fact rows start with a digit (see fact_row_key)
PRODUCER_LINGER_MS = 5
PRODUCER_BATCH_BYTES = 1 << 20
PUBLISH_SLICE_S = 0.05  # KPI publishing pauses for other work at least this often
#: Largest internal batch message; the producer's request limit is 1 MB.
BATCH_MAX_BYTES = 512 * 1024
BATCH_KEY = b"~batch"
#: Decoded entity rows kept between batches (about a kilobyte each); older ones are read from the table again.
ENTITY_CACHE_MAX = 100_000  # internal batches go to an explicit partition; the key only names them


#: Dead letters carry at most this much of the rejected bytes: with the key and headers they stay
#: under the producer's request limit (Faust's producer_max_request_size, 1,000,000 by default),
#: below the 1 MiB an input message may have.
DEAD_LETTER_MAX_VALUE_BYTES = 900_000
#: Headers of a dead letter, UTF-8 text (schemas/asyncapi.yaml lists them for consumers).
#: Always present: why, and where the rejected record was on the input topic.
DEAD_LETTER_REASON = "ccpulse.reason"  # a RejectReason value
DEAD_LETTER_DETAIL = "ccpulse.detail"
DEAD_LETTER_SOURCE_TOPIC = "ccpulse.source.topic"
DEAD_LETTER_SOURCE_PARTITION = "ccpulse.source.partition"
DEAD_LETTER_SOURCE_OFFSET = "ccpulse.source.offset"
#: Present when they apply: the event's index in a framed batch, a redacted payload's size
#: and SHA-256 (dead_letter_redact_payload), the size of a payload cut to DEAD_LETTER_MAX_VALUE_BYTES.
DEAD_LETTER_SOURCE_BATCH_INDEX = "ccpulse.source.batch_index"
DEAD_LETTER_REDACTED_BYTES = "ccpulse.redacted.bytes"
DEAD_LETTER_REDACTED_SHA256 = "ccpulse.redacted.sha256"
DEAD_LETTER_TRUNCATED_FROM_BYTES = "ccpulse.truncated_from_bytes"
DEAD_LETTER_ALWAYS_HEADERS = (
    DEAD_LETTER_REASON,
    DEAD_LETTER_DETAIL,
    DEAD_LETTER_SOURCE_TOPIC,
    DEAD_LETTER_SOURCE_PARTITION,
    DEAD_LETTER_SOURCE_OFFSET,
)
DEAD_LETTER_HEADERS = (
    *DEAD_LETTER_ALWAYS_HEADERS,
    DEAD_LETTER_SOURCE_BATCH_INDEX,
    DEAD_LETTER_REDACTED_BYTES,
    DEAD_LETTER_REDACTED_SHA256,
    DEAD_LETTER_TRUNCATED_FROM_BYTES,
)
#: Marks a customer id that the input stage has already replaced by its keyed hash.
HASHED_CUSTOMER_PREFIX = "~h:"


def customer_key_of(hash_key: bytes, customer_id: str | None) -> str | None:
    """The entity stage's customer key: the input stage's hash, or (from an older version's
    records, which carried the id itself) the keyed hash of the id."""
    if customer_id is not None and customer_id.startswith(HASHED_CUSTOMER_PREFIX):
        return customer_id[len(HASHED_CUSTOMER_PREFIX) :]
    return hash_customer_id(hash_key, customer_id)


def fact_row_key(queue: str, key: str) -> str:
    """Table key of a live fact; the length prefix keeps any queue name unambiguous."""
    return f"{len(queue)}:{queue}|{key}"


async def _take(stream: faust.StreamT[bytes], settings: Settings) -> AsyncIterator[list[Any]]:
    """The stream's events in lists: up to ``batch_max_events``, or what arrived within ``batch_max_wait_ms``.

    A list's messages are acked only once the agent body has handled all of
    them. Faust's ``take_events`` acks a list in a ``finally``, so also when
    the agent is stopped or cancelled halfway through it (a SIGTERM, a crash),
    and the commit that follows then skips messages never processed: lost for
    the next owner. One more reference per message, dropped only when the body
    asks for the next list, keeps that ack from being the last.
    """
    take_events = cast(Any, stream).take_events  # not declared by StreamT
    async for events in take_events(settings.batch_max_events, within=settings.batch_max_wait_ms / 1000):
        for event in events:
            event.message.incref()
        yield events
        for event in events:
            event.message.decref()  # Faust's own ack, next, is then the last one


def _stage_facts(facts: dict[bytes, Upsert | None], change: QueueChange, writes: list[RowWrite]) -> None:
    """Collect a batch's facts-topic records, each key's last value (the topic is compacted by key).

    Every upsert and delete goes out even when the store already had it: a
    redelivery after a crash may be the one whose output was lost.
    """
    if isinstance(change, Upsert):
        facts[fact_record_key(change.queue, change.key)] = change
    elif isinstance(change, Delete):
        facts[fact_record_key(change.queue, change.key)] = None
    else:  # a sync: the stale facts it removed are withdrawn
        if writes:
            logger.info("sync of %s in %s withdrew %d stale facts", change.entity, change.queue, len(writes))
        for write in writes:
            facts[fact_record_key(write.queue, write.key)] = None


def _stage_rows(rows: dict[str, RowWrite], writes: list[RowWrite]) -> None:
    """Collect a batch's row writes so each table row is written once, with its last value."""
    for write in writes:
        rows[fact_row_key(write.queue, write.key)] = write


@dataclass
class _PartitionState:
    """What the queue stage keeps in memory for one partition it owns."""

    store: FactStore
    publisher: KpiPublisher = field(default_factory=KpiPublisher)
    next_reap_ms: int = 0


@dataclass
class _Rewind:
    """A partition sought back to ``missing`` after the consumer delivered ``first_after`` instead."""

    tp: Any
    missing: int
    first_after: int
    sought_at_s: float
    seeks: int = 1


#: A rewind whose missing offset has not come back this long after the seek is sought again:
#: Faust drops messages that arrive while its flow is suspended, a redelivery included.
RESEEK_AFTER_S = 3.0
#: Seeks that must land past the missing offset before the hole is taken to hold no records.
EMPTY_HOLE_SEEKS = 2


@dataclass
class CcpulseApp:
    """The Faust app, its topics and tables, and the agent bodies that use them."""

    app: faust.App
    settings: Settings
    registry: CollectorRegistry
    metrics: SelfMetrics
    input_topic: Any
    entity_topic: Any
    queue_topic: Any
    facts_topic: Any
    dead_letter_topic: Any
    kpi_topic: Any
    entities: Any
    queue_rows: Any
    view_config: ViewConfig
    rules: EntityRules
    view_stats: ViewStats = field(default_factory=ViewStats)
    input_stream_ms: dict[int, int] = field(default_factory=dict)
    # (topic, partition) -> the offset the consumer should deliver next, and the one being rewound to.
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    rewinding: dict[tuple[str, int], _Rewind] = field(default_factory=dict)
    entity_stream_ms: dict[int, int] = field(default_factory=dict)
    entity_next_reap_ms: dict[int, int] = field(default_factory=dict)
    clocks_to_send: set[int] = field(default_factory=set)
    partitions: dict[int, _PartitionState] = field(default_factory=dict)
    # Entity rows as decoded by earlier batches (the table holds them as JSON documents).
    entity_cache: dict[str, EntityState] = field(default_factory=dict)
    recovered_generation: int | None = None  # consumer generation whose tables are restored
    output: DirectOutput = field(init=False)
    customer_hash_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.output = DirectOutput(self.app)
        self.customer_hash_key = self.settings.customer_hash_key.encode()

    # -- readiness and ownership ---------------------------------------------------

    def is_ready(self) -> bool:
        """True once the tables of the current assignment are restored, until the next rebalance.

        Faust's own signs leave gaps: its recovery ``completed`` event is set by
        the first recovery (of an empty assignment too) and never cleared, and
        ``rebalancing`` ends before the new assignment's recovery begins. A
        queue partition's store is built from its table the first time it is
        read; built in such a gap, from a half-restored table, it would serve
        wrong numbers for good.
        """
        app = self.app
        recovered = self.recovered_generation is not None and self.recovered_generation == app.consumer_generation_id
        return recovered and not app.in_recovery and not app.rebalancing

    async def on_tables_recovered(self, *_: Any, **__: Any) -> None:
        """Faust signal ``on_rebalance_complete``: the tables of the assignment are restored.

        Faust sends it for a generation that a new rebalance has already
        replaced too; the generation recorded here then differs from the one
        the next assignment brings.
        """
        self.recovered_generation = self.app.consumer_generation_id

    def _owned_queue_partitions(self) -> set[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:
            return set()
        name = self.queue_topic.get_topic_name()
        return {tp.partition for tp in assignment if tp.topic == name}

    def _partition(self, partition: int) -> _PartitionState:
        """The queue stage's state of ``partition``, rebuilt from the table the first time it is needed."""
        state = self.partitions.get(partition)
        if state is None:
            state = self.partitions[partition] = _PartitionState(self._rebuild_store(partition))
        return state

    def _rebuild_store(self, partition: int) -> FactStore:
        started = time.perf_counter()
        store = FactStore(self.view_config, self.view_stats)
        rows: list[tuple[str, str, LiveFact]] = []
        for key, value in list(self.queue_rows.items()):
            if not isinstance(value, dict) or value.get("p") != partition:
                continue
            if str(key).startswith(CLOCK_ROW_PREFIX):
                store.observe_source_clock(int(value["source"]), int(value["t"]))
            else:
                rows.append((value["queue"], value["key"], live_fact_from_dict(value["live"])))
        store.load(rows)
        logger.info(
            "queue partition %d: %d live facts loaded in %.2f s", partition, len(rows), time.perf_counter() - started
        )
        return store

    def _clock_ms(self, store: FactStore) -> int | None:
        if self.settings.clock == "wall":
            return int(time.time() * 1000)
        return store.stream_clock_ms()

    def _owned_states(self) -> list[tuple[int, _PartitionState, int]]:
        """Every queue partition this worker owns now, its view advanced to the partition's clock."""
        owned = self._owned_queue_partitions()
        for partition in [p for p in self.partitions if p not in owned]:
            del self.partitions[partition]  # revoked: another worker serves these queues now
        states: list[tuple[int, _PartitionState, int]] = []
        for partition in sorted(owned):
            state = self._partition(partition)
            now_ms = self._clock_ms(state.store)
            if now_ms is not None:
                state.store.view.advance_to(now_ms)
                states.append((partition, state, now_ms))
        return states

    def current_views(self) -> Iterator[tuple[QueueView, int]]:
        """The views of the queue partitions this worker owns now, with their clocks (for /metrics)."""
        for _, state, now_ms in self._owned_states():
            yield state.store.view, now_ms

    # -- stage 0: input ------------------------------------------------------------

    async def ingest(self, stream: faust.StreamT[bytes]) -> None:
        """Input topic: validate, dead-letter what cannot be applied, re-key the rest by entity.

        Input is taken in batches (``batch_max_events`` or what arrived within
        ``batch_max_wait_ms``); each batch leaves as one message per entity
        partition (:mod:`ccpulse.codec.batches`), in input order. Faust acks a
        batch's input only after this body has sent it on. A message is one
        event, or a framed batch of events as ccpulse's own sources send them
        with ``input_batch_events`` set.
        """
        async for events in _take(stream, self.settings):
            self.metrics.last_processed_time.set(time.time())
            outgoing: dict[int, list[bytes]] = {}
            consumed = 0
            for event in events:
                message = event.message
                if await self._rewound_past_a_skip(message):
                    continue
                for index, record in await self._input_records(message, event.value):
                    consumed += 1
                    await self._route_input(message, record, outgoing, index)
                if consumed >= self.settings.batch_max_events:  # batched input: pass it on as it comes
                    await self._send_batches(self.entity_topic, outgoing)
                    self.metrics.events_consumed.inc(consumed)
                    outgoing, consumed = {}, 0
                    await asyncio.sleep(0)  # a list of batches can hold 100,000s of events: let scrapes in
            self.metrics.events_consumed.inc(consumed)
            if self.input_stream_ms:
                self.metrics.note_event_time(max(self.input_stream_ms.values()) / 1000)
            await self._send_batches(self.entity_topic, outgoing)

    async def _input_records(self, message: Any, value: bytes | None) -> list[tuple[int | None, bytes | None]]:
        """The events of an input message with their index in its batch (None: the message is one event)."""
        if value is None or not is_batch(value):
            return [(None, value)]
        try:
            return list(enumerate(split_batch(value)))
        except CorruptBatch as error:
            await self._dead_letter(message, value, InvalidEvent(RejectReason.NOT_JSON, f"corrupt batch: {error}"))
            return []

    async def _send_batches(self, topic: Any, outgoing: dict[int, list[bytes]]) -> None:
        """Each partition's records as batch messages of at most BATCH_MAX_BYTES, in order."""
        name = topic.get_topic_name()
        for partition, records in sorted(outgoing.items()):
            for batch in encode_batches(records, BATCH_MAX_BYTES):
                await self.output.send(name, BATCH_KEY, batch, partition=partition)

    async def _route_input(
        self, message: Any, value: bytes | None, outgoing: dict[int, list[bytes]], batch_index: int | None = None
    ) -> None:
        """Check one input event; add it, canonically encoded, to its entity partition's batch."""
        try:
            if value is None:
                raise InvalidEvent(RejectReason.NOT_JSON, "empty message (tombstone)")
            decoded = decode_event(value)
            skew_ms = self.settings.max_future_skew_s * 1000
            if decoded.ts_ms > time.time() * 1000 + skew_ms:
                raise InvalidEvent(RejectReason.FUTURE, f"event time is more than {skew_ms // 1000} s ahead")
            partition_ms = self.input_stream_ms.get(message.partition)
            if partition_ms is not None and decoded.ts_ms < partition_ms - self.settings.retention_hours * HOUR_MS:
                raise InvalidEvent(RejectReason.LATE, "event time is older than the retention allows")
        except InvalidEvent as error:
            await self._dead_letter(message, value, error, batch_index)
            return
        if partition_ms is None or decoded.ts_ms > partition_ms:
            self.input_stream_ms[message.partition] = decoded.ts_ms
        elif decoded.ts_ms < partition_ms:
            self.metrics.out_of_order.inc()
        key = entity_key(decoded)
        partitions = self.settings.topic_partitions
        if isinstance(decoded, ContactEvent) and decoded.customer_id is not None:
            decoded = replace(decoded, customer_id=self.hashed_customer_id(decoded.customer_id))
        encoded = encode_event(decoded)
        # A watermark (no entity) moves every entity partition's stream time.
        for partition in range(partitions) if key is None else (partition_for_key(key.encode(), partitions),):
            outgoing.setdefault(partition, []).append(encoded)

    def hashed_customer_id(self, customer_id: str) -> str | None:
        """What the internal topics carry instead of a customer id: its keyed hash, marked; None without a key.

        Customer ids are PII: they never leave the input stage, so no internal
        topic, changelog or log holds them.
        """
        key = hash_customer_id(self.customer_hash_key, customer_id)
        return None if key is None else HASHED_CUSTOMER_PREFIX + key

    async def _rewound_past_a_skip(self, message: Any) -> bool:
        """True if the consumer skipped offsets before ``message``; it is then rewound to the first one.

        At-least-once needs every offset processed before a later one is
        committed. Faust's consumer can drop a fetched batch when flow control
        is briefly suspended around a recovery, and still deliver what follows;
        acknowledging that would commit past the dropped batch. So each agent
        checks that offsets arrive without holes; after a hole it seeks back,
        and skips what arrives until the missing offset comes again (the
        skipped messages come again after it; processing them twice is harmless).
        """
        key = (message.topic, message.partition)
        offset = message.offset
        rewind = self.rewinding.get(key)
        if rewind is not None:
            if offset > rewind.first_after:
                # Fetched before the seek took effect, so it comes again after the missing ones;
                # unless the redelivery itself was dropped, which a second seek repairs.
                await self._seek_again_if_stalled(key, rewind)
                return True
            # The seek took effect. Delivery from the missing offset is the normal case. Delivery
            # from a later one means either that the hole holds no records (transaction markers)
            # or that the redelivery was dropped too; only the same answer to a second seek
            # shows the former.
            if offset > rewind.missing and rewind.seeks < EMPTY_HOLE_SEEKS:
                rewind.seeks += 1
                rewind.first_after = offset
                rewind.sought_at_s = time.monotonic()
                await self._seek(rewind.tp, rewind.missing)
                return True
            del self.rewinding[key]
            if offset > rewind.missing:
                logger.info(
                    "%s[%d]: offsets %d..%d hold no records",
                    message.topic,
                    message.partition,
                    rewind.missing,
                    offset - 1,
                )
            self.next_offsets[key] = offset + 1
            return False
        expected = self.next_offsets.get(key)
        if expected is not None and offset > expected:
            self.rewinding[key] = _Rewind(message.tp, expected, offset, time.monotonic())
            self.metrics.input_offsets_skipped.inc(offset - expected)
            logger.warning(
                "%s[%d]: offsets %d..%d were never delivered; rewinding to %d",
                message.topic, message.partition, expected, offset - 1, expected,
            )  # fmt: skip
            await self._seek(message.tp, expected)
            return True
        self.next_offsets[key] = offset + 1
        return False

    async def _seek_again_if_stalled(self, key: tuple[str, int], rewind: _Rewind) -> None:
        if time.monotonic() - rewind.sought_at_s < RESEEK_AFTER_S:
            return
        rewind.sought_at_s = time.monotonic()
        logger.warning("%s[%d]: offset %d has not come back; seeking to it again", *key, rewind.missing)
        await self._seek(rewind.tp, rewind.missing)

    async def _seek(self, tp: Any, offset: int) -> None:
        """Move ``tp``'s fetch position to ``offset``, inside the consumer's own thread.

        Faust runs the aiokafka consumer on an event loop of its own thread;
        ``Consumer.seek`` calls into it from this one, and aiokafka's seek drops
        buffered records and wakes the fetcher through futures of that other
        loop. Done from here it races the fetcher and can leave a partition
        never fetched again (a restarted worker stalled for good).
        ``seek_wait`` runs the seek in the consumer's thread and waits for it.
        """
        try:
            await self.app.consumer.seek_wait({tp: offset})
        except Exception as error:  # e.g. revoked meanwhile: the new owner starts at the committed offset
            logger.warning("%s[%d]: seek to %d failed: %r", tp.topic, tp.partition, offset, error)

    async def retry_stalled_rewinds(self) -> None:
        """Timer: a rewind whose redelivery was dropped at the end of a partition gets no later message to notice it."""
        for key, rewind in list(self.rewinding.items()):
            await self._seek_again_if_stalled(key, rewind)

    def consumer_lags(self) -> dict[tuple[str, int], int]:
        """Unread messages per owned partition of each topic the stages read: high watermark minus next offset."""
        consumer: Any = self.app.consumer
        try:
            assignment = consumer.assignment()
        except Exception:
            return {}
        topics = {t.get_topic_name() for t in (self.input_topic, self.entity_topic, self.queue_topic)}
        committed: dict[Any, int | None] = getattr(consumer, "_committed_offset", {})
        lags: dict[tuple[str, int], int] = {}
        for tp in assignment:
            if tp.topic not in topics:
                continue
            highwater = consumer.highwater(tp)
            position = self.next_offsets.get((tp.topic, tp.partition), committed.get(tp))
            if highwater is not None and position is not None:
                lags[tp.topic, tp.partition] = highwater - position
        return lags

    async def forget_offsets(self, *_: Any, **__: Any) -> None:
        """After a rebalance, partitions resume at their committed offsets: nothing to compare with.

        The decoded rows and the queue stores go too: a partition that comes
        back is read again from its table, restored by then with whatever
        another owner wrote meanwhile.
        """
        self.recovered_generation = None
        self.partitions.clear()
        self.entity_cache.clear()
        self.next_offsets.clear()
        self.rewinding.clear()

    async def _dead_letter(
        self, message: Any, value: bytes | None, error: InvalidEvent, batch_index: int | None = None
    ) -> None:
        """The rejected bytes (the event's own, for one inside a batch) with the reason and origin in headers."""
        self.metrics.events_rejected.labels(reason=error.reason.value).inc()
        where = "" if batch_index is None else f" (event {batch_index} of its batch)"
        logger.warning("dead-lettered %s[%s]@%s%s: %s", message.topic, message.partition, message.offset, where, error)
        headers = [
            (DEAD_LETTER_REASON, error.reason.value.encode()),
            (DEAD_LETTER_DETAIL, error.detail.encode()),
            (DEAD_LETTER_SOURCE_TOPIC, str(message.topic).encode()),
            (DEAD_LETTER_SOURCE_PARTITION, str(message.partition).encode()),
            (DEAD_LETTER_SOURCE_OFFSET, str(message.offset).encode()),
        ]
        if batch_index is not None:
            headers.append((DEAD_LETTER_SOURCE_BATCH_INDEX, str(batch_index).encode()))
        if value is not None and self.settings.dead_letter_redact_payload:
            headers.append((DEAD_LETTER_REDACTED_BYTES, str(len(value)).encode()))
            headers.append((DEAD_LETTER_REDACTED_SHA256, hashlib.sha256(value).hexdigest().encode()))
            value = b""
        elif value is not None and len(value) > DEAD_LETTER_MAX_VALUE_BYTES:
            # Input up to the broker's message limit is legal; with the headers added it would not
            # fit the dead-letter topic, and a failed send would stop the stage. The original stays
            # on the input topic at the offset the headers name.
            headers.append((DEAD_LETTER_TRUNCATED_FROM_BYTES, str(len(value)).encode()))
            value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
        await self.dead_letter_topic.send(key=message.key, value=value, headers=headers)

    # -- stage 1: entities ---------------------------------------------------------

    async def fold_entities(self, stream: faust.StreamT[bytes]) -> None:
        """One entity per key: fold each event into its row, send what changed to the queue stage.

        A message is a batch of events of its partition (or, as older versions
        sent them, one event keyed by its entity); the messages that arrived
        within ``batch_max_wait_ms`` are folded together. Each row touched is
        written once, and the changes leave as one message per queue partition.
        Messages of batched input can carry far more than ``batch_max_events``
        events; those are folded ``batch_max_events`` at a time, each part's
        changes sent before the next is folded, so the queue stage works on
        them meanwhile.
        """
        chunk = self.settings.batch_max_events
        async for messages in _take(stream, self.settings):
            batches = await self._batches_by_partition(messages)
            outgoing: dict[int, list[bytes]] = {}
            latest: dict[int, int] = {}
            folded = 0
            for partition, records in batches.items():
                for start in range(0, len(records), chunk):
                    if folded >= chunk:
                        await self._send_batches(self.queue_topic, outgoing)
                        outgoing, folded = {}, 0
                        await asyncio.sleep(0)  # as in ingest: the loop serves scrapes and signals meanwhile
                    part = records[start : start + chunk]
                    rows, changes, latest_ms = self._fold_entity_batch(partition, part)
                    folded += len(part)
                    for key, document in rows.items():
                        await self.output.put_row(self.entities, partition, key, document)
                    for queue_partition, queue_records in changes.items():
                        outgoing.setdefault(queue_partition, []).extend(queue_records)
                    if latest_ms is not None:
                        latest[partition] = max(latest_ms, latest.get(partition, latest_ms))
            await self._send_batches(self.queue_topic, outgoing)
            # After the changes are sent: a clock must never overtake the facts it covers.
            for partition, latest_ms in latest.items():
                if latest_ms > self.entity_stream_ms.get(partition, -(2**62)):
                    self.entity_stream_ms[partition] = latest_ms
                    self.clocks_to_send.add(partition)
                    for key in self._entities_to_reap(partition, latest_ms):
                        self.entity_cache.pop(key, None)
                        await self.output.delete_row(self.entities, partition, key)

    async def _batches_by_partition(self, messages: list[Any]) -> dict[int, list[bytes]]:
        """The records of each partition's messages, in offset order (messages rewound past are left out)."""
        batches: dict[int, list[bytes]] = {}
        for event in messages:
            if not await self._rewound_past_a_skip(event.message):
                batches.setdefault(event.message.partition, []).extend(split_batch(event.value))
        return batches

    def _fold_entity_batch(
        self, partition: int, records: list[bytes]
    ) -> tuple[dict[str, dict[str, Any]], dict[int, list[bytes]], int | None]:
        """Fold a batch: the rows to write, the change records per queue partition, the latest event time."""
        states: dict[str, EntityState] = {}
        changed: set[str] = set()
        outgoing: dict[int, list[bytes]] = {}
        latest_ms: int | None = None
        for raw in records:
            decoded = decode_event(raw)  # written by ingest: valid by construction
            if latest_ms is None or decoded.ts_ms > latest_ms:
                latest_ms = decoded.ts_ms
            key = entity_key(decoded)
            if key is None:  # a watermark: it only moves the stream time
                continue
            state = states.get(key)
            if state is None:
                state = states[key] = self._entity_state(key)
            row, changes, duplicate = process_event(key, state, decoded, self.rules)
            if duplicate:
                self.metrics.duplicates.inc()
                logger.info("duplicate %s of %s: resynced (%d changes)", decoded.event_id, key, len(changes))
            else:
                states[key] = row
                changed.add(key)
            for change in changes:
                queue_partition = partition_for_key(change.queue.encode(), self.settings.topic_partitions)
                outgoing.setdefault(queue_partition, []).append(queue_change_to_json(change))
        rows: dict[str, dict[str, Any]] = {}
        for key in changed:
            document = entity_state_to_dict(states[key])
            document["p"] = partition
            rows[key] = document
        self._remember_states(states)
        return rows, outgoing, latest_ms

    def _entity_state(self, key: str) -> EntityState:
        """The entity's row: the decoded copy kept from an earlier batch, else read from the table."""
        state = self.entity_cache.pop(key, None)
        return entity_state_from_dict(self.entities.data.get(key)) if state is None else state

    def _remember_states(self, states: dict[str, EntityState]) -> None:
        """Keep a batch's rows decoded (most recently used last), up to ENTITY_CACHE_MAX of them."""
        cache = self.entity_cache
        cache.update(states)
        while len(cache) > ENTITY_CACHE_MAX:
            del cache[next(iter(cache))]

    def _entities_to_reap(self, partition: int, stream_ms: int) -> list[str]:
        """Rows of this partition untouched for longer than the retention (from its own events), now and then."""
        if stream_ms < self.entity_next_reap_ms.get(partition, 0):
            return []
        self.entity_next_reap_ms[partition] = stream_ms + REAP_EVERY_MS
        horizon_ms = stream_ms - self.settings.retention_hours * HOUR_MS
        return [
            key
            for key, value in list(self.entities.data.items())
            if isinstance(value, dict) and value.get("p") == partition and value.get("last_event_ms", 0) < horizon_ms
        ]

    async def send_clocks(self) -> None:
        """Tell every queue partition how far each entity partition's stream time has got."""
        # Taken, not cleared after: a clock that moves while this awaits its sends is sent next time.
        if self.app.should_stop:
            return
        sources, self.clocks_to_send = self.clocks_to_send, set()
        for source in sorted(sources):
            value = clock_to_json(source, self.entity_stream_ms[source])
            for partition in range(self.settings.topic_partitions):
                await self.queue_topic.send(key=b"~clock", value=value, partition=partition)

    # -- stage 2: queues -------------------------------------------------------------

    async def fold_queues(self, stream: faust.StreamT[bytes]) -> None:
        """Facts keyed by queue: keep the live ones, update the view, publish the facts topic.

        A message is a batch of changes and clocks for its partition (or one
        record, as older versions sent them); the messages that arrived within
        ``batch_max_wait_ms`` are folded together, and each table row is
        written once, with its last value.
        """
        async for messages in _take(stream, self.settings):
            for partition, records in (await self._batches_by_partition(messages)).items():
                state = self._partition(partition)
                rows: dict[str, RowWrite] = {}
                clock_rows: dict[str, dict[str, int]] = {}
                facts: dict[bytes, Upsert | None] = {}
                for raw in records:
                    record = decode_queue_record(raw)
                    if isinstance(record, SourceClock):
                        self._observe_clock(partition, state, record, rows, clock_rows)
                        continue
                    writes = state.store.apply(record)
                    _stage_rows(rows, writes)
                    _stage_facts(facts, record, writes)
                await self._persist(partition, rows)
                for key, document in clock_rows.items():
                    await self.output.put_row(self.queue_rows, partition, key, document)
                await self._send_facts(facts)

    async def _send_facts(self, facts: dict[bytes, Upsert | None]) -> None:
        """The facts topic's records of a batch: each key's last value, a tombstone for None."""
        topic = self.facts_topic.get_topic_name()
        upserts = 0
        for key, change in facts.items():
            if change is None:
                await self.output.send(topic, key, None)
            else:
                value = fact_record(change.queue, change.key, change.entity, change.fact)
                await self.output.send(topic, key, value)
                upserts += 1
        if upserts:
            self.metrics.facts_emitted.labels(kind="upsert").inc(upserts)
        if len(facts) > upserts:
            self.metrics.facts_emitted.labels(kind="delete").inc(len(facts) - upserts)

    def _observe_clock(
        self,
        partition: int,
        state: _PartitionState,
        clock: SourceClock,
        rows: dict[str, RowWrite],
        clock_rows: dict[str, dict[str, int]],
    ) -> None:
        if not state.store.observe_source_clock(clock.source, clock.stream_time_ms):
            return
        clock_rows[f"{CLOCK_ROW_PREFIX}{partition}|{clock.source}"] = {
            "p": partition,
            "source": clock.source,
            "t": clock.stream_time_ms,
        }
        watermark_ms = state.store.stream_clock_ms()
        published_ms = state.publisher.last_run_ms
        if watermark_ms is not None and published_ms is not None and watermark_ms >= state.next_reap_ms:
            # Rows are forgotten here, in an event of their own partition, so the
            # changelog tombstones land in that partition. Only facts of windows whose
            # final rows are out: the clock may have run ahead of the last publication.
            state.next_reap_ms = watermark_ms + REAP_EVERY_MS
            horizon_ms = min(watermark_ms, published_ms) - self.view_config.retention_ms
            _stage_rows(rows, state.store.forget_before(horizon_ms))

    async def _persist(self, partition: int, rows: dict[str, RowWrite]) -> None:
        """Write each staged row (a None value deletes it) to the changelog-backed table of ``partition``."""
        for row_key, write in rows.items():
            if write.value is None:
                await self.output.delete_row(self.queue_rows, partition, row_key)
            else:
                document = {
                    "p": partition,
                    "queue": write.queue,
                    "key": write.key,
                    "live": live_fact_to_dict(write.value),
                }
                await self.output.put_row(self.queue_rows, partition, row_key, document)

    async def publish_kpis(self) -> None:
        """KPI rows due in every owned partition: open windows if changed, closed ones final, corrections."""
        if not self.is_ready():
            return
        topic = self.kpi_topic.get_topic_name()
        for partition, state, now_ms in self._owned_states():
            state.store.view.reap(now_ms)
            slice_started = time.monotonic()
            for rows in state.publisher.rows_by_queue(state.store.view, now_ms):
                for key, value in rows:
                    if self.app.should_stop:
                        # Faust stops the producer before it cancels its timers; a row sent after
                        # that would crash the shutdown. The next start publishes every row again.
                        return
                    await self.output.send(topic, key, value)
                    self.metrics.kpi_rows_published.inc()
                if time.monotonic() - slice_started >= PUBLISH_SLICE_S:
                    # Thousands of queues take seconds to publish: events, scrapes and
                    # signals get their turn between queues.
                    await asyncio.sleep(0)
                    if self.partitions.get(partition) is not state or not self.is_ready():
                        break  # revoked meanwhile: its rows are another worker's to publish
                    slice_started = time.monotonic()


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> CcpulseApp:
    """Wire topics, tables and agents for ``settings``; nothing connects until the worker starts."""
    registry = CollectorRegistry() if registry is None else registry
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = CcpulseFaustApp(
        settings.app_id,
        broker=settings.broker_url,
        broker_credentials=KafkaSecurity(settings).faust_credentials(),
        store="memory://",
        datadir=str(settings.data_dir),
        # Faust's own web server exposes table contents; ccpulse serves /metrics itself.
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.consumer_session_timeout_s,
        broker_heartbeat_interval=max(1.0, settings.consumer_session_timeout_s / 3),
        consumer_group_instance_id=settings.group_instance_id or None,
        # No standby replicas: with the in-memory store, Faust drops the rows of a standby
        # partition when a recovery completes, yet resumes from the standby's offset when that
        # partition later becomes active, so a rebalance would lose rows. A new owner replays
        # the whole (compacted) changelog instead.
        table_standby_replicas=0,
        table_cleanup_interval=30.0,
        # A few milliseconds of linger turn thousands of small produce requests
        # (changelog rows, facts) into a few large ones; batches of up to 1 MB.
        producer_linger_ms=PRODUCER_LINGER_MS,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        autodiscover=False,
    )
    partitions = settings.topic_partitions
    # Every topic but the changelogs is created by ensure_topics() before the worker starts.
    entity_topic = app.topic(entity_topic_name(settings), partitions=partitions, internal=True)
    queue_topic = app.topic(queue_topic_name(settings), partitions=partitions, internal=True)
    view_config = ViewConfig(queues=settings.queue_configs(), retention_ms=settings.retention_hours * HOUR_MS)
    hash_key = settings.customer_hash_key.encode()
    pipeline = CcpulseApp(
        app=app,
        settings=settings,
        registry=registry,
        metrics=SelfMetrics(registry),
        input_topic=app.topic(settings.input_topic),
        entity_topic=entity_topic,
        queue_topic=queue_topic,
        facts_topic=app.topic(settings.facts_topic),
        dead_letter_topic=app.topic(settings.dead_letter_topic),
        kpi_topic=app.topic(settings.kpi_topic),
        # Table values are JSON (Faust's table default), readable with any Kafka tool.
        entities=app.Table("entities", partitions=partitions, extra_topic_configs=compacted_config()),
        queue_rows=app.Table("queue-facts", partitions=partitions, extra_topic_configs=compacted_config()),
        view_config=view_config,
        rules=EntityRules(
            ContactRules(acw_timeout_ms=lambda queue: view_config.queues.for_queue(queue).acw_timeout_ms),
            customer_key=lambda customer_id: customer_key_of(hash_key, customer_id),
        ),
    )
    limits = MetricsLimits(settings.metrics_max_queues, settings.metrics_per_agent, settings.metrics_max_agents)
    registry.register(KpiCollector(pipeline.current_views, pipeline.is_ready, pipeline.view_stats, limits))
    registry.register(ConsumerLagCollector(pipeline.consumer_lags))
    app.agent(pipeline.input_topic, name="ingest")(pipeline.ingest)
    app.agent(entity_topic, name="entities")(pipeline.fold_entities)
    app.agent(queue_topic, name="queues")(pipeline.fold_queues)
    app.on_partitions_revoked.connect(pipeline.forget_offsets)
    app.on_rebalance_complete.connect(pipeline.on_tables_recovered)
    app.timer(CLOCK_BROADCAST_INTERVAL_S)(pipeline.send_clocks)
    app.timer(RESEEK_AFTER_S)(pipeline.retry_stalled_rewinds)
    app.timer(settings.kpi_publish_interval_s)(pipeline.publish_kpis)
    return pipeline
