"""The topic contract on a real broker: what a real worker writes is what schemas/asyncapi.yaml states.

One worker (stream-time clock) is fed a simulated mixed stream and one
malformed record. Then every record on the KPI, contact-facts and dead-letter
topics is checked against what the document states for its topic (key,
payload schema, headers), every topic the deployment has on the broker
against the document's channels and their topic configuration, and
:func:`ccpulse.client.subscribe_kpis` for one queue against the raw topic.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from ccpulse.client import KpiRow, latest_by_key, subscribe_kpis
from ccpulse.codec import json
from ccpulse.codec.outputs import fact_record_key
from tests.integration.engine_compare import STREAM_CLOCK, scenario, wait_for_engine_numbers
from tests.integration.support import WorkerProcess, consume_all, produce, read_all, topic_config
from tests.unit.test_asyncapi import Contract, document

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kpi_subscriber.py"
MALFORMED = (b"contact:broken-1", b'{"event_id": "broken-1", "type": "contact.queued", ')


def _headers(message: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in message.headers}


def _by_key(rows: Sequence[KpiRow]) -> dict[bytes, list[KpiRow]]:
    """Each key's rows in the order read (one key is on one partition, so in offset order)."""
    grouped: dict[bytes, list[KpiRow]] = {}
    for row in rows:
        grouped.setdefault(row.key, []).append(row)
    return grouped


def _broker_topics(bootstrap: str) -> dict[str, int]:
    """Every topic on the broker and its partition count."""

    async def describe() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(await admin.list_topics())
        finally:
            await admin.close()
        return {topic["topic"]: len(topic["partitions"]) for topic in described}

    return asyncio.run(describe())


def test_what_the_worker_writes_is_what_the_asyncapi_document_states(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    started = time.monotonic()
    records, engine = scenario(contacts=30, seed=11)
    worker = start_worker(**STREAM_CLOCK)
    worker.wait_ready()
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], [MALFORMED, *records])
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)

    kpi_count = check_kpi_records(kafka_bootstrap, topic_names)
    fact_count = check_fact_records(kafka_bootstrap, topic_names)
    check_dead_letter(kafka_bootstrap, topic_names)
    topic_count = check_topics(kafka_bootstrap, topic_names)
    queue = min(name for name, _ in engine.queues())
    rows = check_subscription(kafka_bootstrap, topic_names["CCPULSE_KPI_TOPIC"], queue)
    check_example(kafka_bootstrap, topic_names["CCPULSE_KPI_TOPIC"], queue, rows)
    print(f"\ncontract checked on {kpi_count} KPI rows, {fact_count} facts, 1 dead letter, {topic_count} topics; "
          f"{len(rows)} rows of {queue} read by subscribe_kpis; {time.monotonic() - started:.1f} s")  # fmt: skip


def check_kpi_records(bootstrap: str, topic_names: dict[str, str]) -> int:
    """Every KPI record: the stated key, the referenced schema, no headers; and the client reads it."""
    kpis = Contract.of_setting("kpi_topic")
    records = read_all(bootstrap, topic_names["CCPULSE_KPI_TOPIC"])
    assert records
    for message in records:
        kpis.key_validator("kpiRow").validate(message.key.decode())
        kpis.payload_validator("kpiRow").validate(json.loads(message.value))
        kpis.headers_validator("kpiRow").validate(_headers(message))
        assert KpiRow.from_json(message.value, message.key).key == message.key
    assert any(KpiRow.from_json(m.value, m.key).final for m in records)
    return len(records)


def check_fact_records(bootstrap: str, topic_names: dict[str, str]) -> int:
    """Every contact-fact record: keyed queue|key of its own value; a tombstone (if any) null with a fact's key."""
    facts = Contract.of_setting("facts_topic")
    records = read_all(bootstrap, topic_names["CCPULSE_FACTS_TOPIC"])
    assert records
    for message in records:
        name = "contactFact" if message.value is not None else "contactFactTombstone"
        facts.key_validator(name).validate(message.key.decode())
        facts.headers_validator(name).validate(_headers(message))
        payload = None if message.value is None else json.loads(message.value)
        facts.payload_validator(name).validate(payload)
        if payload is not None:
            assert message.key == fact_record_key(payload["queue"], payload["key"])
    return len(records)


def check_dead_letter(bootstrap: str, topic_names: dict[str, str]) -> None:
    """The malformed record's dead letter: its key and bytes, the stated headers, pointing at the original."""
    input_topic = topic_names["CCPULSE_INPUT_TOPIC"]
    dead = Contract.of_setting("dead_letter_topic")
    [letter] = consume_all(bootstrap, topic_names["CCPULSE_DEAD_LETTER_TOPIC"], expected=1)
    headers = _headers(letter)
    dead.headers_validator("deadLetter").validate(headers)
    dead.key_validator("deadLetter").validate(letter.key)
    assert (letter.key, letter.value) == MALFORMED
    assert (headers["ccpulse.reason"], headers["ccpulse.source.topic"]) == ("not_json", input_topic)
    origin = (int(headers["ccpulse.source.partition"]), int(headers["ccpulse.source.offset"]))
    [original] = [m for m in read_all(bootstrap, input_topic, idle_s=0.5) if (m.partition, m.offset) == origin]
    assert (original.key, original.value) == MALFORMED


def check_topics(bootstrap: str, topic_names: dict[str, str]) -> int:
    """The document's channels are exactly this deployment's topics, with the stated partitions and configuration."""
    app_id = topic_names["CCPULSE_APP_ID"]
    on_broker = _broker_topics(bootstrap)
    stated: dict[str, Contract] = {}
    for channel_id, channel in document()["channels"].items():
        contract = Contract(channel_id)
        public = channel["x-ccpulse"]["audience"] == "public"
        stated[topic_names[channel["x-ccpulse"]["env"]] if public else contract.address(app_id)] = contract
    internal = {name for name, contract in stated.items() if contract.channel["x-ccpulse"]["audience"] == "internal"}
    assert {name for name in on_broker if name.startswith(f"{app_id}-")} == internal
    for name, contract in stated.items():
        assert on_broker.get(name) == contract.kafka["partitions"], name
        config = topic_config(bootstrap, name)
        for setting, value in contract.kafka["topicConfiguration"].items():
            expected = ",".join(value) if isinstance(value, list) else str(value)
            assert config[setting] == expected, f"{name}: {setting}"
    return len(stated)


def check_subscription(bootstrap: str, kpi_topic: str, queue: str) -> list[KpiRow]:
    """``subscribe_kpis`` for one queue: exactly that queue's records of the raw topic, with the same numbers."""

    async def snapshot() -> list[KpiRow]:
        return [row async for row in subscribe_kpis(bootstrap, topic=kpi_topic, queues={queue}, follow=False)]

    for _ in range(3):  # the worker is quiet by now; should it publish meanwhile, read both again
        before = read_all(bootstrap, kpi_topic, idle_s=0.5)
        rows = asyncio.run(snapshot())
        after = read_all(bootstrap, kpi_topic, idle_s=0.5)
        if len(before) == len(after):
            break
    raw = [KpiRow.from_json(m.value, m.key) for m in after if m.key.startswith(f"{queue}|".encode())]
    assert rows
    assert {row.queue for row in rows} == {queue}
    assert _by_key(rows) == _by_key(raw)
    newest = {m.key: json.loads(m.value) for m in after}
    for key, row in latest_by_key(rows).items():
        assert dict(row.kpis) == newest[key]["kpis"]
        offered = [level for level in newest[key]["kpis"]["service_levels"] if level["formula"] == "offered"]
        assert row.service_level() == offered[0]["ratio"]
    return rows


def check_example(bootstrap: str, kpi_topic: str, queue: str, rows: list[KpiRow]) -> None:
    """examples/kpi_subscriber.py --once prints one line per row of the queue's all-channel windows, and exits."""
    command = [sys.executable, str(EXAMPLE), "--bootstrap", bootstrap, "--topic", kpi_topic, "--queue", queue]
    shown = subprocess.run([*command, "--once"], capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == sum(row.channel == "all" for row in rows)
    assert " SL 20 s " in shown.stdout
