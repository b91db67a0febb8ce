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
import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    KafkaConnectionError,
    KafkaError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    for_code,
)

from ccpulse.config import ConfigError, Settings
from ccpulse.runtime.kafka_security import KafkaSecurity, explain_connection_failure, probe_connection

logger = logging.getLogger(__name__)

WEEK_MS = 7 * 24 * 3600 * 1000
#: Kafka compacts only closed segments, and a segment closes after 7 days or 1 GiB by default:
#: a compacted topic would hold every update of the last week, and a worker restoring a table
#: from its changelog would replay all of them. Hourly segments bound that to about an hour of
#: updates on top of the latest record per key.
COMPACTED_SEGMENT_MS = 3600 * 1000


def compacted_config() -> dict[str, str]:
    """Topic settings for records keyed by what they describe: the latest record per key is kept.

    For the facts and KPI topics and the tables' changelogs. A tombstone withdraws a key
    (and is itself kept for the broker's ``delete.retention.ms``, a day by default).
    """
    return {
        "cleanup.policy": "compact",
        "segment.ms": str(COMPACTED_SEGMENT_MS),
        "min.cleanable.dirty.ratio": "0.1",
        "min.compaction.lag.ms": str(60_000),
    }


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
    compacted = compacted_config()
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
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        **KafkaSecurity(settings).client_options(),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, KafkaError, ssl.SSLError, OSError) as exc:
        await admin.close()
        problem = await probe_connection(settings, timeout_s)
        raise explain_connection_failure(settings, exc, timeout_s, problem) from exc
    created: list[str] = []
    try:
        plans = planned_topics(settings)
        existing = set(await admin.list_topics())
        missing = [plan for plan in plans if plan.name not in existing]
        for plan in missing:
            try:
                response = await admin.create_topics(
                    [NewTopic(plan.name, plan.partitions, settings.topic_replication_factor, topic_configs=plan.config)]
                )
                _raise_topic_errors(response, plan, settings)
                created.append(plan.name)
                logger.info("created topic %s (%d partitions)", plan.name, plan.partitions)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and create
    finally:
        await admin.close()
    return created


def _raise_topic_errors(response: Any, plan: TopicPlan, settings: Settings) -> None:
    """The broker's verdict on one topic: aiokafka returns per-topic error codes instead of raising them."""
    for entry in getattr(response, "topic_errors", ()):
        code = entry[1]
        if code == 0:
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            raise error()
        detail = f"{error.__name__}" + (f": {entry[2]}" if len(entry) > 2 and entry[2] else "")
        if error is InvalidReplicationFactorError:
            setting = "topic_replication_factor"
            hint = f"{settings.topic_replication_factor} is more than the brokers that can hold a replica"
        elif error is InvalidPartitionsError:
            setting, hint = "topic_partitions", "the broker refused this partition count"
        elif error is TopicAuthorizationFailedError or error is ClusterAuthorizationFailedError:
            setting = "kafka_sasl_username"
            hint = "this user may not create topics; create them beforehand (see docs/operations.md) or grant CREATE"
        else:
            setting, hint = plan.setting, "the broker refused to create it"
        raise ConfigError.of(setting, f"cannot create topic {plan.name}: {hint} ({detail})")
