"""Create the topics before the worker starts.

The input, contact-facts, dead-letter and KPI topics are ours to create with
the configured partitions, replication and cleanup policy (compacted for facts
and KPI rows, which are keyed by what they describe). So are the two internal
topics between the stages: Faust would declare them itself, but a topic it
creates while it subscribes may be missing from the consumer's first metadata,
and Faust then leaves it out of the assignment for good (the stage behind it
never runs). The table changelogs stay Faust's. An unreachable broker is a configuration error
naming ``kafka_bootstrap``, reported before any event is read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from ccpulse.config import ConfigError, Settings

logger = logging.getLogger(__name__)

WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicPlan:
    setting: str
    name: str
    partitions: int
    config: dict[str, str]


def entity_topic_name(settings: Settings) -> str:
    return f"{settings.app_id}-entity-events"


def queue_topic_name(settings: Settings) -> str:
    return f"{settings.app_id}-queue-changes"


def planned_topics(settings: Settings) -> list[TopicPlan]:
    retention = {"cleanup.policy": "delete", "retention.ms": str(WEEK_MS)}
    # Facts and KPI rows are keyed by what they describe: a compacted topic keeps the latest
    # record per key (a tombstone withdraws a fact), so a consumer can read the current state.
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(60_000)}
    partitions = settings.topic_partitions
    return [
        # Any partition count works for these: the worker re-keys its input into its own topics.
        TopicPlan("input_topic", settings.input_topic, partitions, retention),
        TopicPlan("facts_topic", settings.facts_topic, partitions, compacted),
        TopicPlan("dead_letter_topic", settings.dead_letter_topic, partitions, retention),
        TopicPlan("kpi_topic", settings.kpi_topic, partitions, compacted),
        # Between the stages, co-partitioned with the tables: exactly topic_partitions each.
        TopicPlan("app_id", entity_topic_name(settings), partitions, retention),
        TopicPlan("app_id", queue_topic_name(settings), partitions, retention),
    ]


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; return the names created. Raises ConfigError if no broker answers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, KafkaError) as exc:
        raise ConfigError(
            f"setting kafka_bootstrap (env CCPULSE_KAFKA_BOOTSTRAP): no Kafka broker answers at "
            f"{settings.kafka_bootstrap} within {timeout_s:.0f} s ({type(exc).__name__})"
        ) from exc
    created: list[str] = []
    try:
        plans = planned_topics(settings)
        existing = set(await admin.list_topics())
        missing = [plan for plan in plans if plan.name not in existing]
        for plan in missing:
            try:
                await admin.create_topics(
                    [NewTopic(plan.name, plan.partitions, settings.topic_replication_factor, topic_configs=plan.config)]
                )
                created.append(plan.name)
                logger.info("created topic %s (%d partitions)", plan.name, plan.partitions)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and create
    finally:
        await admin.close()
    return created
