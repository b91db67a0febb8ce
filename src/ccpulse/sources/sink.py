"""Where every source's events go: the input topic, an NDJSON file, or nowhere (``--dry-run``).

All sources (simulator, replay, Asterisk queue_log, CSV call records) hand
their canonical events, as JSON-ready dicts, to an :class:`EventSink`. Each
event is validated with the worker's own decoder before it leaves, so a
mapping mistake is reported here, with the source's position, rather than
turning up later in the dead-letter topic. Invalid events are counted and
never produced. Kafka records are keyed by entity (contact, agent, ticket), so
one entity's events keep their order on one partition; with
``input_batch_events`` set, each partition's events travel together in framed
batches (:class:`PartitionBatches`), in the same order on the same partition.

Progress goes to stderr: a one-line bar that redraws on a terminal, a line
every few seconds otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from ccpulse.codec import json
from ccpulse.codec.batches import encode_batches, partition_for_key
from ccpulse.codec.events import InvalidEvent, decode_event
from ccpulse.config import Settings
from ccpulse.domain.entities import entity_key

#: With input_batch_events set: the longest an event waits in a batch that is not full.
BATCH_LINGER_S = 0.05
#: Batches on the input topic stay well under the broker's default 1 MB message limit.
INPUT_BATCH_MAX_BYTES = 512 * 1024
BATCH_KEY = b"~batch"  # a batch goes to an explicit partition; the key only names it
PROGRESS_EVERY_S = 5.0
BAR_EVERY_S = 0.25
BAR_WIDTH = 30
#: Invalid events listed in full in the summary; the rest are only counted.
SHOWN_PROBLEMS = 20


@dataclass
class SinkReport:
    """What a run sent (or, for a dry run, would have sent)."""

    destination: str
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        types = ", ".join(f"{name} {count}" for name, count in sorted(self.by_type.items()))
        lines = [
            f"{self.events} events to {self.destination} in {self.elapsed_s:.1f} s "
            f"({self.events_per_s:,.0f} events/s)" + (f": {types}" if types else "")
        ]
        if self.invalid:
            lines.append(f"{self.invalid} invalid events not sent:")
            lines += [f"  {problem}" for problem in self.problems]
            if self.invalid > len(self.problems):
                lines.append(f"  ... and {self.invalid - len(self.problems)} more")
        return "\n".join(lines)


class Progress:
    """Progress of a long run on stderr; ``total`` (if known) gives a percentage and a bar."""

    def __init__(self, label: str, total: int | None = None, stream: IO[str] | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._last = self._started

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= (BAR_EVERY_S if self._tty else PROGRESS_EVERY_S):
            self._last = now
            self._show(now)

    def _show(self, now: float, end: str = "") -> None:
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * int(share * BAR_WIDTH)
            text = f"{self.label}: [{bar:<{BAR_WIDTH}}] {share:6.1%} {self.done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"{self.label}: {self.done:,} ({rate:,.0f}/s, {elapsed:.0f} s)"
        if self._tty:
            self._stream.write("\r" + text + end)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def finish(self) -> None:
        if self._tty:
            self._show(time.monotonic(), end="\n")


class EventSink(Protocol):
    report: SinkReport

    async def send(self, event: dict[str, Any], origin: str = "") -> bool:
        """Validate and send one event; False (and counted) if it is invalid. ``origin`` names its source line."""
        ...

    async def close(self) -> None: ...


class _ValidatingSink:
    """Validation and counting shared by every sink; subclasses deliver the encoded event."""

    def __init__(self, destination: str) -> None:
        self.report = SinkReport(destination)
        self._started = time.monotonic()

    async def send(self, event: dict[str, Any], origin: str = "") -> bool:
        value = json.dumps(event)
        try:
            decoded = decode_event(value)
        except InvalidEvent as error:
            self.report.invalid += 1
            if len(self.report.problems) < SHOWN_PROBLEMS:
                where = f"{origin}: " if origin else ""
                self.report.problems.append(f"{where}{error} (event_id {event.get('event_id')!r})")
            return False
        key = entity_key(decoded)
        await self._deliver(None if key is None else key.encode(), value)
        self.report.events += 1
        self.report.by_type[str(event.get("type"))] += 1
        return True

    async def _deliver(self, key: bytes | None, value: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        self.report.elapsed_s = time.monotonic() - self._started


class DryRunSink(_ValidatingSink):
    """Validates and counts; sends nothing."""

    def __init__(self) -> None:
        super().__init__("nowhere (dry run)")

    async def _deliver(self, key: bytes | None, value: bytes) -> None:
        return None


class FileSink(_ValidatingSink):
    """NDJSON, one event per line; ``-`` is stdout."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self._stream: IO[bytes] = sys.stdout.buffer if str(path) == "-" else path.open("wb")

    async def _deliver(self, key: bytes | None, value: bytes) -> None:
        self._stream.write(value + b"\n")

    async def close(self) -> None:
        self._stream.flush()
        if self._stream is not sys.stdout.buffer:
            self._stream.close()
        await super().close()


class PartitionBatches:
    """Events waiting to leave as framed batches (:mod:`ccpulse.codec.batches`), one list per partition.

    An entity's events go to the partition a keyed send would give them, in
    order, so batching keeps every order the worker relies on.
    """

    def __init__(self, partitions: int, max_events: int) -> None:
        self.partitions = partitions
        self.max_events = max_events
        self._waiting: dict[int, list[bytes]] = {}

    def add(self, key: bytes, value: bytes) -> tuple[int, list[bytes]] | None:
        """Queue one event; its partition's events once there are ``max_events`` of them."""
        partition = partition_for_key(key, self.partitions)
        waiting = self._waiting.setdefault(partition, [])
        waiting.append(value)
        if len(waiting) < self.max_events:
            return None
        del self._waiting[partition]
        return partition, waiting

    def take_all(self) -> list[tuple[int, list[bytes]]]:
        """Every partition's waiting events (for a flush), emptying the queue."""
        taken, self._waiting = sorted(self._waiting.items()), {}
        return taken

    def route(self, key: bytes | None, value: bytes) -> list[tuple[int | None, bytes]]:
        """The messages to send, (partition, value), now that one more event came.

        An event without an entity (a watermark) first flushes every batch and
        then travels alone (partition None), so it never overtakes the events before it.
        """
        if key is None:
            return [*self.flush(), (None, value)]
        full = self.add(key, value)
        return [] if full is None else _framed(*full)

    def flush(self) -> list[tuple[int | None, bytes]]:
        """Every waiting event, as framed batches per partition."""
        return [message for partition, values in self.take_all() for message in _framed(partition, values)]


def _framed(partition: int, values: list[bytes]) -> list[tuple[int | None, bytes]]:
    return [(partition, batch) for batch in encode_batches(values, INPUT_BATCH_MAX_BYTES)]


class KafkaSink(_ValidatingSink):
    """The input topic, through an idempotent producer; topics are created first if missing.

    With ``input_batch_events`` set, events travel in framed batches per
    partition (:meth:`PartitionBatches.route`), sent when full and at least
    every ``BATCH_LINGER_S``.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(f"topic {settings.input_topic}")
        self._settings = settings
        self._producer: Any = None
        self._batches: PartitionBatches | None = None
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> KafkaSink:
        from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - files and dry runs need no Kafka client

        from ccpulse.runtime.kafka_security import KafkaSecurity  # noqa: PLC0415
        from ccpulse.runtime.topics import ensure_topics  # noqa: PLC0415

        await ensure_topics(self._settings)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            enable_idempotence=True,
            linger_ms=5,
            **KafkaSecurity(self._settings).client_options(),
        )
        await self._producer.start()
        if self._settings.input_batch_events > 0:
            partitions = len(await self._producer.partitions_for(self._settings.input_topic))
            self._batches = PartitionBatches(partitions, self._settings.input_batch_events)
            self._flusher = asyncio.create_task(self._flush_now_and_then())
        return self

    async def _deliver(self, key: bytes | None, value: bytes) -> None:
        if self._batches is None:
            await self._producer.send(self._settings.input_topic, key=key, value=value)
            return
        async with self._lock:
            await self._send(self._batches.route(key, value))

    async def _send(self, messages: list[tuple[int | None, bytes]]) -> None:
        for partition, value in messages:
            key = None if partition is None else BATCH_KEY
            await self._producer.send(self._settings.input_topic, key=key, value=value, partition=partition)

    async def _flush(self) -> None:
        assert self._batches is not None
        await self._send(self._batches.flush())

    async def _flush_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(BATCH_LINGER_S)
            async with self._lock:
                await self._flush()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._producer is not None:
            try:
                if self._batches is not None:
                    await self._flush()
                await self._producer.flush()
            finally:
                await self._producer.stop()
        await super().close()


async def open_sink(settings: Settings, output: Path | None, *, dry_run: bool = False) -> EventSink:
    """The sink a command's ``--output`` / ``--dry-run`` options choose (default: the input topic)."""
    if dry_run:
        return DryRunSink()
    if output is not None:
        return FileSink(output)
    return await KafkaSink(settings).start()


def count_lines(path: Path) -> int:
    """Lines in a file (for a progress total), read in binary without decoding."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


async def paced(
    events: Iterable[tuple[int, dict[str, Any]]] | AsyncIterable[tuple[int, dict[str, Any]]], speed: float | None
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Yield ``(ts_ms, event)`` pairs, each when its event time comes, ``speed`` times faster (None: no pacing).

    The first event leaves at once; later ones keep their event-time distance, divided by ``speed``.
    """
    first_ms: int | None = None
    wall_start = time.monotonic()
    source: AsyncIterator[tuple[int, dict[str, Any]]] = (
        events.__aiter__() if isinstance(events, AsyncIterable) else _aiter(events)
    )
    async for ts_ms, event in source:
        if speed is not None:
            if first_ms is None:
                first_ms = ts_ms
            delay = wall_start + (ts_ms - first_ms) / 1000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield ts_ms, event


async def _aiter(items: Iterable[tuple[int, dict[str, Any]]]) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    for item in items:
        yield item
