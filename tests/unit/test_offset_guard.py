"""The worker's guard against offsets the Kafka consumer never delivered: rewind, skip until they come again."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from ccpulse.config import Settings
from ccpulse.runtime.app import RESEEK_AFTER_S, CcpulseApp
from ccpulse.telemetry.metrics import SelfMetrics


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass
class Consumer:
    seeks: list[tuple[Any, int]] = field(default_factory=list)

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        self.seeks.extend(partitions.items())


def pipeline(consumer: Consumer) -> CcpulseApp:
    unused: Any = None
    return CcpulseApp(
        app=SimpleNamespace(consumer=consumer, should_stop=False),  # type: ignore[arg-type]
        settings=Settings(),
        registry=CollectorRegistry(),
        metrics=SelfMetrics(CollectorRegistry()),
        input_topic=unused,
        entity_topic=unused,
        queue_topic=unused,
        facts_topic=unused,
        dead_letter_topic=unused,
        kpi_topic=unused,
        entities=unused,
        queue_rows=unused,
        view_config=unused,
        rules=unused,
    )


def deliver(app: CcpulseApp, offsets: list[int], partition: int = 0) -> list[int]:
    """Offsets the agent would process, in order."""

    async def run() -> list[int]:
        return [o for o in offsets if not await app._rewound_past_a_skip(Message("in", partition, o))]

    return asyncio.run(run())


def test_contiguous_offsets_pass_and_a_rewind_by_the_consumer_itself_is_accepted() -> None:
    consumer = Consumer()
    app = pipeline(consumer)
    assert deliver(app, [5, 6, 7, 3, 4, 5]) == [5, 6, 7, 3, 4, 5]  # Faust seeking back after a rebalance
    assert consumer.seeks == []


def test_a_hole_rewinds_once_and_drops_what_arrives_until_the_missing_offset_is_back() -> None:
    consumer = Consumer()
    app = pipeline(consumer)
    # 12..14 never delivered; 15 and 16 were already buffered; after the seek 12.. come again.
    processed = deliver(app, [10, 11, 15, 16, 12, 13, 14, 15, 16])

    assert processed == [10, 11, 12, 13, 14, 15, 16]
    assert consumer.seeks == [(("in", 0), 12)]
    assert app.metrics.input_offsets_skipped._value.get() == 3


def test_partitions_are_guarded_separately_and_forgotten_after_a_rebalance() -> None:
    consumer = Consumer()
    app = pipeline(consumer)
    assert deliver(app, [1, 2], partition=0) == [1, 2]
    assert deliver(app, [40], partition=1) == [40]
    asyncio.run(app.forget_offsets(None, set()))
    assert deliver(app, [90], partition=0) == [90]  # resumed at another worker's commit: no rewind
    assert consumer.seeks == []


def test_a_hole_with_no_records_in_it_is_accepted_when_two_seeks_land_past_it() -> None:
    # Offsets 21..22 are transaction markers: after each seek the consumer delivers 23 again.
    consumer = Consumer()
    app = pipeline(consumer)
    processed = deliver(app, [19, 20, 23, 24, 23, 24, 23, 24, 25])

    assert processed == [19, 20, 23, 24, 25]
    assert consumer.seeks == [(("in", 0), 21), (("in", 0), 21)]


def test_a_redelivery_that_is_dropped_in_part_is_sought_again() -> None:
    # 12..14 missing; after the seek Faust drops 12 and 13 again (flow suspended) and delivers 14:
    # that is not an empty hole, and the second seek brings 12 back.
    consumer = Consumer()
    app = pipeline(consumer)
    processed = deliver(app, [10, 11, 15, 14, 15, 12, 13, 14, 15])

    assert processed == [10, 11, 12, 13, 14, 15]
    assert consumer.seeks == [(("in", 0), 12), (("in", 0), 12)]


def test_a_rewind_whose_redelivery_never_comes_is_sought_again_by_the_timer(monkeypatch: Any) -> None:
    consumer = Consumer()
    app = pipeline(consumer)
    deliver(app, [1, 2, 6])  # 3..5 missing; sought once
    clock = [time.monotonic() + RESEEK_AFTER_S + 1]
    monkeypatch.setattr("ccpulse.runtime.app.time.monotonic", lambda: clock[0])

    asyncio.run(app.retry_stalled_rewinds())
    asyncio.run(app.retry_stalled_rewinds())  # too soon after the second seek: nothing

    assert consumer.seeks == [(("in", 0), 3), (("in", 0), 3)]
    assert deliver(app, [3, 4, 5, 6]) == [3, 4, 5, 6]
