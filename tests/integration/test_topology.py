"""The two-stage worker on the real broker gives the engine's numbers: straight, after SIGKILL, across a rebalance.

A simulated mixed stream (calls with holds, transfers, ACW, abandons, agents,
tickets, surveys) is produced with keys that are not the entity ids, then a
watermark past every ACW timeout. The worker runs on the stream-time clock.
The latest KPI row of every key on the KPI topic must equal what one
in-process :class:`Engine` computes for the same window from the same events.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from ccpulse.bench.engine_bench import BenchPlan, generate_messages
from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.codec.outputs import kpi_row
from ccpulse.codec.stage_records import fact_to_dict
from ccpulse.domain.contacts import ContactRules
from ccpulse.domain.engine import Engine, EngineConfig, hash_customer_id
from ccpulse.domain.entities import EntityRules, EntityState, apply_entity_event, entity_facts, entity_key, routes_of
from ccpulse.domain.queue_config import QueueConfigs
from ccpulse.domain.windows import HOUR_MS, Window, WindowKind
from tests.integration.support import WorkerProcess, latest_by_key, produce, sample

HASH_KEY = "integration-secret"
STREAM_CLOCK = {
    "CCPULSE_CLOCK": "stream",
    "CCPULSE_KPI_PUBLISH_INTERVAL_S": "0.5",
    "CCPULSE_CUSTOMER_HASH_KEY": HASH_KEY,
}

Record = tuple[bytes | None, bytes]


def scenario(contacts: int = 120, seed: int = 3) -> tuple[list[Record], Engine]:
    """The input records (random keys) ending with a watermark 2 h after the last event, and the engine's answer."""
    messages, _ = generate_messages(BenchPlan(contacts=contacts, seed=seed, queues=4))
    rng = random.Random(seed)
    records: list[Record] = [(rng.choice([None, b"k1", b"k2", b"k3", b"k4"]), message) for message in messages]
    events = [decode_event(message) for message in messages]
    final_ms = max(e.ts_ms for e in events) + 2 * HOUR_MS
    records.append((None, json.dumps({"event_id": "end-of-test", "type": "stream.watermark", "ts": final_ms})))
    engine = Engine(EngineConfig(customer_hash_key=HASH_KEY.encode()))
    for event in events:
        engine.apply(event)
    engine.advance_to(final_ms)
    return records, engine


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def mismatches(rows: dict[bytes, Any], engine: Engine) -> list[str]:
    """Rows whose KPIs differ from the engine's for the same queue, channel and window."""
    found: list[str] = []
    for key, message in sorted(rows.items()):
        row = json.loads(message.value)
        window = Window(WindowKind(row["window_kind"]), row["window"], _ms(row["window_start"]), _ms(row["window_end"]))
        expected = kpi_row(
            row["queue"],
            row["channel"],
            window,
            engine.snapshot(row["queue"], row["channel"], window),
            final=row["final"],
            as_of_ms=0,
        )
        want = json.loads(json.dumps(expected))["kpis"]
        if want != row["kpis"]:
            diff = {name: (row["kpis"][name], want[name]) for name in want if want[name] != row["kpis"].get(name)}
            found.append(f"{key.decode()} (as of {row['as_of']}, published vs engine: {diff})")
    return found


def fact_differences(records: Sequence[Record], facts: dict[bytes, Any]) -> dict[str, list[str]]:
    """Fact keys missing from, extra on, or different on the contact-facts topic (a diagnosis for failures)."""
    rules = EntityRules(
        ContactRules(acw_timeout_ms=lambda queue: QueueConfigs().for_queue(queue).acw_timeout_ms),
        customer_key=lambda customer_id: hash_customer_id(HASH_KEY.encode(), customer_id),
    )
    rows: dict[str, EntityState] = {}
    for _, raw in records:
        event = decode_event(raw)
        key = entity_key(event)
        if key is not None:
            rows[key], _ = apply_entity_event(rows.get(key, EntityState()), event, rules)
    expected = {
        f"{queue}|{fact_key}": json.loads(json.dumps(fact_to_dict(fact)))
        for key, row in rows.items()
        for fact_key, fact in entity_facts(key, row, rules).items()
        for queue in routes_of(fact)
    }
    published = {
        f"{document['queue']}|{document['key']}": document["fact"]
        for document in (json.loads(message.value) for message in facts.values())
    }
    return {
        "missing": sorted(set(expected) - set(published))[:10],
        "extra": sorted(set(published) - set(expected))[:10],
        "different": sorted(k for k in set(expected) & set(published) if expected[k] != published[k])[:10],
    }


def wait_for_engine_numbers(
    bootstrap: str,
    topics: dict[str, str],
    engine: Engine,
    records: Sequence[Record],
    timeout_s: float = 120.0,
) -> dict[bytes, Any]:
    """Poll the KPI topic until every row matches and every queue x channel has its rows."""
    wanted = {(queue, channel) for queue, channel in engine.queues()}
    deadline = time.monotonic() + timeout_s
    wrong: list[str] = []
    while time.monotonic() < deadline:
        rows = latest_by_key(bootstrap, topics["CCPULSE_KPI_TOPIC"])
        seen = {tuple(key.decode().split("|")[:2]) for key in rows}
        wrong = mismatches(rows, engine)
        if not wrong and wanted <= seen:
            return rows
        time.sleep(1.0)
    facts = latest_by_key(bootstrap, topics["CCPULSE_FACTS_TOPIC"])
    raise AssertionError(
        f"KPI rows differ from the engine's after {timeout_s} s: {wrong[:5]} (of {len(wrong)}); "
        f"contact-facts topic vs the entity stage run in process: {fact_differences(records, facts)}"
    )


def produce_in_parts(bootstrap: str, topic: str, records: Sequence[Record], parts: int) -> list[Sequence[Record]]:
    size = -(-len(records) // parts)
    return [records[i : i + size] for i in range(0, len(records), size)]


def test_kpi_rows_equal_the_engine_on_the_same_events(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    records, engine = scenario()
    worker = start_worker(**STREAM_CLOCK)
    worker.wait_ready()
    started = time.monotonic()
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], records)
    rows = wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)
    elapsed_s = time.monotonic() - started
    print(f"\n{len(records)} events to matching KPI rows in {elapsed_s:.1f} s ({len(rows)} rows)")
    samples = worker.scrape()
    assert samples is not None
    assert sample(samples, "ccpulse_events_consumed_total") == len(records)
    assert sample(samples, "ccpulse_duplicate_events_total") == 0
    finals = [json.loads(m.value) for m in rows.values() if json.loads(m.value)["final"]]
    assert finals, "closed intervals publish final rows"


@pytest.mark.parametrize(
    ("kill_after_parts", "static_member"),
    [pytest.param(1, False, id="early"), pytest.param(2, False, id="late"), pytest.param(2, True, id="static-member")],
)
def test_sigkill_and_restart_give_the_same_rows(
    kafka_bootstrap: str,
    topic_names: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    kill_after_parts: int,
    static_member: bool,
) -> None:
    records, engine = scenario(seed=4)
    parts = produce_in_parts(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], records, 3)
    # With a static member id the restarted worker takes its partitions back at once,
    # instead of waiting for the dead member's session to time out.
    settings = {**STREAM_CLOCK, **({"CCPULSE_GROUP_INSTANCE_ID": "worker-0"} if static_member else {})}
    worker = start_worker(**settings)
    worker.wait_ready()
    for part in parts[:kill_after_parts]:
        produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], part)
    # Mid-stream: some events processed, some facts and table rows written, offsets partly committed.
    worker.wait_for(lambda s: (sample(s, "ccpulse_events_consumed_total") or 0) > 50)
    worker.stop(signal.SIGKILL)

    killed_at = time.monotonic()
    restarted = start_worker(**settings)
    restarted.wait_ready()
    print(f"\nrecovery after SIGKILL (static member: {static_member}): ready in {time.monotonic() - killed_at:.1f} s")
    for part in parts[kill_after_parts:]:
        produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], part)
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)


def test_a_second_worker_joins_and_the_first_leaves_with_the_same_rows(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    records, engine = scenario(seed=5)
    first_part, second_part, third_part = produce_in_parts(
        kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], records, 3
    )
    first = start_worker(**STREAM_CLOCK)
    first.wait_ready()
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], first_part)
    second = start_worker(**STREAM_CLOCK)
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], second_part)
    second.wait_ready(timeout_s=90)
    assert first.stop() == 0
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], third_part)
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)
