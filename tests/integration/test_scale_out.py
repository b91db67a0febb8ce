"""Scale-out on one machine: two workers in one group over 8 partitions, summed by a real Prometheus.

The simulator (in process, as fast as it can, in framed batches as ccpulse's
own sources send them) plays the same seeded mixed stream twice, each time
into topics of their own: once for one worker, once for two workers in one
consumer group. A real Prometheus with the shipped configuration and rules
scrapes the workers of each run. Then:

- the two workers split the input partitions (each owns some, none owns one
  twice) and the queues (each queue is served by exactly one of them);
- Prometheus's sums over the two workers, of every per-queue series and of
  the shipped recording rules, equal the one-worker run's exactly;
- both runs' KPI topics hold exactly the engine's rows for the same events;
- one of the two is SIGKILLed: the other takes its partitions over, restores
  their tables from the changelogs, and Prometheus, now scraping one live
  worker, shows the same totals again.

Throughput (events from the simulator's first send until the workers have
consumed them all) is printed for 1 and 2 workers; ``make bench`` measures it
without the producer on the same cores.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccpulse.bench.engine_bench import START_MS
from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.config import Settings
from ccpulse.domain.engine import Engine, EngineConfig
from ccpulse.domain.windows import HOUR_MS
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan, run_simulation
from tests.integration.conftest import load_deploy_module
from tests.integration.engine_compare import HASH_KEY, STREAM_CLOCK, Record, wait_for_engine_numbers
from tests.integration.support import Samples, WorkerProcess, produce, sample, unique_names

promctl = load_deploy_module("promctl", "prometheus/promctl.py")

PARTITIONS = 8
QUEUES = ("sales", "support", "billing", "retention", "claims", "vip", "loans", "cards")
PLAN = SimulationPlan(contacts=3_000, rate_per_s=20.0, seed=11, queues=QUEUES, paced=False, mixed=True)
WORKER_ENV = {**STREAM_CLOCK, "CCPULSE_TOPIC_PARTITIONS": str(PARTITIONS)}
# Every per-queue family whose series add up across workers (a queue lives on one worker), and the
# shipped recording rules, which sum over workers themselves.
SUMMED_FAMILIES = (
    "ccpulse_queue_arrivals_total",
    "ccpulse_queue_outcomes_total",
    "ccpulse_queue_wait_seconds_bucket",
    "ccpulse_handled_contacts_total",
    "ccpulse_contacts_offered",
    "ccpulse_contacts_answered",
    "ccpulse_contacts_abandoned",
    "ccpulse_contacts_handled",
    "ccpulse_service_level_met_contacts",
    "ccpulse_service_level_eligible_contacts",
    "ccpulse_answered_wait_seconds",
    "ccpulse_handling_seconds",
    "ccpulse_agents",
    "ccpulse_tickets",
    "ccpulse_survey_responses",
)
# The recording rules over gauges; the wait-time quantile is a rate() over 15 minutes, which moves
# with the query time, not with the workers.
RECORDED = '{__name__=~"ccpulse:.+", __name__!~".*_15m"}'

# Values as text, so that NaN (0 / 0: a ratio of a window without contacts) equals itself.
Totals = dict[tuple[str, frozenset[tuple[str, str]]], str]


def simulated_stream() -> tuple[list[dict[str, Any]], Record, Engine]:
    """The simulator's events, a closing watermark 2 h after the last one, and the engine's answer."""
    timed = list(ContactGenerator(PLAN, START_MS).events())
    documents = [document for _, document in timed]
    final_ms = max(ts_ms for ts_ms, _ in timed) + 2 * HOUR_MS
    watermark = json.dumps({"event_id": "end-of-run", "type": "stream.watermark", "ts": final_ms})
    engine = Engine(EngineConfig(customer_hash_key=HASH_KEY.encode()))
    for document in documents:
        engine.apply(decode_event(json.dumps(document)))
    engine.advance_to(final_ms)
    return documents, (None, watermark), engine


def simulate_into(bootstrap: str, names: dict[str, str]) -> None:
    """Run the simulator, as fast as possible, into the input topic of ``names``."""
    settings = Settings(
        kafka_bootstrap=bootstrap,
        app_id=names["CCPULSE_APP_ID"],
        input_topic=names["CCPULSE_INPUT_TOPIC"],
        facts_topic=names["CCPULSE_FACTS_TOPIC"],
        dead_letter_topic=names["CCPULSE_DEAD_LETTER_TOPIC"],
        kpi_topic=names["CCPULSE_KPI_TOPIC"],
        topic_partitions=PARTITIONS,
        input_batch_events=200,
    )
    asyncio.run(run_simulation(PLAN, settings, None, start_ms=START_MS))


def consumed(workers: list[WorkerProcess]) -> float:
    return sum(sample(worker.scrape() or {}, "ccpulse_events_consumed_total") or 0 for worker in workers)


def run_stream(bootstrap: str, names: dict[str, str], workers: list[WorkerProcess], events: int) -> float:
    """Simulate into ``names``'s topics; events per second until ``workers`` consumed them all."""
    started = time.monotonic()
    simulate_into(bootstrap, names)
    deadline = started + 180
    while consumed(workers) < events:
        assert time.monotonic() < deadline, f"consumed {consumed(workers)} of {events} events in 180 s"
        time.sleep(0.1)
    return events / (time.monotonic() - started)


def owned_input_partitions(samples: Samples | None, input_topic: str) -> set[int]:
    """The input partitions a worker owns now (its consumer-lag series)."""
    return {
        int(dict(labels)["partition"])
        for (name, labels), _ in (samples or {}).items()
        if name == "ccpulse_consumer_lag_messages" and dict(labels)["topic"] == input_topic
    }


def served_queues(samples: Samples | None) -> set[str]:
    return {
        dict(labels)["queue"] for (name, labels), _ in (samples or {}).items() if name == "ccpulse_queue_arrivals_total"
    }


def prometheus_totals(server: Any) -> Totals:
    """Every summed family (summed over workers by Prometheus) and every recorded series, by labels."""
    totals: Totals = {}
    for family in SUMMED_FAMILIES:
        for labels, value in server.query(f"sum without (instance, job) ({family})"):
            totals[(family, frozenset(labels.items()))] = repr(value)
    for labels, value in server.query(RECORDED):
        name = labels.pop("__name__")
        totals[(name, frozenset(labels.items()))] = repr(value)
    return totals


def settled_totals(server: Any, targets_up: int, timeout_s: float = 60.0) -> Totals:
    """The totals once ``targets_up`` targets are up and three polls, a scrape apart, agree."""
    deadline = time.monotonic() + timeout_s
    polls: list[Totals] = []
    while time.monotonic() < deadline:
        up = sum(value for _, value in server.query("up"))
        polls = [*polls[-2:], prometheus_totals(server)] if up == targets_up else []
        if len(polls) == 3 and polls[0] == polls[1] == polls[2] and polls[0]:
            return polls[0]
        time.sleep(server.scrape_interval_s * 1.5)
    raise AssertionError(f"Prometheus's totals never settled with {targets_up} targets up:\n{server.log_tail()}")


def differences(got: Totals, want: Totals) -> list[str]:
    keys = sorted(set(got) | set(want), key=str)
    return [f"{name}{dict(labels)}: {got.get((name, labels))} vs {want.get((name, labels))}"
            for name, labels in keys if got.get((name, labels)) != want.get((name, labels))]  # fmt: skip


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[WorkerProcess]], Any]]:
    servers: list[Any] = []

    def start(workers: list[WorkerProcess]) -> Any:
        targets = [f"127.0.0.1:{worker.metrics_port}" for worker in workers]
        server = promctl.LocalPrometheus(tmp_path / f"prometheus-{len(servers)}", targets).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_two_workers_split_the_partitions_and_prometheus_sums_them_to_the_one_worker_totals(
    kafka_bootstrap: str,
    topic_names: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    prometheus: Callable[[list[WorkerProcess]], Any],
) -> None:
    documents, watermark, engine = simulated_stream()
    records = [*((None, json.dumps(document)) for document in documents), watermark]  # for failure diagnoses
    events = len(records)

    # One worker.
    alone = start_worker(**WORKER_ENV)
    alone.wait_ready()
    one_worker_rate = run_stream(kafka_bootstrap, topic_names, [alone], len(documents))
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], [watermark])
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records, timeout_s=180)
    one_worker = settled_totals(prometheus([alone]), targets_up=1)
    assert served_queues(alone.scrape()) == set(QUEUES)

    # Two workers in one group, on topics of their own.
    names = unique_names()
    pair = [start_worker(**names, **WORKER_ENV), start_worker(**names, **WORKER_ENV)]
    for worker in pair:
        worker.wait_ready(timeout_s=90)
    server = prometheus(pair)
    two_worker_rate = run_stream(kafka_bootstrap, names, pair, len(documents))
    produce(kafka_bootstrap, names["CCPULSE_INPUT_TOPIC"], [watermark])
    wait_for_engine_numbers(kafka_bootstrap, names, engine, records, timeout_s=180)
    assert consumed(pair) == events

    owned = [owned_input_partitions(worker.scrape(), names["CCPULSE_INPUT_TOPIC"]) for worker in pair]
    assert all(owned), f"each worker owns input partitions: {owned}"
    assert not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(range(PARTITIONS))
    queues = [served_queues(worker.scrape()) for worker in pair]
    assert all(queues), f"each worker serves queues: {queues}"
    assert not queues[0] & queues[1]
    assert queues[0] | queues[1] == set(QUEUES)
    two_workers = settled_totals(server, targets_up=2)
    assert not (wrong := differences(two_workers, one_worker)), wrong[:10]
    print(
        f"\n{events} events: 1 worker {one_worker_rate:,.0f}/s, 2 workers {two_worker_rate:,.0f}/s "
        f"(x{two_worker_rate / one_worker_rate:.2f}); partitions {sorted(owned[0])} / {sorted(owned[1])}, "
        f"queues {sorted(queues[0])} / {sorted(queues[1])}; {len(one_worker)} summed series equal"
    )

    # One of the two dies for good: the other serves every queue with the same numbers.
    killed_at = time.monotonic()
    pair[0].stop(signal.SIGKILL)
    survivor = pair[1]
    survivor.wait_for(lambda s: served_queues(s) == set(QUEUES), timeout_s=90)
    survivor.wait_ready(timeout_s=90)
    taken_over_s = time.monotonic() - killed_at
    after_kill = settled_totals(server, targets_up=1)
    assert not (wrong := differences(after_kill, one_worker)), wrong[:10]
    assert owned_input_partitions(survivor.scrape(), names["CCPULSE_INPUT_TOPIC"]) == set(range(PARTITIONS))
    wait_for_engine_numbers(kafka_bootstrap, names, engine, records, timeout_s=60)
    print(f"the survivor served every queue, same totals, {taken_over_s:.1f} s after the SIGKILL")
