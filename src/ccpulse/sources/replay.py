"""Replay an NDJSON file of canonical events onto the input topic, in file order.

Each line is one event as the contract writes it (what ``ccpulse simulate
--output`` and the importers' ``--output`` produce). Lines go out in file order;
with ``speed`` they are paced by event time (the first leaves at once, later
ones keep their event-time distance divided by ``speed``), without it as fast
as the broker takes them. With the worker on the stream-time clock, a replay
computes historical KPIs exactly as a live run would have; to re-compute after
a change of definitions, replay into a new ``app_id``.

A line that is not a JSON object, or not a valid event, is reported with its
line number and not sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccpulse.codec import json
from ccpulse.codec.events import InvalidEvent, decode_event
from ccpulse.sources.sink import EventSink, Progress, paced


@dataclass
class ReplayStats:
    lines: int = 0
    problems: list[str] = field(default_factory=list)


async def _events(path: Path, stats: ReplayStats) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            stats.lines += 1
            try:
                ts_ms = decode_event(raw).ts_ms
            except InvalidEvent as error:
                stats.problems.append(f"{path}:{line_no}: {error}")
                continue
            yield ts_ms, {"line": line_no, "event": json.loads(raw)}


async def replay_file(
    path: Path, sink: EventSink, *, speed: float | None = None, progress: Progress | None = None
) -> ReplayStats:
    """Send every event of ``path`` to ``sink`` in file order, paced by event time when ``speed`` is given."""
    stats = ReplayStats()
    async for _, numbered in paced(_events(path, stats), speed):
        await sink.send(numbered["event"], origin=f"{path}:{numbered['line']}")
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.finish()
    return stats
