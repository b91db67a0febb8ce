"""Records sent straight to the Kafka client under Faust, with Faust's commit still waiting for them.

A ``Topic.send`` or a table write in Faust builds a channel message, a
``FutureMessage``, callbacks and sensor calls around each record, and table
writes queue through the producer buffer's single sender task; per record
that costs several times what the Kafka client itself needs. The worker
writes a few records per event (table rows, facts), so it hands them to the
client directly:

- :meth:`DirectOutput.send` puts a record in the client's accumulator;
- :meth:`DirectOutput.put_row` / :meth:`DirectOutput.delete_row` change a
  table's in-memory store and send the changelog record to the partition
  named (serialized as Faust serializes its own, so recovery reads it back).

At-least-once is kept: each delivery future is registered with the app's
:class:`~ccpulse.runtime.producer_buffer.DrainingProducerBuffer`, whose flush
(run by Faust before every offset commit) waits for it and raises if it
failed, so no offset is committed ahead of a record it produced.

Only for in-memory tables (the worker's ``memory://`` store): a persistent
store would also need the changelog offset Faust records per write.
"""

from __future__ import annotations

from typing import Any

from ccpulse.runtime.producer_buffer import DrainingProducerBuffer


class DirectOutput:
    """Sends records through the app's producer and tracks them until Faust's commit-time flush."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._checked_buffer: DrainingProducerBuffer | None = None

    @property
    def _buffer(self) -> DrainingProducerBuffer:
        """The app's draining buffer, checked once (the producer exists only once the app runs)."""
        if self._checked_buffer is None:
            buffer = self._app.producer.buffer
            if not isinstance(buffer, DrainingProducerBuffer):
                raise TypeError("direct output needs the app's DrainingProducerBuffer (see CcpulseFaustApp)")
            self._checked_buffer = buffer
        return self._checked_buffer

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Queue one record; Faust's next commit waits for its acknowledgement."""
        delivery = await self._app.producer.send(topic, key, value, partition, None, headers)
        self._buffer.track(delivery)

    async def put_row(self, table: Any, partition: int, key: str, value: Any) -> None:
        """``table[key] = value``, its changelog record going to ``partition``."""
        table.data[key] = value
        await self._send_changelog(table, partition, key, value)

    async def delete_row(self, table: Any, partition: int, key: str) -> None:
        """Delete ``key`` from ``table`` (a tombstone in ``partition`` of its changelog), if present."""
        if key not in table.data:
            return
        del table.data[key]
        await self._send_changelog(table, partition, key, None)

    async def _send_changelog(self, table: Any, partition: int, key: str, value: Any) -> None:
        serializers = self._app.serializers
        raw_key = serializers.dumps_key(None, key, serializer=table.key_serializer)
        raw_value = None if value is None else serializers.dumps_value(None, value, serializer=table.value_serializer)
        await self.send(table.changelog_topic.get_topic_name(), raw_key, raw_value, partition=partition)
