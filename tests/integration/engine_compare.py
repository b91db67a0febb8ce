"""What the worker must reach: the KPI rows one in-process :class:`Engine` computes from the same events.

A simulated mixed stream (calls with holds, transfers, ACW, abandons, agents,
tickets, surveys) with keys that are not the entity ids, ending with a
watermark past every ACW timeout; the worker runs on the stream-time clock.
The latest KPI row of every key on the KPI topic must equal the engine's for
the same window.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from tests.integration.support import latest_by_key

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
