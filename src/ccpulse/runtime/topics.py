"""Create the public topics before the worker starts, and check existing ones.

Faust only creates its internal topics. The input, contact-facts and
dead-letter topics are ours to create with the configured partitions,
replication and cleanup policy; an existing topic whose layout would break
co-partitioning is a configuration error, reported before any event is read.
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
    # A topic whose partitions must equal topic_partitions (one a table is co-partitioned with).
    # None of the public ones is: the worker re-keys its input into its own internal topics.
    exact_partitions: bool


def planned_topics(settings: Settings) -> list[TopicPlan]:
    retention = {"cleanup.policy": "delete", "retention.ms": str(WEEK_MS)}
    # Facts and KPI rows are keyed by what they describe: a compacted topic keeps the latest
    # record per key (a tombstone withdraws a fact), so a consumer can read the current state.
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(60_000)}
    partitions = settings.topic_partitions
    return [
        TopicPlan("input_topic", settings.input_topic, partitions, retention, False),
        TopicPlan("facts_topic", settings.facts_topic, partitions, compacted, False),
        TopicPlan("dead_letter_topic", settings.dead_letter_topic, partitions, retention, False),
        TopicPlan("kpi_topic", settings.kpi_topic, partitions, compacted, False),
    ]


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; return the names created. Raises ConfigError on a layout clash."""
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
        # Only topics that existed before are checked: a topic created a moment
        # ago has the planned layout, and its metadata may not have propagated yet.
        to_check = [plan for plan in plans if plan.exact_partitions and plan.name in existing]
        if to_check:
            described = await admin.describe_topics([plan.name for plan in to_check])
            partition_counts = {item["topic"]: len(item["partitions"]) for item in described}
            for plan in to_check:
                found = partition_counts[plan.name]
                if found != plan.partitions:
                    raise ConfigError(
                        f"setting {plan.setting}: topic {plan.name!r} has {found} partitions but "
                        f"topic_partitions is {plan.partitions}; they must match"
                    )
    finally:
        await admin.close()
    return created
