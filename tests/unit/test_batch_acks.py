"""A batch's messages are acked only when the agent body has handled the whole batch.

Faust's ``Stream.take_events`` acks each list of events in a ``finally``, so
also when the agent is stopped halfway through the list; the commit after it
would then skip messages nobody processed. ``_take`` holds one more reference
per message until the body asks for the next list. The stand-in stream below
acks exactly as ``take_events`` does (``Message.ack`` in a ``finally``), with
Faust's own message objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faust.types.tuples import Message

from ccpulse.config import Settings
from ccpulse.runtime.app import _take


class _Event:
    def __init__(self, message: Message) -> None:
        self.message = message


class _TakeEventsStream:
    """Yields its messages in lists of two and acks each list in a ``finally``, like Faust's take_events."""

    def __init__(self, count: int) -> None:
        self.messages = [Message("in", 0, offset, 0.0, 0, None, None, b"{}", None) for offset in range(count)]
        for message in self.messages:
            message.incref()  # the one reference a stream holds on a message it was given

    async def take_events(self, max_: int, within: float) -> AsyncIterator[list[_Event]]:
        for start in range(0, len(self.messages), 2):
            events = [_Event(message) for message in self.messages[start : start + 2]]
            try:
                yield events
            finally:
                for event in events:
                    event.message.ack(consumer=None)  # type: ignore[arg-type]


async def _consume(stream: Any, stop_inside_list: int | None) -> None:
    handled = 0
    async for events in _take(stream, Settings()):
        for _ in events:
            if handled == stop_inside_list:
                raise asyncio.CancelledError  # the worker is stopped in the middle of this list
            handled += 1


def test_every_message_of_a_handled_list_is_acked() -> None:
    stream = _TakeEventsStream(6)
    asyncio.run(_consume(stream, None))
    assert [message.acked for message in stream.messages] == [True] * 6


def test_a_list_interrupted_halfway_leaves_all_its_messages_unacked() -> None:
    stream = _TakeEventsStream(6)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_consume(stream, stop_inside_list=3))  # in the second list, after its first message
    assert [message.acked for message in stream.messages] == [True, True, False, False, False, False]
