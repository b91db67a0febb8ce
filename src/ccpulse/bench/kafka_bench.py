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
  facts topics), from ready until every topic it reads has no lag left and
  every per-queue figure on /metrics has its final value;
  then again on the same events produced as ccpulse's own sources send them
  with ``input_batch_events`` (framed batches per partition);
- ``scaling``: one, then two worker processes in one consumer group, each
  time on a fresh topic that is produced only once the group is ready and
  its partitions are split, timed from the first record produced until
  every worker has no lag left and its figures are final (so both runs
  include the same produce time).

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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ccpulse.codec import json
from ccpulse.sources.simulator import ContactGenerator, SimulationPlan
from ccpulse.sources.sink import BATCH_KEY, PartitionBatches

#: Events per input message for the batched-input run, as ``input_batch_events`` would send them.
BENCH_INPUT_BATCH_EVENTS = 200
START_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z, as the engine bench
CCPULSE = Path(sys.executable).with_name("ccpulse")


@dataclass(frozen=True, slots=True)
class KafkaBenchPlan:
    bootstrap: str
    contacts: int = 5_000
    partitions: int = 4
    seed: int = 1
    timeout_s: float = 600.0
    scaling: bool = True
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
    # The worker on the same events in framed batches of BENCH_INPUT_BATCH_EVENTS (input_batch_events).
    worker_batched_events_per_s: float | None
    # Records in the two table changelogs when the worker was killed: what its successor replays.
    changelog_records: int | None
    latency: dict[str, Any]
    # The worker's resident memory when it got ready (empty tables), once it had processed the
    # whole stream (every contact's rows kept for the retention), and its peak (Linux only).
    worker_ready_rss_bytes: int | None = None
    worker_rss_bytes: int | None = None
    worker_peak_rss_bytes: int | None = None
    contacts: int | None = None  # voice and chat contacts in the stream
    changelog_live_keys: int | None = None  # of changelog_records, the keys whose last record is not a tombstone
    # Workers in the group -> events/s, the topic produced after the group was ready.
    scaling: dict[str, float] | None = None


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
    await _produce_to(bootstrap, topic, messages)


def batched(
    messages: list[tuple[bytes | None, bytes]], partitions: int, per_batch: int
) -> list[tuple[int | None, bytes]]:
    """The messages as ``KafkaSink`` sends them with ``input_batch_events``: (partition, value) in order."""
    queue = PartitionBatches(partitions, per_batch)
    routed = [message for key, value in messages for message in queue.route(key, value)]
    return routed + queue.flush()


async def produce_batched(
    bootstrap: str, topic: str, partitions: int, messages: list[tuple[int | None, bytes]]
) -> None:
    await produce(bootstrap, topic, partitions, [])
    await _produce_to(bootstrap, topic, [(None if p is None else BATCH_KEY, value, p) for p, value in messages])


def worker_throughput(
    bootstrap: str, topic: str, partitions: int, expected: int, workdir: Path, timeout_s: float
) -> float:
    """Seconds from ready until a stream-clock ``ccpulse worker`` has consumed ``expected`` events, no lag is
    left and every per-queue figure has its final value."""
    env = _worker_env(bootstrap, topic, partitions, workdir, "stream")
    with _running_worker(env, workdir, timeout_s) as running:
        _, done_at = _final_figures(running, expected, timeout_s)
    return done_at - running.ready_at


def _final_figures(running: RunningWorker, expected: int, timeout_s: float) -> tuple[Figures, float]:
    """The worker's per-queue figures once it has consumed ``expected`` events and they are final, and when."""
    done_at = _wait(
        running.process,
        running.port,
        lambda m: m.get("ccpulse_events_consumed_total", 0) >= expected and m.get("lag", 1) == 0,
        running.ready_at + timeout_s,
    )
    # Lag can read zero while a stage behind still works on what it was handed:
    # done is when the last figure took its final value.
    figures, final_at = _settled_figures(running.process, running.port, done_at + timeout_s)
    return figures, max(done_at, final_at)


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


#: Figures count as settled once unchanged for this long: the clocks that close windows
#: reach the queue stage a broadcast interval or two after the last event.
SETTLE_S = 3.0

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _kpi_figures(port: int) -> Figures:
    """Every per-queue sample on /metrics: what a wallboard shows, and what a restart must give back.

    Counters and histograms count since the queue's daily reset, from the
    state, so they come back too; only self-metrics (no queue label) start over.
    """
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in _families(port)
        for sample in family.samples
        if "queue" in sample.labels
    }


def _settled_figures(process: subprocess.Popen[Any], port: int, deadline: float) -> tuple[Figures, float]:
    """The per-queue figures once unchanged for SETTLE_S, and when they last changed (monotonic)."""
    return _settled_figures_of([(process, port)], deadline)


def _settled_figures_of(workers: list[tuple[subprocess.Popen[Any], int]], deadline: float) -> tuple[Figures, float]:
    """Every worker's per-queue figures (the last label names the worker) once none changed for SETTLE_S."""
    last: Figures | None = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        figures: Figures = {}
        for process, port in workers:
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}")
            tag = () if len(workers) == 1 else (("worker", str(port)),)
            figures.update({(name, labels + tag): value for (name, labels), value in _kpi_figures(port).items()})
        now = time.monotonic()
        if figures != last:
            last, since = figures, now
        elif now - since >= SETTLE_S:
            return figures, since
        time.sleep(0.2)
    raise RuntimeError("the workers' figures did not settle in time")


def _differences(got: Figures, want: Figures) -> str:
    keys = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    shown = ", ".join(
        f"{name}{dict(labels)}: {got.get((name, labels))} not {want.get((name, labels))}" for name, labels in keys[:3]
    )
    return f"{len(keys)} of {len(want)} samples differ (e.g. {shown})"


async def changelog_records(bootstrap: str, app_id: str, partitions: int) -> tuple[int, int]:
    """Records in the worker's table changelogs, and their live keys (what compaction leaves of them).

    A restarted worker reads the records to recover: all of them here, in a
    fresh changelog; about the live keys plus the writes of the open segment
    once the broker has compacted a long-running one.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [
            TopicPartition(f"{app_id}-{table}-changelog", partition)
            for table in ("entities", "queue-facts")
            for partition in range(partitions)
        ]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        live: dict[tuple[str, bytes | None], bool] = {}
        # Positions, not counts: a compacted changelog has gaps in its offsets.
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for tp, messages in (await consumer.getmany(timeout_ms=1_000, max_records=10_000)).items():
                for message in messages:
                    live[(tp.topic, message.key)] = message.value is not None
        return sum(ends.values()), sum(live.values())
    finally:
        await consumer.stop()


@dataclass(frozen=True, slots=True)
class WorkerRun:
    """One ``ccpulse worker`` over the whole stream, then SIGKILLed and restarted."""

    busy_s: float  # from ready until nothing was left to read and every figure was final
    ready_s: float  # from start until ready
    recovery_s: float | None  # from the SIGKILL until a new process served every figure as before
    changelog_records: int
    changelog_live_keys: int
    ready_rss_bytes: int | None
    rss_bytes: int | None
    peak_rss_bytes: int | None


def process_memory_bytes(pid: int) -> tuple[int | None, int | None]:
    """Resident and peak resident memory of a process, from /proc (None where there is no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None, None
    kib = {
        name: int(value.split()[0]) * 1024
        for name, _, value in (line.partition(":") for line in status.splitlines())
        if name in ("VmRSS", "VmHWM")
    }
    return kib.get("VmRSS"), kib.get("VmHWM")


def worker(bootstrap: str, topic: str, partitions: int, expected: int, workdir: Path, timeout_s: float) -> WorkerRun:
    """``ccpulse worker`` on the stream clock over the stream, then its recovery after a SIGKILL."""
    env = _worker_env(bootstrap, topic, partitions, workdir, "stream")
    with _running_worker(env, workdir, timeout_s) as running:
        ready_rss_bytes, _ = process_memory_bytes(running.process.pid)
        figures, done_at = _final_figures(running, expected, timeout_s)
        rss_bytes, peak_rss_bytes = process_memory_bytes(running.process.pid)
        state_records, live_keys = asyncio.run(changelog_records(bootstrap, env["CCPULSE_APP_ID"], partitions))
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()
        killed_at = time.monotonic()
    recovery_s: float | None = None
    with _running_worker(env, workdir, timeout_s) as restarted:
        try:
            _wait(
                restarted.process,
                restarted.port,
                lambda _: _kpi_figures(restarted.port) == figures,
                restarted.ready_at + timeout_s,
            )
            recovery_s = time.monotonic() - killed_at
        except RuntimeError:
            # Reported, not raised: the bench measures; the fault tests judge correctness.
            sys.stderr.write(
                f"bench: after SIGKILL the restarted worker did not serve the same figures within "
                f"{timeout_s:.0f} s: {_differences(_kpi_figures(restarted.port), figures)}; recovery not measured\n"
            )
    return WorkerRun(
        busy_s=done_at - running.ready_at,
        ready_s=running.ready_at - running.started_at,
        recovery_s=recovery_s,
        changelog_records=state_records,
        changelog_live_keys=live_keys,
        ready_rss_bytes=ready_rss_bytes,
        rss_bytes=rss_bytes,
        peak_rss_bytes=peak_rss_bytes,
    )


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
    run = worker(plan.bootstrap, topic, plan.partitions, len(messages), workdir, plan.timeout_s)
    progress.write(f"bench: ccpulse worker on the same events in batches of {BENCH_INPUT_BATCH_EVENTS}\n")
    batched_topic = f"bench-{uuid.uuid4().hex[:8]}.batched"
    asyncio.run(
        produce_batched(
            plan.bootstrap, batched_topic, plan.partitions, batched(messages, plan.partitions, BENCH_INPUT_BATCH_EVENTS)
        )
    )
    batched_s = worker_throughput(
        plan.bootstrap, batched_topic, plan.partitions, len(messages), workdir, plan.timeout_s
    )
    scaling = None
    if plan.scaling:
        progress.write("bench: scaling: one, then two workers in one group\n")
        scaling = scale_out(plan.bootstrap, plan.partitions, messages, workdir, plan.timeout_s)
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
        worker_events_per_s=round(n / run.busy_s, 1),
        worker_s=round(run.busy_s, 2),
        worker_ready_s=round(run.ready_s, 2),
        recovery_s=None if run.recovery_s is None else round(run.recovery_s, 2),
        changelog_records=run.changelog_records,
        changelog_live_keys=run.changelog_live_keys,
        worker_batched_events_per_s=round(n / batched_s, 1),
        latency=latencies,
        scaling=scaling,
        worker_ready_rss_bytes=run.ready_rss_bytes,
        worker_rss_bytes=run.rss_bytes,
        worker_peak_rss_bytes=run.peak_rss_bytes,
        contacts=plan.contacts,
    )


def scale_out(
    bootstrap: str, partitions: int, messages: list[tuple[bytes | None, bytes]], workdir: Path, timeout_s: float
) -> dict[str, float]:
    """Events/s of one and of two ``ccpulse worker`` processes in one group, over the same stream."""
    rates: dict[str, float] = {}
    for workers in (1, 2):
        topic = f"bench-{uuid.uuid4().hex[:8]}.scale"
        asyncio.run(produce(bootstrap, topic, partitions, []))
        first = _worker_env(bootstrap, topic, partitions, workdir, "stream")
        envs = [first] + [
            {
                **first,
                "CCPULSE_GROUP_INSTANCE_ID": f"{first['CCPULSE_GROUP_INSTANCE_ID']}-{n}",
                "CCPULSE_METRICS_PORT": str(_free_port()),
                "CCPULSE_DATA_DIR": f"{first['CCPULSE_DATA_DIR']}-{n}",
            }
            for n in range(1, workers)
        ]
        with ExitStack() as stack:
            running = [stack.enter_context(_running_worker(env, workdir, timeout_s)) for env in envs]
            _wait_all_ready(running, time.monotonic() + timeout_s)
            started = time.monotonic()
            asyncio.run(_produce_to(bootstrap, topic, messages))
            _wait_all(
                running,
                lambda scrapes: (
                    sum(m.get("ccpulse_events_consumed_total", 0) for m in scrapes) >= len(messages)
                    and all(m.get("lag", 1) == 0 for m in scrapes)
                ),
                started + timeout_s,
            )
            _, final_at = _settled_figures_of([(w.process, w.port) for w in running], started + timeout_s)
            rates[str(workers)] = round(len(messages) / (final_at - started), 1)
    return rates


#: Scrapes in a row (0.2 s apart) in which every worker must be ready before the group counts as settled:
#: a joining worker makes the others rebalance, and each is briefly ready before that.
SETTLED_SCRAPES = 10


def _wait_all_ready(running: list[RunningWorker], deadline: float) -> None:
    settled = 0
    while settled < SETTLED_SCRAPES:
        ready = _wait_all(running, lambda scrapes: True, deadline)
        settled = settled + 1 if all(m.get("ccpulse_worker_ready") == 1.0 for m in ready) else 0
        time.sleep(0.2)


def _wait_all(running: list[RunningWorker], condition: Any, deadline: float) -> list[dict[str, float]]:
    """Every worker's scrape, once ``condition`` holds for the list of them."""
    while time.monotonic() < deadline:
        try:
            scrapes = []
            for worker in running:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"a worker exited with {worker.process.returncode}")
                scrapes.append(_scrape(worker.port))
            if condition(scrapes):
                return scrapes
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the workers did not finish in time")


async def _produce_to(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]] | Iterable[tuple[bytes | None, bytes, int | None]],
) -> None:
    """Send (key, value) or (key, value, partition) records in order, then flush."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    try:
        for key, value, *partition in messages:
            await producer.send(topic, key=key, value=value, partition=partition[0] if partition else None)
        await producer.flush()
    finally:
        await producer.stop()


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
            "worker_batched": ratios(kafka.worker_batched_events_per_s if kafka else None),
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

    batched_rate = (document.get("kafka") or {}).get("worker_batched_events_per_s")

    rows = [
        ("floor (aiokafka + orjson)", document["floor_events_per_s"], None),
        ("empty Faust agent", document["faust_empty_events_per_s"], document["ratios"]["faust_empty"]),
        ("ccpulse worker", document["worker_events_per_s"], document["ratios"]["worker"]),
        ("worker, batched input", batched_rate, document["ratios"].get("worker_batched")),
        ("pure engine, in process", document["engine_events_per_s"], document["ratios"]["engine"]),
    ]
    lines = [f"{'':28} {'events/s':>12} {'/ floor':>8} {'/ Faust':>8}"]
    for name, value, given in rows:
        parts = given or {"to_floor": 1.0 if value else None, "to_faust_empty": None}
        lines.append(f"{name:28} {rate(value)} {ratio(parts['to_floor'])} {ratio(parts['to_faust_empty'])}")
    lines.append(f"{'memory per open contact':28} {document['bytes_per_open_contact']:>12,.0f} bytes")
    kafka_part = document.get("kafka") or {}
    if kafka_part.get("worker_rss_bytes"):
        lines.append(
            f"{'worker memory (RSS)':28} {kafka_part['worker_rss_bytes'] / 2**20:>12,.0f} MiB after "
            f"{kafka_part['contacts']:,} contacts ({kafka_part['events']:,} events), "
            f"{(kafka_part.get('worker_ready_rss_bytes') or 0) / 2**20:,.0f} MiB when ready, "
            f"peak {(kafka_part.get('worker_peak_rss_bytes') or 0) / 2**20:,.0f} MiB"
        )
    latencies: dict[str, dict[str, Any]] = (document.get("kafka") or {}).get("latency", {})
    for per_s, numbers in latencies.items():
        label = f"latency at {int(per_s):,}/s"
        lines.append(
            f"{label:28} p50 {numbers['p50_ms']} ms, p95 {numbers['p95_ms']} ms, p99 {numbers['p99_ms']} ms "
            f"({numbers['visible']:,} of {numbers['events']:,} seen)"
        )
    scaling: dict[str, float] | None = (document.get("kafka") or {}).get("scaling")
    if scaling and "1" in scaling and "2" in scaling:
        lines.append(
            f"{'one -> two workers':28} {scaling['1']:>12,.0f} -> {scaling['2']:,.0f} events/s "
            f"(x{scaling['2'] / scaling['1']:.2f}; {document['machine']['cores']} cores, shared with the broker)"
        )
    if document["recovery_s"] is not None:
        lines.append(
            f"{'recovery after SIGKILL':28} {document['recovery_s']:>12.1f} s to the same numbers (static member; "
            f"{(document.get('kafka') or {}).get('changelog_records') or 0:,} changelog records replayed)"
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
