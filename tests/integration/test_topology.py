"""The two-stage worker on the real broker gives the engine's numbers: straight, after SIGKILL, across a rebalance.

A simulated mixed stream (calls with holds, transfers, ACW, abandons, agents,
tickets, surveys) is produced with keys that are not the entity ids, then a
watermark past every ACW timeout. The worker runs on the stream-time clock.
The latest KPI row of every key on the KPI topic must equal what one
in-process :class:`Engine` computes for the same window from the same events.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import pytest

from ccpulse.codec import json
from ccpulse.config import Settings
from ccpulse.sources.sink import KafkaSink
from tests.integration.engine_compare import STREAM_CLOCK, produce_in_parts, scenario, wait_for_engine_numbers
from tests.integration.support import Samples, WorkerProcess, produce, sample


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


def test_batched_input_from_our_own_sources_gives_the_same_rows(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    """``input_batch_events``: the sources' framed batches per partition give exactly the engine's numbers."""
    records, engine = scenario(seed=6)
    worker = start_worker(**STREAM_CLOCK)
    worker.wait_ready()
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=topic_names["CCPULSE_APP_ID"],
        input_topic=topic_names["CCPULSE_INPUT_TOPIC"],
        facts_topic=topic_names["CCPULSE_FACTS_TOPIC"],
        dead_letter_topic=topic_names["CCPULSE_DEAD_LETTER_TOPIC"],
        kpi_topic=topic_names["CCPULSE_KPI_TOPIC"],
        input_batch_events=40,
    )

    async def send_all() -> None:
        sink = await KafkaSink(settings).start()
        try:
            for _, value in records:
                assert await sink.send(json.loads(value))
        finally:
            await sink.close()

    asyncio.run(send_all())
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)
    samples = worker.scrape()
    assert samples is not None
    assert sample(samples, "ccpulse_events_consumed_total") == len(records)  # events, not messages
    assert sample(samples, "ccpulse_duplicate_events_total") == 0


@pytest.mark.parametrize(
    ("kill_after_parts", "static_member", "kill_in_recovery"),
    [
        pytest.param(1, False, False, id="early"),
        pytest.param(2, False, False, id="late"),
        pytest.param(2, True, False, id="static-member"),
        pytest.param(2, True, True, id="again-during-recovery"),
    ],
)
def test_sigkill_and_restart_give_the_same_rows(
    kafka_bootstrap: str,
    topic_names: dict[str, str],
    start_worker: Callable[..., WorkerProcess],
    kill_after_parts: int,
    static_member: bool,
    kill_in_recovery: bool,
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

    if kill_in_recovery:
        # The next worker is killed as soon as it has its partitions, while it restores its
        # tables from the changelogs (before it is ready): the one after must still be exact.
        recovering = start_worker(**settings)
        recovering.wait_for_log("Executing _on_partitions_assigned")
        recovering.stop(signal.SIGKILL)
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
    queues = {queue for queue, _ in engine.queues()}
    first.wait_for(lambda s: served_queues(s) == queues)
    second = start_worker(**STREAM_CLOCK)
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], second_part)
    second.wait_ready(timeout_s=90)
    split = wait_for_one_owner_per_queue(first, second, queues)
    print(f"\nqueues of the first worker {sorted(split[0])}, of the second {sorted(split[1])}")
    stopped_at = time.monotonic()
    assert first.stop() == 0
    # The second takes the first's queues over within one scrape interval (15 s in deploy/prometheus).
    second.wait_for(lambda s: served_queues(s) == queues, timeout_s=15)
    print(f"the second worker served every queue {time.monotonic() - stopped_at:.1f} s after the first stopped")
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], third_part)
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)


def served_queues(samples: Samples | None) -> set[str]:
    """The queues a worker exports now (its ``ccpulse_queue_arrivals_total`` series)."""
    return {
        dict(labels)["queue"] for (name, labels), _ in (samples or {}).items() if name == "ccpulse_queue_arrivals_total"
    }


def wait_for_one_owner_per_queue(
    first: WorkerProcess, second: WorkerProcess, queues: set[str], timeout_s: float = 150.0
) -> tuple[set[str], set[str]]:
    """Poll both workers until every queue is served by one of them; no queue is ever served by both.

    The first worker is scraped before and after the second: a queue in all
    three scrapes was served by both at once. The wait is longer than Faust's
    ``broker_request_timeout`` (90 s), the bound on each step of its table
    recovery: a CI run once saw the first worker stay unready for all of 90 s
    after the second joined, its recovery of the new assignment unfinished.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before, during, after = (
            served_queues(first.scrape()),
            served_queues(second.scrape()),
            served_queues(first.scrape()),
        )
        both = before & during & after
        assert not both, f"queues {sorted(both)} served by both workers at once"
        if before == after and before | during == queues and not before & during:
            return before, during
        time.sleep(0.25)
    raise AssertionError(f"the queues never split between the two workers:\n{first.diagnosis()}\n{second.diagnosis()}")
