"""The entity stage's clock broadcast never loses a clock that moved while it was sending."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ccpulse.runtime.app import CcpulseApp
from tests.unit.test_offset_guard import Consumer, pipeline


@dataclass
class QueueTopic:
    """Records sends; during the first one, the entity stage moves partition 1's clock (as a real await allows)."""

    app: CcpulseApp | None = None
    sent: list[tuple[bytes, int]] = field(default_factory=list)

    async def send(self, key: bytes, value: bytes, partition: int) -> None:
        if not self.sent and self.app is not None:
            self.app.entity_stream_ms[1] = 2_000
            self.app.clocks_to_send.add(1)
        self.sent.append((value, partition))
        await asyncio.sleep(0)


def test_a_clock_that_moves_during_a_broadcast_is_sent_by_the_next_one() -> None:
    app = pipeline(Consumer())
    topic = QueueTopic(app)
    app.queue_topic = topic
    app.entity_stream_ms[0] = 1_000
    app.clocks_to_send.add(0)

    asyncio.run(app.send_clocks())
    assert app.clocks_to_send == {1}  # moved mid-broadcast: still due

    asyncio.run(app.send_clocks())
    sent: Any = [value for value, _ in topic.sent]
    assert any(b"2000" in value for value in sent)
    assert app.clocks_to_send == set()
