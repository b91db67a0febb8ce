"""The worker on a real broker, side by side with the floor and with Faust's own ceiling.

One run pre-produces a seeded mixed stream (the simulator, ending with a
watermark) to a fresh topic, so no producer is measured, then reads that same
topic three ways:

- ``floor``: aiokafka ``getmany`` + orjson decode + a dict update, in this
  process: what Python and the client can do at all;
- ``faust_empty``: a Faust agent that only counts the messages
  (:mod:`ccpulse.bench.faust_empty`), in its own process: Faust's ceiling;
- ``worker``: the real ``ccpulse worker`` process on the stream-time clock
  (decode, validate, entity state, facts, queue views, changelogs, KPI and
  facts topics), from ready until every topic it reads has no lag left.

Every rate is reported with its ratio to the floor and to the empty agent.
Speed is reported, never asserted; compare reports from the same machine.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ccpulse.codec import json
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan

START_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z, as the engine bench
CCPULSE = Path(sys.executable).with_name("ccpulse")


@dataclass(frozen=True, slots=True)
class KafkaBenchPlan:
    bootstrap: str
    contacts: int = 5_000
    partitions: int = 4
    seed: int = 1
    timeout_s: float = 600.0
    latency_rates: tuple[int, ...] = (100, 1_000, 5_000)
    latency_duration_s: float = 10.0


@dataclass(frozen=True, slots=True)
class KafkaBenchResult:
    events: int
    partitions: int
    produce_s: float
    floor_events_per_s: float
    faust_empty_events_per_s: float
    worker_events_per_s: float
    worker_s: float
    worker_ready_s: float
    recovery_s: float | None
    latency: dict[str, Any]


def stream(plan: KafkaBenchPlan) -> list[tuple[bytes | None, bytes]]:
    """The mixed stream as (key, value) messages, keyed by contact/agent/ticket as the sources key them."""
    simulation = SimulationPlan(
        contacts=plan.contacts, seed=plan.seed, rate_per_s=5.0, mixed=True, paced=False,
        queues=tuple(f"q{n:02d}" for n in range(20)),
    )  # fmt: skip
    messages: list[tuple[bytes | None, bytes]] = []
    last_ms = START_MS
    for ts_ms, event in ContactGenerator(simulation, START_MS).events():
        key = event.get("contact_id") or event.get("agent_id") or event.get("ticket_id")
        messages.append((None if key is None else str(key).encode(), json.dumps(event)))
        last_ms = max(last_ms, ts_ms)
    end_ms = last_ms + 3 * 3_600_000
    messages.append((None, json.dumps({"event_id": "bench-end", "type": "stream.watermark", "ts": end_ms})))
    return messages


async def produce(bootstrap: str, topic: str, partitions: int, messages: list[tuple[bytes | None, bytes]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def floor(bootstrap: str, topic: str, partitions: int, expected: int) -> float:
    """Seconds for aiokafka + orjson + a dict update over every message."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        by_type: Counter[str] = Counter()
        seen = 0
        started = time.perf_counter()
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for record in records:
                    by_type[json.loads(record.value)["type"]] += 1
                seen += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def faust_empty(bootstrap: str, topic: str, partitions: int, expected: int, timeout_s: float) -> float:
    """Seconds the empty Faust agent took from its first message to the last."""
    command = [
        sys.executable, "-m", "ccpulse.bench.faust_empty", "--broker", bootstrap, "--topic", topic,
        "--expect", str(expected), "--partitions", str(partitions),
    ]  # fmt: skip
    # The context closes the pipe; _stop ends the process first.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:  # noqa: S603 - our own module
        try:
            line = _read_line(process, timeout_s)
        finally:
            _stop(process)
    # Faust's terminal handling may put control sequences before the JSON on the same line.
    return float(json.loads(line[line.index("{") :])["elapsed_s"])


def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The first line the process prints, waiting at most ``timeout_s``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], 0.2)
        if readable:
            line = process.stdout.readline()
            if line:
                return line
        if process.poll() is not None:
            break
    raise RuntimeError(f"the empty Faust agent gave no result in {timeout_s:.0f} s (exit {process.poll()})")


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _families(port: int) -> Iterable[Metric]:
    """The metric families a worker serves now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return text_string_to_metric_families(text)


def _scrape(port: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in _families(port):
        for sample in family.samples:
            if sample.name == "ccpulse_consumer_lag_messages":
                values["lag"] = values.get("lag", 0.0) + sample.value
            elif not sample.labels:
                values[sample.name] = sample.value
    return values


@dataclass(frozen=True, slots=True)
class RunningWorker:
    port: int
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    started_at: float
    ready_at: float


def _worker_env(bootstrap: str, topic: str, partitions: int, workdir: Path, clock: str) -> dict[str, str]:
    """A worker of its own (app id, output topics, data dir) on ``topic``, with a static member id."""
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "CCPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "CCPULSE_APP_ID": f"ccpulse-bench-{run}",
        "CCPULSE_GROUP_INSTANCE_ID": f"bench-{run}",
        "CCPULSE_INPUT_TOPIC": topic,
        "CCPULSE_FACTS_TOPIC": f"bench-{run}.contact-facts",
        "CCPULSE_DEAD_LETTER_TOPIC": f"bench-{run}.dead-letters",
        "CCPULSE_KPI_TOPIC": f"bench-{run}.kpis",
        "CCPULSE_TOPIC_PARTITIONS": str(partitions),
        "CCPULSE_CLOCK": clock,
        "CCPULSE_METRICS_HOST": "127.0.0.1",
        "CCPULSE_METRICS_PORT": str(_free_port()),
        "CCPULSE_DATA_DIR": str(workdir / run),
        "CCPULSE_LOG_LEVEL": "warn",
    }


@contextmanager
def _running_worker(env: dict[str, str], workdir: Path, timeout_s: float) -> Iterator[RunningWorker]:
    """``ccpulse worker`` with ``env``, once ready; stopped (SIGTERM) on exit unless already gone."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = int(env["CCPULSE_METRICS_PORT"])
    with (workdir / f"{env['CCPULSE_APP_ID']}.log").open("ab") as log:
        started = time.monotonic()
        process = subprocess.Popen([str(CCPULSE), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our CLI
        try:
            ready_at = _wait(process, port, lambda m: m.get("ccpulse_worker_ready") == 1.0, started + timeout_s)
            yield RunningWorker(port, process, env, started, ready_at)
        finally:
            _stop(process)


def _offered_total(port: int) -> float:
    """Sum of today's offered over every queue and channel: a figure that must survive a restart."""
    return sum(
        sample.value
        for family in _families(port)
        if family.name == "ccpulse_contacts_offered"
        for sample in family.samples
        if sample.labels.get("window") == "today" and sample.labels.get("channel") == "all"
    )


def worker(
    bootstrap: str, topic: str, partitions: int, expected: int, workdir: Path, timeout_s: float
) -> tuple[float, float, float | None]:
    """For ``ccpulse worker`` on the stream clock: seconds from ready until nothing is left to read,
    seconds to get ready, and seconds from a SIGKILL until a new process serves the same numbers again."""
    env = _worker_env(bootstrap, topic, partitions, workdir, "stream")
    with _running_worker(env, workdir, timeout_s) as running:
        done_at = _wait(
            running.process,
            running.port,
            lambda m: m.get("ccpulse_events_consumed_total", 0) >= expected and m.get("lag", 1) == 0,
            running.ready_at + timeout_s,
        )
        offered = _offered_total(running.port)
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()
        killed_at = time.monotonic()
    recovery_s: float | None = None
    with _running_worker(env, workdir, timeout_s) as restarted:
        try:
            _wait(
                restarted.process,
                restarted.port,
                lambda _: _offered_total(restarted.port) == offered,
                restarted.ready_at + timeout_s,
            )
            recovery_s = time.monotonic() - killed_at
        except RuntimeError:
            # Reported, not raised: the bench measures; the fault tests judge correctness.
            sys.stderr.write(
                f"bench: after SIGKILL the restarted worker served {_offered_total(restarted.port):,.0f} offered "
                f"contacts today, not {offered:,.0f}, within {timeout_s:.0f} s; recovery not measured\n"
            )
    return done_at - running.ready_at, running.ready_at - running.started_at, recovery_s


def _wait(process: subprocess.Popen[Any], port: int, condition: Any, deadline: float) -> float:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}")
        try:
            if condition(_scrape(port)):
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the worker did not finish in time")


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_kafka_bench(plan: KafkaBenchPlan, workdir: Path, progress: TextIO) -> KafkaBenchResult:
    """Pre-produce, then measure the floor, the empty Faust agent and the worker on the same topic."""
    messages = stream(plan)
    topic = f"bench-{uuid.uuid4().hex[:8]}.events"
    progress.write(f"bench: producing {len(messages):,} events to {topic} ({plan.partitions} partitions)\n")
    started = time.perf_counter()
    asyncio.run(produce(plan.bootstrap, topic, plan.partitions, messages))
    produce_s = time.perf_counter() - started
    progress.write("bench: floor (aiokafka + orjson)\n")
    floor_s = asyncio.run(floor(plan.bootstrap, topic, plan.partitions, len(messages)))
    progress.write("bench: empty Faust agent\n")
    empty_s = faust_empty(plan.bootstrap, topic, plan.partitions, len(messages), plan.timeout_s)
    progress.write("bench: ccpulse worker (stream clock)\n")
    worker_s, ready_s, recovery_s = worker(
        plan.bootstrap, topic, plan.partitions, len(messages), workdir, plan.timeout_s
    )
    progress.write(f"bench: latency produce -> /metrics at {', '.join(map(str, plan.latency_rates))} events/s\n")
    latencies = (
        latency(plan.bootstrap, plan.latency_rates, plan.latency_duration_s, workdir, plan.timeout_s)
        if plan.latency_rates
        else {}
    )
    n = len(messages)
    return KafkaBenchResult(
        events=n,
        partitions=plan.partitions,
        produce_s=round(produce_s, 2),
        floor_events_per_s=round(n / floor_s, 1),
        faust_empty_events_per_s=round(n / empty_s, 1),
        worker_events_per_s=round(n / worker_s, 1),
        worker_s=round(worker_s, 2),
        worker_ready_s=round(ready_s, 2),
        recovery_s=None if recovery_s is None else round(recovery_s, 2),
        latency=latencies,
    )


def combined_report(engine: Any, kafka: KafkaBenchResult | None, kafka_version: str) -> dict[str, Any]:
    """The ``build/bench.json`` document: the contract keys first, then the details of each part."""
    floor_rate = kafka.floor_events_per_s if kafka else None
    empty_rate = kafka.faust_empty_events_per_s if kafka else None

    def ratios(rate: float | None) -> dict[str, float | None]:
        return {
            "to_floor": round(rate / floor_rate, 4) if rate and floor_rate else None,
            "to_faust_empty": round(rate / empty_rate, 4) if rate and empty_rate else None,
        }

    machine = {
        "cores": engine.machine.cores,
        "python": engine.machine.python,
        "implementation": engine.machine.implementation,
        "platform": engine.machine.platform,
        "kafka_version": kafka_version,
    }
    return {
        "floor_events_per_s": floor_rate,
        "faust_empty_events_per_s": empty_rate,
        "worker_events_per_s": kafka.worker_events_per_s if kafka else None,
        "engine_events_per_s": engine.engine_events_per_s,
        "latency_p99_ms_at_1000": (kafka.latency.get("1000") or {}).get("p99_ms") if kafka else None,
        "bytes_per_open_contact": engine.bytes_per_open_contact,
        "recovery_s": kafka.recovery_s if kafka else None,
        "machine": machine,
        "ratios": {
            "worker": ratios(kafka.worker_events_per_s if kafka else None),
            "faust_empty": ratios(empty_rate),
            "engine": ratios(engine.engine_events_per_s),
        },
        "kafka": None if kafka is None else {k: getattr(kafka, k) for k in kafka.__dataclass_fields__},
        "engine": {
            "events": engine.events,
            "decode_events_per_s": engine.decode_events_per_s,
            "decode_and_apply_events_per_s": engine.decode_and_apply_events_per_s,
            "bytes_per_100k_open_contacts": engine.bytes_per_100k_open_contacts,
        },
    }


def format_combined(document: dict[str, Any]) -> str:
    def rate(value: float | None) -> str:
        return f"{value:>12,.0f}" if value is not None else f"{'-':>12}"

    def ratio(value: float | None) -> str:
        return f"{value:8.3f}" if value is not None else f"{'-':>8}"

    rows = [
        ("floor (aiokafka + orjson)", document["floor_events_per_s"], None),
        ("empty Faust agent", document["faust_empty_events_per_s"], document["ratios"]["faust_empty"]),
        ("ccpulse worker", document["worker_events_per_s"], document["ratios"]["worker"]),
        ("pure engine, in process", document["engine_events_per_s"], document["ratios"]["engine"]),
    ]
    lines = [f"{'':28} {'events/s':>12} {'/ floor':>8} {'/ Faust':>8}"]
    for name, value, given in rows:
        parts = given or {"to_floor": 1.0 if value else None, "to_faust_empty": None}
        lines.append(f"{name:28} {rate(value)} {ratio(parts['to_floor'])} {ratio(parts['to_faust_empty'])}")
    lines.append(f"{'memory per open contact':28} {document['bytes_per_open_contact']:>12,.0f} bytes")
    latencies: dict[str, dict[str, Any]] = (document.get("kafka") or {}).get("latency", {})
    for per_s, numbers in latencies.items():
        label = f"latency at {int(per_s):,}/s"
        lines.append(
            f"{label:28} p50 {numbers['p50_ms']} ms, p95 {numbers['p95_ms']} ms, p99 {numbers['p99_ms']} ms "
            f"({numbers['visible']:,} of {numbers['events']:,} seen)"
        )
    if document["recovery_s"] is not None:
        lines.append(
            f"{'recovery after SIGKILL':28} {document['recovery_s']:>12.1f} s to the same numbers (static member)"
        )
    machine = document["machine"]
    lines.append(
        f"machine: {machine['cores']} cores, {machine['implementation']} {machine['python']}, "
        f"Kafka {machine['kafka_version']}"
    )
    return "\n".join(lines) + "\n"


LATENCY_QUEUE = "bench-latency"


async def _produce_paced(bootstrap: str, topic: str, rate: float, duration_s: float, sent: list[float]) -> None:
    """``contact.queued`` events at ``rate`` per second for ``duration_s``, time-stamped now; send times in ``sent``."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        total = int(rate * duration_s)
        started = time.monotonic()
        run = uuid.uuid4().hex[:6]
        for n in range(total):
            due = started + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            contact = f"lat-{run}-{n}"
            event = {
                "event_id": f"{contact}-q", "type": "contact.queued", "ts": int(time.time() * 1000),
                "contact_id": contact, "queue": LATENCY_QUEUE, "channel": "voice",
            }  # fmt: skip
            await producer.send(topic, key=contact.encode(), value=json.dumps(event))
            sent.append(time.monotonic())
        await producer.flush()
    finally:
        await producer.stop()


def _arrivals(port: int) -> float:
    for family in _families(port):
        if family.name == "ccpulse_queue_arrivals":
            for sample in family.samples:
                if sample.labels.get("queue") == LATENCY_QUEUE and sample.labels.get("channel") == "voice":
                    return sample.value
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _one_rate(
    bootstrap: str, topic: str, port: int, rate: int, duration_s: float, timeout_s: float
) -> list[float]:
    """Latencies (ms) of each event produced at ``rate``: send time to the scrape that first counts it."""
    before = await asyncio.to_thread(_arrivals, port)
    sent: list[float] = []
    seen_at: list[float] = []
    producing = asyncio.create_task(_produce_paced(bootstrap, topic, rate, duration_s, sent))
    deadline = time.monotonic() + duration_s + timeout_s
    while time.monotonic() < deadline:
        visible = await asyncio.to_thread(_arrivals, port)
        now = time.monotonic()
        while len(seen_at) < min(len(sent), int(visible - before)):
            seen_at.append(now)
        if producing.done() and len(seen_at) >= len(sent):
            break
        await asyncio.sleep(0.02)
    await producing
    return [(seen - produced) * 1000 for produced, seen in zip(sent, seen_at, strict=False)]


def latency(
    bootstrap: str, rates: tuple[int, ...], duration_s: float, workdir: Path, timeout_s: float
) -> dict[str, Any]:
    """Produce → visible on /metrics, per rate: p50/p95/p99 in ms, from a wall-clock worker polled every 20 ms."""
    topic = f"bench-{uuid.uuid4().hex[:8]}.live"
    asyncio.run(produce(bootstrap, topic, 4, []))
    results: dict[str, Any] = {}
    with _running_worker(_worker_env(bootstrap, topic, 4, workdir, "wall"), workdir, timeout_s) as running:
        for rate in rates:
            waits_ms = asyncio.run(_one_rate(bootstrap, topic, running.port, rate, duration_s, timeout_s))
            results[str(rate)] = {
                "events": int(rate * duration_s),
                "visible": len(waits_ms),
                "p50_ms": round(percentile(waits_ms, 0.50), 1) if waits_ms else None,
                "p95_ms": round(percentile(waits_ms, 0.95), 1) if waits_ms else None,
                "p99_ms": round(percentile(waits_ms, 0.99), 1) if waits_ms else None,
            }
    return results
