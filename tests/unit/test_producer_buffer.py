"""The producer buffer's flush must cover every table write made before it, or offsets outrun state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from faust.exceptions import ProducerSendError
from faust.transport.producer import ProducerBuffer
from faust.types.tuples import FutureMessage

from ccpulse.runtime.producer_buffer import DrainingProducerBuffer


@dataclass
class SlowChannel:
    """Stands in for a topic: hands a record to the 'client' after ``send_s``, acknowledges after ``ack_s``."""

    send_s: float = 0.0
    ack_s: float = 0.0
    fail: bool = False
    sent: list[int] = field(default_factory=list)

    async def publish_message(self, fut: FutureMessage, wait: bool = False) -> asyncio.Future[Any]:
        await asyncio.sleep(self.send_s)
        self.sent.append(fut.message.value)
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def acknowledge() -> None:
            if self.fail:
                delivery.set_exception(OSError("broker unreachable"))
                fut.set_exception(OSError("broker unreachable"))
            else:
                delivery.set_result(fut.message.value)
                fut.set_result(fut.message.value)

        asyncio.get_running_loop().call_later(self.ack_s, acknowledge)
        return delivery


@dataclass
class Record:
    channel: SlowChannel
    value: int


def record(channel: SlowChannel, value: int) -> FutureMessage:
    return FutureMessage(Record(channel, value))  # type: ignore[arg-type]


async def started(buffer_class: type[ProducerBuffer]) -> ProducerBuffer:
    buffer = buffer_class()
    # Faust's buffer reads one setting from its app.
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    return buffer


def test_flush_waits_for_a_record_the_client_has_not_accepted_yet() -> None:
    async def scenario() -> tuple[bool, bool]:
        channel = SlowChannel(send_s=0.3, ack_s=0.05)
        results = []
        for buffer_class in (ProducerBuffer, DrainingProducerBuffer):
            buffer = await started(buffer_class)
            fut = record(channel, 1)
            buffer.put(fut)
            await asyncio.sleep(0)  # the sender takes the record off the queue
            await buffer.flush()
            results.append(fut.done())
            await buffer.stop()
        return results[0], results[1]

    faust_flushed, draining_flushed = asyncio.run(scenario())
    # Faust's own buffer returns with the record still unsent: the gap this class closes.
    assert not faust_flushed
    assert draining_flushed


def test_flush_waits_for_every_queued_record_in_order() -> None:
    async def scenario() -> tuple[list[int], bool]:
        channel = SlowChannel(send_s=0.05, ack_s=0.02)
        buffer = await started(DrainingProducerBuffer)
        futs = [record(channel, value) for value in range(6)]
        for fut in futs:
            buffer.put(fut)
        await buffer.flush()
        everything_acknowledged = all(fut.done() and fut.result() == index for index, fut in enumerate(futs))
        await buffer.stop()
        return channel.sent, everything_acknowledged

    sent, acknowledged = asyncio.run(scenario())
    assert sent == [0, 1, 2, 3, 4, 5]
    assert acknowledged


def test_records_put_during_a_flush_are_not_waited_for() -> None:
    async def scenario() -> tuple[bool, bool]:
        channel = SlowChannel(send_s=0.1, ack_s=0.0)
        buffer = await started(DrainingProducerBuffer)
        first = record(channel, 1)
        buffer.put(first)
        flush = asyncio.ensure_future(buffer.flush())
        await asyncio.sleep(0.01)
        later = record(channel, 2)
        buffer.put(later)
        await flush
        state = (first.done(), later.done())
        await buffer.flush()
        await buffer.stop()
        return state

    first_done, later_done = asyncio.run(scenario())
    assert first_done
    assert not later_done


def test_a_record_the_broker_refused_makes_flush_raise() -> None:
    async def scenario() -> None:
        buffer = await started(DrainingProducerBuffer)
        buffer.put(record(SlowChannel(fail=True), 1))
        try:
            await buffer.flush()
        finally:
            await buffer.stop()

    with pytest.raises(ProducerSendError, match="1 table changelog records were not delivered"):
        asyncio.run(scenario())


def test_stopping_sends_what_is_still_queued() -> None:
    async def scenario() -> list[bool]:
        channel = SlowChannel(send_s=0.02)
        buffer = await started(DrainingProducerBuffer)
        futs = [record(channel, value) for value in range(4)]
        for fut in futs:
            buffer.put(fut)
        await buffer.stop()
        return [fut.done() for fut in futs]

    assert asyncio.run(scenario()) == [True, True, True, True]
