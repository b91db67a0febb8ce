"""A KPI publish run that is still sending when the worker stops ends at the next row.

Faust stops its producer before it cancels the app's timers, so a publish run
(seconds long with thousands of queues) can outlive the producer; a send then
raises ``NotReady`` and the worker exits with a crash instead of cleanly. The
run checks the app's stop flag before every row. Built on the real app wiring
(``create_app``, no broker needed: nothing connects until the worker starts),
a real fact store and the real publisher; only the partition ownership and the
producer are stood in for.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ccpulse.config import Settings
from ccpulse.domain.entities import Upsert
from ccpulse.domain.events import Channel
from ccpulse.domain.fact_store import FactStore
from ccpulse.domain.facts import QueueArrivalFact
from ccpulse.domain.windows import MINUTE_MS
from ccpulse.runtime.app import CcpulseApp, _PartitionState, create_app

T0 = 1_790_035_200_000  # 2026-09-22T00:00:00Z


class _RecordingOutput:
    """Stands in for the producer; asks the app to stop after ``stop_after`` records, as SIGTERM would."""

    def __init__(self, pipeline: CcpulseApp, stop_after: int | None) -> None:
        self.pipeline = pipeline
        self.stop_after = stop_after
        self.keys: list[bytes | None] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.keys.append(key)
        if len(self.keys) == self.stop_after:
            self.pipeline.app._stopped.set()  # what mode's Service.stop() sets first


def _publish_once(tmp_path: Path, stop_after: int | None) -> list[bytes | None]:
    pipeline = create_app(Settings(data_dir=tmp_path))
    state = _PartitionState(FactStore(pipeline.view_config, pipeline.view_stats))
    for i, queue in enumerate(["billing", "sales", "support"]):
        arrival = QueueArrivalFact(f"c{i}", queue, Channel.VOICE, T0 + i * MINUTE_MS)
        state.store.apply(Upsert(queue, f"arrival:c{i}", f"contact:c{i}", arrival))
    now_ms = T0 + 10 * MINUTE_MS
    state.store.view.advance_to(now_ms)
    pipeline.partitions[0] = state
    output = _RecordingOutput(pipeline, stop_after)
    pipeline.output = output  # type: ignore[assignment]
    pipeline.is_ready = lambda: True  # type: ignore[method-assign]
    pipeline._owned_states = lambda: [(0, state, now_ms)]  # type: ignore[method-assign]
    asyncio.run(pipeline.publish_kpis())
    return output.keys


def test_a_run_publishes_every_queue_while_the_worker_runs(tmp_path: Path) -> None:
    keys = _publish_once(tmp_path, stop_after=None)
    queues = {key.split(b"|")[0] for key in keys if key is not None}
    assert {b"billing", b"sales", b"support"} <= queues
    assert len(keys) > 3


def test_a_run_sends_nothing_more_once_the_worker_is_stopping(tmp_path: Path) -> None:
    assert len(_publish_once(tmp_path, stop_after=2)) == 2
