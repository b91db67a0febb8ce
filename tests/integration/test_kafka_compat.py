"""The client features ccpulse relies on, checked against the broker version we ship.

Kafka 4 removed old protocol versions (KIP-896); these are the calls aiokafka
makes for ccpulse and Faust, exercised one by one so a broker or client
upgrade that breaks one of them fails here, by name.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


async def _round_trip(bootstrap: str) -> dict[str, object]:
    name = f"compat-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(f"{name}.log", 3, 1),
                NewTopic(f"{name}.compact", 1, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, f"{name}.compact")])
        compact_policy = {entry[0]: entry[1] for resource in configs for entry in resource.resources[0][4]}[
            "cleanup.policy"
        ]
    finally:
        await admin.close()

    idempotent = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await idempotent.start()
    try:
        for i in range(30):
            await idempotent.send(f"{name}.log", key=f"k{i % 5}".encode(), value=f"v{i}".encode())
        await idempotent.flush()
    finally:
        await idempotent.stop()

    transactional = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{name}-tx")
    await transactional.start()
    try:
        async with transactional.transaction():
            await transactional.send(f"{name}.log", key=b"tx", value=b"in-transaction")
    finally:
        await transactional.stop()

    consumer = AIOKafkaConsumer(
        f"{name}.log",
        bootstrap_servers=bootstrap,
        group_id=f"{name}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        while len(values) < 31:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
            values.extend(message.value for messages in batch.values() for message in messages)
        await consumer.commit()
        committed = 0
        for partition in range(3):
            committed += await consumer.committed(TopicPartition(f"{name}.log", partition)) or 0
    finally:
        await consumer.stop()
    return {"compact_policy": compact_policy, "values": values, "committed": committed}


def test_admin_produce_transactions_group_consume_and_commit_work(kafka_bootstrap: str) -> None:
    result = asyncio.run(_round_trip(kafka_bootstrap))
    assert result["compact_policy"] == "compact"
    values = result["values"]
    assert isinstance(values, list)
    assert sorted(values) == sorted([f"v{i}".encode() for i in range(30)] + [b"in-transaction"])
    # 31 records plus the transaction's commit marker occupy 32 offsets.
    assert result["committed"] == 32
