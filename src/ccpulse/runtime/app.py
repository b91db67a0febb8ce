"""Build the Faust application: a factory, never an app at import time.

Topology::

    input topic ──ingest──▶ (decode, validate) ──▶ dead-letter topic (bad input)
                   │
                   ▼  re-keyed by contact_id, whatever key the producer used
    <app_id>-contact-events ──fold_contacts──▶ contacts table (queue stints per contact)
                   │
                   ▼  one record per finished queue stint, keyed by queue|channel
    contact-facts topic ──count_outcomes──▶ queue-outcomes table ──▶ /metrics

Each table is changelog-backed and co-partitioned with the topic that feeds
it, so a table key is only ever written from one partition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from ccpulse.codec.events import InvalidEvent, RejectReason, decode_event, encode_contact_event
from ccpulse.codec.records import fact_from_json, fact_to_json, state_from_dict, state_to_dict
from ccpulse.config import Settings
from ccpulse.domain.events import ContactEvent
from ccpulse.domain.facts import QueueOutcome
from ccpulse.domain.queue_stints import apply_contact_event, is_duplicate
from ccpulse.telemetry.metrics import OutcomeCount, QueueOutcomeCollector, SelfMetrics

logger = logging.getLogger(__name__)

OUTCOME_KEY_SEPARATOR = "|"


@dataclass
class CcpulseApp:
    """The Faust app, its topics and tables, and the agent bodies that use them."""

    app: faust.App
    settings: Settings
    registry: CollectorRegistry
    metrics: SelfMetrics
    input_topic: Any
    contact_events_topic: Any
    facts_topic: Any
    dead_letter_topic: Any
    contacts: Any
    queue_outcomes: Any
    stream_time_ms: int = 0

    def is_ready(self) -> bool:
        tables: Any = self.app.tables  # TableManagerT does not declare .recovery
        recovery = tables.recovery
        return bool(recovery.completed.is_set() and not self.app.in_recovery and not self.app.rebalancing)

    def outcome_counts(self) -> Iterator[OutcomeCount]:
        for key, (published, retracted) in list(self.queue_outcomes.items()):
            queue, channel, outcome = key.split(OUTCOME_KEY_SEPARATOR)
            yield OutcomeCount(queue, channel, QueueOutcome(outcome), int(published), int(retracted))

    async def ingest(self, stream: faust.StreamT[bytes]) -> None:
        """Input topic: validate, dead-letter bad input, re-key contact events by contact."""
        async for event in stream.events():
            message = event.message
            self.metrics.events_consumed.inc()
            try:
                if event.value is None:
                    raise InvalidEvent(RejectReason.NOT_JSON, "empty message (tombstone)")
                decoded = decode_event(event.value)
            except InvalidEvent as error:
                await self._dead_letter(message, event.value, error)
                continue
            if decoded.ts_ms > self.stream_time_ms:
                self.stream_time_ms = decoded.ts_ms
                self.metrics.last_event_time.set(decoded.ts_ms / 1000)
            if not isinstance(decoded, ContactEvent):
                self.metrics.events_ignored.inc()
                continue
            await self.contact_events_topic.send(key=decoded.contact_id.encode(), value=encode_contact_event(decoded))

    async def _dead_letter(self, message: Any, value: bytes | None, error: InvalidEvent) -> None:
        self.metrics.events_rejected.labels(reason=error.reason.value).inc()
        logger.warning("dead-lettered %s[%s]@%s: %s", message.topic, message.partition, message.offset, error)
        headers = [
            ("ccpulse.reason", error.reason.value.encode()),
            ("ccpulse.detail", error.detail.encode()),
            ("ccpulse.source.topic", str(message.topic).encode()),
            ("ccpulse.source.partition", str(message.partition).encode()),
            ("ccpulse.source.offset", str(message.offset).encode()),
        ]
        await self.dead_letter_topic.send(key=message.key, value=value, headers=headers)

    async def fold_contacts(self, stream: faust.StreamT[bytes]) -> None:
        """Contact events, one contact per key: fold into stint state, publish finished stints."""
        async for raw in stream:
            event = decode_event(raw)
            assert isinstance(event, ContactEvent), "only contact events are routed here"
            state = state_from_dict(self.contacts.get(event.contact_id))
            if is_duplicate(state, event):
                self.metrics.duplicates.inc()
                continue
            new_state, changes = apply_contact_event(state, event)
            self.contacts[event.contact_id] = state_to_dict(new_state)
            # Retractions first: a consumer never sees two live facts for one stint.
            for fact, retracted in [(f, True) for f in changes.retracted] + [(f, False) for f in changes.published]:
                key = f"{fact.queue}{OUTCOME_KEY_SEPARATOR}{fact.channel.value}"
                await self.facts_topic.send(key=key.encode(), value=fact_to_json(fact, retracted=retracted))
                self.metrics.facts_emitted.labels(kind="retracted" if retracted else "published").inc()

    async def count_outcomes(self, stream: faust.StreamT[bytes]) -> None:
        """Facts, keyed by queue|channel: count published and retracted outcomes.

        The table value is ``[published, retracted]`` so both metrics stay
        monotonic counters; the net count is their difference.
        """
        async for raw in stream:
            fact, retracted = fact_from_json(raw)
            key = OUTCOME_KEY_SEPARATOR.join((fact.queue, fact.channel.value, fact.outcome.value))
            published_count, retracted_count = self.queue_outcomes[key]
            if retracted:
                retracted_count += 1
            else:
                published_count += 1
            self.queue_outcomes[key] = [published_count, retracted_count]


def contact_events_topic_name(settings: Settings) -> str:
    return f"{settings.app_id}-contact-events"


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> CcpulseApp:
    """Wire topics, tables and agents for ``settings``; nothing connects until the worker starts."""
    registry = CollectorRegistry() if registry is None else registry
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.broker_url,
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
        table_cleanup_interval=30.0,
        autodiscover=False,
    )
    partitions = settings.topic_partitions
    # The public topics are created (and checked) by ensure_topics() before the
    # worker starts; the repartition topic is Faust's own, so Faust creates it.
    input_topic = app.topic(settings.input_topic)
    contact_events_topic = app.topic(contact_events_topic_name(settings), partitions=partitions, internal=True)
    facts_topic = app.topic(settings.facts_topic, partitions=partitions)
    dead_letter_topic = app.topic(settings.dead_letter_topic)
    # Table keys and values are JSON (Faust's table default), readable with any Kafka tool.
    contacts = app.Table("contacts", partitions=partitions)
    queue_outcomes = app.Table("queue-outcomes", default=lambda: [0, 0], partitions=partitions)
    metrics = SelfMetrics(registry)

    pipeline = CcpulseApp(
        app=app,
        settings=settings,
        registry=registry,
        metrics=metrics,
        input_topic=input_topic,
        contact_events_topic=contact_events_topic,
        facts_topic=facts_topic,
        dead_letter_topic=dead_letter_topic,
        contacts=contacts,
        queue_outcomes=queue_outcomes,
    )
    registry.register(QueueOutcomeCollector(pipeline.outcome_counts, pipeline.is_ready))
    app.agent(input_topic, name="ingest")(pipeline.ingest)
    app.agent(contact_events_topic, name="fold-contacts")(pipeline.fold_contacts)
    app.agent(facts_topic, name="count-outcomes")(pipeline.count_outcomes)
    return pipeline
