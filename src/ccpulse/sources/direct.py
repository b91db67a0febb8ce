"""``ccpulse replay FILE --direct``: the KPI topic a replay would leave, computed in process without Kafka.

For backfills and for re-computing history after a change of definitions. The
file's events (one canonical event per line, as for a replay onto the input
topic) are decoded with the worker's decoder and applied in file order to one
pure :class:`~ccpulse.domain.engine.Engine`, configured from the settings as the
worker configures its stages (:func:`engine_config`). The worker's own
:class:`~ccpulse.runtime.kpi_publisher.KpiPublisher` runs on the engine's view
on the stream-time clock, and only the latest row per key is kept, as the
compacted KPI topic keeps it. The result is, key for key, the KPI topic a
worker with ``clock = "stream"`` leaves once it has consumed the same file:
the same keys (``queue|channel|window|window_start``), the same ``kpis``,
``totals``, ``now`` and ``final`` flags.

What a direct run fixes that a worker leaves to timing:

- ``as_of`` is the stream time at the end of the file (its largest event
  time) on every row. A worker writes the clock of the publication that last
  changed the row, which depends on how fast it read. No other field differs.
- The end of the file is taken as stream time having reached the file's
  largest event time everywhere. A worker gets there on every partition when
  the stream ends with a ``stream.watermark`` at or after that time (as SPEC
  section 2 asks of replays); without one, each of its partitions stops at
  its own last event, and the windows at the end stay as of the slowest
  partition. The report says when the file does not end that way.
- The publisher runs before every event that takes stream time past the end
  of an interval or a day (of any queue), and once at the end: as a worker
  that publishes at least once per interval of stream time (a live or a paced
  run). A worker racing through a backlog publishes less often, and the only
  rows that can differ then are empty rows of a queue x channel with no data
  in that window: an interval before its first publication in which the queue
  had no data (missing), or a channel's rows for intervals before the channel
  first appeared (extra).
- Future events are judged against the wall clock read once at the start
  (the worker reads it per event); late ones against the engine's stream time
  over the whole file (the worker's is per input partition). The two agree on
  a file in event-time order.

One difference is the engine's own, not timing: a survey of a handling
segment that has ended but not completed (its ACW still open) when the file
ends is counted by the worker at once (its entity stage attributes the survey
to the segment's eventual fact), by the engine only once the segment
completes (it attributes to completed segments). A file whose final watermark
lies past the ACW timeout of its last segments has no such survey.

Output: NDJSON, one line per key, sorted by key:
``{"key": "sales|voice|interval_15m|2026-09-22T08:15:00.000Z", "value": {KPI row}}``,
the value as ``schemas/kpi-row.schema.json`` describes it.

Invalid lines are reported with their line numbers and not applied; late and
future events (the worker would dead-letter them) are counted with their line
numbers; duplicates are counted and change nothing.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from ccpulse.codec import json
from ccpulse.codec.events import InvalidEvent, decode_event
from ccpulse.codec.outputs import iso_ms
from ccpulse.config import Settings
from ccpulse.domain.engine import Engine, EngineConfig, Verdict
from ccpulse.domain.events import CanonicalEvent, WatermarkEvent
from ccpulse.domain.queue_view import QueueView
from ccpulse.domain.windows import HOUR_MS, SECOND_MS, WindowKind
from ccpulse.runtime.kpi_publisher import KpiPublisher
from ccpulse.sources.sink import SHOWN_PROBLEMS, Progress

# Windows whose end is a publication (the publisher's final rows); rolling windows only move on.
_CLOSING_KINDS = frozenset({WindowKind.INTERVAL, WindowKind.TODAY})
#: Lines between two progress updates: a clock read per line would cost more than the update.
PROGRESS_EVERY_LINES = 1024
END_EVENT_ID = "ccpulse-replay-direct-end"


def engine_config(settings: Settings) -> EngineConfig:
    """The engine configured as ``runtime.app.create_app`` configures the worker's stages.

    The worker's queue stage gets the queue configs and the retention (windows,
    queue age and staffing window at their defaults, as here); its entity stage
    the queues' ACW timeouts and the customer hash key; its ingest the future skew.
    """
    return EngineConfig(
        queues=settings.queue_configs(),
        retention_ms=settings.retention_hours * HOUR_MS,
        max_future_skew_ms=settings.max_future_skew_s * SECOND_MS,
        customer_hash_key=settings.customer_hash_key.encode(),
    )


def direct_engine(config: EngineConfig) -> Engine:
    """An engine whose view reports the buckets that changed, as the worker's queue-stage view does.

    The publisher republishes a closed window only when it learns that its
    buckets changed (a late event, an ACW timeout firing after its interval
    closed), and recomputes only the queues that changed.
    """
    return Engine(replace(config, track_changes=True))


@dataclass
class DirectReport:
    """What a direct run read, applied, rejected and wrote."""

    source: str
    destination: str = ""
    lines: int = 0  # non-blank lines
    problems: list[str] = field(default_factory=list)  # invalid lines, "path:line: reason: detail"
    verdicts: Counter[str] = field(default_factory=Counter)  # by Verdict
    rejected: list[str] = field(default_factory=list)  # late and future lines (the first SHOWN_PROBLEMS)
    rows: int = 0
    end_ms: int | None = None  # stream time at the end: every row's as_of
    ends_with_watermark: bool = False
    elapsed_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.lines / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        v = self.verdicts
        lines = [
            f"direct replay of {self.source}: {self.lines} events read in {self.elapsed_s:.1f} s "
            f"({self.events_per_s:,.0f} events/s): {v[Verdict.ACCEPTED]} applied, {v[Verdict.DUPLICATE]} duplicates, "
            f"{v[Verdict.LATE]} late, {v[Verdict.FUTURE]} future, {len(self.problems)} invalid"
        ]
        as_of = "" if self.end_ms is None else f", as of {iso_ms(self.end_ms)} (the stream time at the end)"
        lines.append(f"{self.rows} KPI rows to {self.destination}{as_of}")
        late_or_future = v[Verdict.LATE] + v[Verdict.FUTURE]
        if late_or_future:
            lines.append(f"{late_or_future} events not counted (the worker dead-letters them):")
            lines += [f"  {rejection}" for rejection in self.rejected]
            if late_or_future > len(self.rejected):
                lines.append(f"  ... and {late_or_future - len(self.rejected)} more")
        if self.end_ms is not None and not self.ends_with_watermark:
            lines.append(
                f"note: {self.source} does not end with a stream.watermark at its last event time; the rows are "
                f"as of {iso_ms(self.end_ms)} on every partition, which a worker reaches only after one"
            )
        if self.problems:
            lines.append(f"{len(self.problems)} invalid lines not applied:")
        return "\n".join(lines)


@dataclass
class DirectRows:
    """The latest KPI row per key (value bytes as the publisher made them), and the report of the run."""

    rows: dict[bytes, bytes]
    report: DirectReport


class _Publication:
    """The worker's publication of KPI rows, on the engine's view, at the closing of each window."""

    def __init__(self, view: QueueView) -> None:
        self.view = view
        self.publisher = KpiPublisher()
        self.latest: dict[bytes, bytes] = {}
        self.next_run_ms = -(2**62)  # the first run comes with the second event

    def run(self, now_ms: int, next_event_ms: int | None = None) -> None:
        """Publish at ``now_ms``; the next run is due at the first window end after ``next_event_ms``."""
        view = self.view
        view.reap(now_ms)  # as the worker's publish_kpis does before each publication
        self.latest.update(self.publisher.due_rows(view, now_ms))
        after_ms = now_ms if next_event_ms is None else max(now_ms, next_event_ms)
        self.next_run_ms = min(
            window.end_ms
            for queue in view.queue_names() or [""]  # no queue yet: the default config's windows
            for window in view.windows(queue, after_ms)
            if window.kind in _CLOSING_KINDS
        )


def compute_kpi_rows(
    path: Path, config: EngineConfig, *, wall_ms: int | None = None, progress: Progress | None = None
) -> DirectRows:
    """Apply every event of ``path`` in file order; the KPI rows the worker's publisher leaves, latest per key.

    ``wall_ms`` is the wall clock future events are judged by (default: now, read once).
    """
    started = time.monotonic()
    wall_ms = time.time_ns() // 1_000_000 if wall_ms is None else wall_ms
    engine = direct_engine(config)
    publication = _Publication(engine.view)
    report = DirectReport(str(path))
    apply = engine.apply
    counted = (Verdict.ACCEPTED, Verdict.DUPLICATE)
    last: CanonicalEvent | None = None
    shown = 0
    line_no = reported = 0
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if progress is not None and line_no - reported >= PROGRESS_EVERY_LINES:
                progress.advance(line_no - reported)
                reported = line_no
            if raw.isspace():
                continue
            report.lines += 1
            try:
                event = decode_event(raw)
            except InvalidEvent as error:
                report.problems.append(f"{path}:{line_no}: {error}")
                continue
            stream_ms = engine.stream_time_ms
            if stream_ms is not None and event.ts_ms >= publication.next_run_ms:
                # Before the event that closes a window: the publication a live worker makes while
                # it is open, so a window with no data of its own still gets its final row.
                publication.run(stream_ms, event.ts_ms)
            verdict = apply(event, wall_ms=wall_ms).verdict
            if verdict not in counted and shown < SHOWN_PROBLEMS:
                shown += 1
                report.rejected.append(f"{path}:{line_no}: {verdict} (event_id {event.event_id!r})")
            last = event
    if progress is not None:
        progress.advance(line_no - reported)
        progress.finish()
    report.verdicts = Counter(engine.stats.events)
    end_ms = engine.stream_time_ms
    if end_ms is not None:
        # The engine attributes a survey waiting for a segment that a timer completed (an ACW
        # timeout) only at the next event; the worker counts it at once. A watermark at the
        # stream time reached is that next event, and moves nothing else.
        engine.apply(WatermarkEvent(END_EVENT_ID, end_ms), wall_ms=wall_ms)
        publication.run(end_ms)
        report.ends_with_watermark = isinstance(last, WatermarkEvent) and last.ts_ms >= end_ms
    report.end_ms = end_ms
    report.elapsed_s = time.monotonic() - started
    return DirectRows(publication.latest, report)


def write_kpi_rows(rows: Mapping[bytes, bytes], as_of_ms: int, stream: IO[bytes]) -> int:
    """Write ``{"key": ..., "value": row}`` lines sorted by key, every ``as_of`` set to ``as_of_ms``; the count."""
    as_of = iso_ms(as_of_ms)
    for key in sorted(rows):
        document = json.loads(rows[key])
        document["as_of"] = as_of
        stream.write(json.dumps({"key": key.decode(), "value": document}) + b"\n")
    return len(rows)


def replay_direct(
    path: Path,
    settings: Settings,
    output: Path | None = None,
    *,
    wall_ms: int | None = None,
    progress: Progress | None = None,
) -> DirectReport:
    """Compute the KPI rows of ``path`` and write them to ``output`` (None or ``-``: stdout)."""
    result = compute_kpi_rows(path, engine_config(settings), wall_ms=wall_ms, progress=progress)
    report = result.report
    to_stdout = output is None or str(output) == "-"
    report.destination = "stdout" if to_stdout else str(output)
    as_of_ms = 0 if report.end_ms is None else report.end_ms  # no event applied: no rows either
    if to_stdout:
        report.rows = write_kpi_rows(result.rows, as_of_ms, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        assert output is not None
        with output.open("wb") as stream:
            report.rows = write_kpi_rows(result.rows, as_of_ms, stream)
    return report
