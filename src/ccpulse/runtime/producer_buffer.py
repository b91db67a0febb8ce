"""A producer buffer whose ``flush`` really waits: the at-least-once guarantee depends on it.

Faust writes every table change to the changelog through ``ProducerBuffer``
(``send_soon``), and flushes the producer before it commits input offsets. Its
``flush`` gives up after 0.1 s without progress, and returns at once when the
queue is empty even though the background sender still holds a record it has
not yet handed to the Kafka client. The offsets are then committed ahead of
the changelog write; a crash (or a rebalance, where the new owner restores the
table before the record lands) loses that state change for good.

``DrainingProducerBuffer`` keeps the sender's order and makes ``flush`` wait
until every record put in the buffer has been acknowledged by the broker. A
record that could not be delivered makes ``flush`` raise, so the offsets are
not committed and the input is processed again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.exceptions import ProducerSendError
from faust.transport.producer import ProducerBuffer
from faust.types import ProducerT
from faust.types.tuples import FutureMessage
from mode import Service

#: How often a waiting flush checks that the sender is still alive.
SENDER_CHECK_INTERVAL_S = 1.0


class DrainingProducerBuffer(ProducerBuffer):
    """Faust's producer buffer with a flush that returns only once the buffer is delivered."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._undelivered: set[asyncio.Future[Any]] = set()
        self._failures: list[BaseException] = []
        self._sender_exited = False

    def track(self, delivery: asyncio.Future[Any]) -> None:
        """A record sent past the buffer (straight to the client) that the next flush must wait for too."""
        self._undelivered.add(delivery)
        delivery.add_done_callback(self._on_settled)

    def put(self, fut: FutureMessage) -> None:
        self._undelivered.add(fut)
        fut.add_done_callback(self._on_settled)
        self.pending.put_nowait(fut)

    def _on_settled(self, fut: asyncio.Future[Any]) -> None:
        self._undelivered.discard(fut)
        if not fut.cancelled() and (exc := fut.exception()) is not None:
            self._failures.append(exc)

    @Service.task
    async def _handle_pending(self) -> None:
        # Unlike Faust's sender this one keeps going while the service stops, until
        # the queue is empty, so records written during shutdown still go out.
        try:
            while not (self.should_stop and self.pending.empty()):
                fut = await self.pending.get()
                try:
                    await self._send_pending(fut)
                except BaseException as exc:
                    if not fut.done():
                        fut.set_exception(exc)
                    raise
                self.message_sent.set()
        finally:
            self._sender_exited = True

    async def flush(self) -> None:
        """Wait until every record buffered so far is acknowledged; raise if any failed.

        Records put while waiting are not waited for, so a busy stream cannot keep a
        commit from ever happening; they belong to offsets not yet acknowledged.
        """
        waiting: set[asyncio.Future[Any]] = set(self._undelivered)
        while waiting:
            if self._sender_exited and not self.pending.empty():
                raise RuntimeError(
                    f"cannot flush {self.pending.qsize()} table changelog records: the producer buffer is not running"
                )
            _, waiting = await asyncio.wait(waiting, timeout=SENDER_CHECK_INTERVAL_S)
        if self._failures:
            failures, self._failures = self._failures, []
            raise ProducerSendError(
                f"{len(failures)} table changelog records were not delivered; first error: {failures[0]!r}"
            )

    async def on_stop(self) -> None:
        await self.flush()


class CcpulseFaustApp(faust.App):
    """``faust.App`` whose producer flushes its buffer completely before offsets are committed."""

    def _new_producer(self) -> ProducerT:
        producer = super()._new_producer()
        if self.conf.producer_threaded:
            raise ValueError("producer_threaded is not supported: its buffer cannot be flushed reliably")
        buffer = DrainingProducerBuffer(loop=producer.loop, beacon=producer.beacon)
        buffer.app = self
        producer.buffer = buffer
        return producer
