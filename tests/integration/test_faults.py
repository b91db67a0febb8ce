"""Faults beyond a worker crash: the broker going away mid-stream, an unreadable changelog record.

After a broker restart the result must equal an uninterrupted run: the latest
KPI row of every key equals what one in-process engine computes from the same
events (see test_topology); that test runs its own broker, since it stops it.
A changelog record the worker cannot read must stop it loudly, never let it
serve state restored without that record.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from tests.integration.conftest import load_kafkactl
from tests.integration.engine_compare import STREAM_CLOCK, scenario, wait_for_engine_numbers
from tests.integration.support import WorkerProcess, produce, sample, unique_names

BROKER_DOWN_S = 8.0


def test_an_unreadable_changelog_record_stops_the_worker_loudly_instead_of_serving_partial_state(
    kafka_bootstrap: str, topic_names: dict[str, str], start_worker: Callable[..., WorkerProcess]
) -> None:
    records, engine = scenario(contacts=40, seed=9)
    worker = start_worker(**STREAM_CLOCK)
    worker.wait_ready()
    produce(kafka_bootstrap, topic_names["CCPULSE_INPUT_TOPIC"], records)
    wait_for_engine_numbers(kafka_bootstrap, topic_names, engine, records)
    assert worker.stop(signal.SIGTERM) == 0, worker.log_tail()

    async def corrupt() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            topic = f"{topic_names['CCPULSE_APP_ID']}-queue-facts-changelog"
            await producer.send_and_wait(topic, key=b'"5:sales|x"', value=b'{"p": 0, "queue": "sa', partition=0)
        finally:
            await producer.stop()

    asyncio.run(corrupt())
    restarted = start_worker(**STREAM_CLOCK)
    assert restarted.process is not None
    deadline = time.monotonic() + 60
    while restarted.process.poll() is None and time.monotonic() < deadline:
        assert (restarted.scrape() or {}).get(("ccpulse_worker_ready", frozenset()), 0.0) == 0.0  # never ready
        time.sleep(0.5)
    assert restarted.process.poll() not in (None, 0), restarted.log_tail()
    assert "could not be read while restoring state" in restarted.log_path.read_text()


def test_a_broker_restart_mid_stream_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    broker = load_kafkactl().LocalKafka(run_dir=tmp_path / "kafka", port=0)
    broker.start(fresh=True)
    names = unique_names()
    worker = WorkerProcess(
        bootstrap=broker.bootstrap, names=names, data_dir=tmp_path / "worker", extra_env=STREAM_CLOCK
    )
    try:
        records, engine = scenario(seed=7)
        half = len(records) // 2
        worker.start()
        worker.wait_ready()
        produce(broker.bootstrap, names["CCPULSE_INPUT_TOPIC"], records[:half])
        worker.wait_for(lambda s: (sample(s, "ccpulse_events_consumed_total") or 0) > 50)

        broker.stop()  # mid-stream: some of the first half processed, some not yet
        time.sleep(BROKER_DOWN_S)
        assert worker.process is not None
        assert worker.process.poll() is None, f"the worker exited while the broker was down:\n{worker.log_tail()}"
        broker.start()  # same data, same port
        restarted_at = time.monotonic()

        produce(broker.bootstrap, names["CCPULSE_INPUT_TOPIC"], records[half:])
        wait_for_engine_numbers(broker.bootstrap, names, engine, records, timeout_s=180)
        back_s = time.monotonic() - restarted_at
        print(f"\nbroker down {BROKER_DOWN_S:.0f} s: the engine's numbers again {back_s:.1f} s after its restart")
        assert worker.process.poll() is None, worker.log_tail()
        worker.wait_for(lambda s: sum(v for (name, _), v in s.items() if name == "ccpulse_consumer_lag_messages") == 0)
    finally:
        if worker.process is not None:
            worker.stop(signal.SIGTERM)
        broker.stop()
