"""Which KPI rows to publish, and when: open windows throttled, a final row at close, corrections after.

Run once per publish interval per partition view:

- every open window (current intervals, rolling windows, today) of every
  queue x channel (and the queue's ``all``), when its row changed since the
  last one published for that key;
- every interval (and day) that closed since the last run: its final row;
- every closed interval or day still in retention whose buckets late facts
  changed: a corrected final row, if the numbers differ from the last one
  published.

Rows are compared without ``as_of`` so an unchanged window is not republished.
The memory of what was published is per process: a restarted worker publishes
each current row once more, which a compacted topic's consumers absorb.

Cost: a run reads every open window of every queue x channel. A window's
aggregate is merged from cached 15-minute blocks (exact: merging is
associative, and a block is a window of its own over the same buckets) plus
the buckets at its two ends; a block is merged again only after one of its
buckets changed. Live figures (waiting, agents, open tickets) are read once
per queue x channel per run, not once per window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ccpulse.codec import json
from ccpulse.codec.outputs import kpi_row, kpi_row_key, totals_of
from ccpulse.domain.aggregates import QueueAggregate
from ccpulse.domain.events import AgentState
from ccpulse.domain.kpis import snapshot
from ccpulse.domain.queue_view import ALL_CHANNELS, LiveQueue, QueueView
from ccpulse.domain.windows import MINUTE_MS, DailyReset, Window, WindowKind, day_range_ms, interval_start_ms

# Windows that close (a final row, then corrections); rolling windows only move on.
_CLOSING_KINDS = frozenset({WindowKind.INTERVAL, WindowKind.TODAY})
BLOCK_MS = 15 * MINUTE_MS


@dataclass
class _BlockCache:
    """Aggregates of aligned blocks of ``BLOCK_MS`` per queue x channel, and merged runs of closed blocks.

    A block is read again only after one of its buckets changed. A *run* is
    the merge of consecutive blocks from a window's first whole block up to
    the block holding the clock (those rarely change: only late facts touch
    them), so a long window such as ``today`` costs a copy of its run plus a
    few blocks per publication, not a merge of every block since midnight.
    """

    blocks: dict[tuple[str, int], dict[str, QueueAggregate | None]] = field(default_factory=dict)  # None: empty
    runs: dict[tuple[str, str, int], tuple[int, QueueAggregate]] = field(default_factory=dict)  # -> (end, merged)

    def forget_changed(self, changed: set[tuple[str, int]]) -> None:
        if not changed:
            return
        blocks = {(queue, bucket_start_ms - bucket_start_ms % BLOCK_MS) for queue, bucket_start_ms in changed}
        for block_key in blocks:
            self.blocks.pop(block_key, None)
        for run_key, (end_ms, _) in list(self.runs.items()):
            queue, _, first_ms = run_key
            if any(q == queue and first_ms <= start_ms < end_ms for q, start_ms in blocks):
                del self.runs[run_key]

    def forget_before(self, horizon_ms: int) -> None:
        for key in [key for key in self.blocks if key[1] + BLOCK_MS <= horizon_ms]:
            del self.blocks[key]
        for run_key in [key for key, (end_ms, _) in self.runs.items() if end_ms <= horizon_ms]:
            del self.runs[run_key]

    def aggregate(self, view: QueueView, queue: str, channel: str, window: Window, now_ms: int) -> QueueAggregate:
        """``view.aggregate(queue, channel, window)`` (a new aggregate), from cached blocks where whole ones fit."""
        first_ms = -(-window.start_ms // BLOCK_MS) * BLOCK_MS
        last_ms = window.end_ms - window.end_ms % BLOCK_MS
        if first_ms >= last_ms:
            return view.aggregate(queue, channel, window)
        run_end_ms = max(first_ms, min(last_ms, now_ms - now_ms % BLOCK_MS))
        total = self._run(view, queue, channel, window, first_ms, run_end_ms).copy()
        for start_ms in range(run_end_ms, last_ms, BLOCK_MS):
            block = self._block(view, queue, channel, window, start_ms)
            if block is not None:
                total.merge_in(block)
        if window.start_ms < first_ms:
            total.merge_in(view.aggregate(queue, channel, _part(window, window.start_ms, first_ms)))
        if last_ms < window.end_ms:
            total.merge_in(view.aggregate(queue, channel, _part(window, last_ms, window.end_ms)))
        return total

    def _run(
        self, view: QueueView, queue: str, channel: str, window: Window, first_ms: int, end_ms: int
    ) -> QueueAggregate:
        """The merged blocks ``[first_ms, end_ms)`` (never to be changed by the caller)."""
        key = (queue, channel, first_ms)
        cached = self.runs.get(key)
        if cached is not None and cached[0] == end_ms:
            return cached[1]
        if cached is not None and cached[0] < end_ms:
            merged_to_ms, merged = cached[0], cached[1].copy()
        else:
            merged_to_ms, merged = first_ms, QueueAggregate.empty(view.queue_config(queue))
        for start_ms in range(merged_to_ms, end_ms, BLOCK_MS):
            block = self._block(view, queue, channel, window, start_ms)
            if block is not None:
                merged.merge_in(block)
        self.runs[key] = (end_ms, merged)
        return merged

    def _block(self, view: QueueView, queue: str, channel: str, window: Window, start_ms: int) -> QueueAggregate | None:
        by_channel = self.blocks.setdefault((queue, start_ms), {})
        if channel in by_channel:
            return by_channel[channel]
        block: QueueAggregate | None = view.aggregate(queue, channel, _part(window, start_ms, start_ms + BLOCK_MS))
        if block is not None and block.is_empty():
            block = None
        by_channel[channel] = block
        return block


def _part(window: Window, start_ms: int, end_ms: int) -> Window:
    return Window(window.kind, window.name, start_ms, end_ms)


@dataclass(frozen=True, slots=True)
class _Now:
    """The live figures of one queue x channel at one run."""

    live: LiveQueue
    agents: dict[AgentState, int] | None
    open_tickets: int | None


@dataclass
class KpiPublisher:
    """The rows due for one view (one partition's queues); remembers what it published."""

    _published: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # key -> (window end, row sans as_of)
    _open_windows: dict[tuple[str, str, str], Window] = field(default_factory=dict)  # intervals and today
    _blocks: _BlockCache = field(default_factory=_BlockCache)
    #: The clock of the last run: every interval and day that closed before it has its final row.
    last_run_ms: int | None = None

    def due_rows(self, view: QueueView, now_ms: int) -> list[tuple[bytes, bytes]]:
        """Rows to publish at ``now_ms`` (the view's clock), as (key, value) bytes."""
        rows: list[tuple[bytes, bytes]] = []
        changed = view.take_changed_buckets()
        if view.tracks_changes:
            self._blocks.forget_changed(changed)
        else:  # nothing says which buckets changed: every block is read afresh
            self._blocks = _BlockCache()
        channels_of: dict[str, set[str]] = {}
        for queue, channel in view.queues():
            channels_of.setdefault(queue, {ALL_CHANNELS}).add(channel)
        for queue, channels in sorted(channels_of.items()):
            windows = view.windows(queue, now_ms)
            for channel in sorted(channels):
                now = _now(view, queue, channel, now_ms)
                for window in windows:
                    rows += self._row_if_changed(view, queue, channel, window, now_ms, final=False, now=now)
                    if window.kind in _CLOSING_KINDS:
                        previous = self._open_windows.get((queue, channel, window.name))
                        if previous is not None and previous.start_ms < window.start_ms:
                            # Every window that closed since the last run, not only the one open then:
                            # a clock that follows event time can move days in one step.
                            for closed in _closed_between(previous, window, view.queue_config(queue).reset):
                                rows += self._row_if_changed(view, queue, channel, closed, now_ms, final=True)
                        self._open_windows[(queue, channel, window.name)] = window
            rows += self._corrections(view, queue, sorted(channels), windows, changed, now_ms)
        self._forget_before(now_ms - view.config.retention_ms)
        self._blocks.forget_before(now_ms - view.config.retention_ms)
        self.last_run_ms = now_ms if self.last_run_ms is None else max(self.last_run_ms, now_ms)
        return rows

    def _corrections(
        self,
        view: QueueView,
        queue: str,
        channels: list[str],
        current: list[Window],
        changed: set[tuple[str, int]],
        now_ms: int,
    ) -> list[tuple[bytes, bytes]]:
        """Closed intervals and days of ``queue`` whose buckets changed: their corrected final rows."""
        rows: list[tuple[bytes, bytes]] = []
        bucket_starts = sorted(start for changed_queue, start in changed if changed_queue == queue)
        reset = view.queue_config(queue).reset
        horizon_ms = now_ms - view.config.retention_ms
        for window in current:
            if window.kind not in _CLOSING_KINDS:
                continue
            closed: set[tuple[int, int]] = set()
            for start in bucket_starts:
                if start >= window.start_ms:
                    continue
                if window.kind is WindowKind.INTERVAL:
                    begin_ms = interval_start_ms(start, window.duration_ms)
                    closed.add((begin_ms, begin_ms + window.duration_ms))
                else:
                    closed.add(day_range_ms(start, reset))
            for start_ms, end_ms in sorted(closed):
                if end_ms <= horizon_ms:
                    continue
                past = Window(window.kind, window.name, start_ms, end_ms)
                for channel in channels:
                    rows += self._row_if_changed(view, queue, channel, past, now_ms, final=True)
        return rows

    def _row_if_changed(
        self,
        view: QueueView,
        queue: str,
        channel: str,
        window: Window,
        now_ms: int,
        *,
        final: bool,
        now: _Now | None = None,
    ) -> list[tuple[bytes, bytes]]:
        """The row of an open window (with ``now``, its live figures) or a closed one, if it changed."""
        aggregate = self._blocks.aggregate(view, queue, channel, window, now_ms)
        document = kpi_row(
            queue,
            channel,
            window,
            snapshot(aggregate, view.queue_config(queue), window.duration_ms),
            totals=totals_of(aggregate),
            final=final,
            as_of_ms=now_ms,
            live=None if now is None else now.live,
            agents=None if now is None else now.agents,
            open_tickets=None if now is None else now.open_tickets,
        )
        key = kpi_row_key(queue, channel, window)
        as_of = document.pop("as_of")
        content = json.dumps(document)
        last = self._published.get(key)
        if last is not None and last[1] == content:
            return []
        self._published[key] = (window.end_ms, content)
        document["as_of"] = as_of
        return [(key, json.dumps(document))]

    def _forget_before(self, horizon_ms: int) -> None:
        for key in [key for key, (end_ms, _) in self._published.items() if end_ms < horizon_ms]:
            del self._published[key]


def _now(view: QueueView, queue: str, channel: str, now_ms: int) -> _Now:
    everything = channel == ALL_CHANNELS  # agents and tickets are per queue, on its "all" rows
    return _Now(
        view.live(queue, channel, now_ms),
        view.agents_by_state(queue) if everything else None,
        view.open_tickets(queue) if everything else None,
    )


def _closed_between(previous: Window, current: Window, reset: DailyReset) -> list[Window]:
    """``previous`` and every window of its kind after it that ends by the start of ``current``."""
    closed: list[Window] = []
    start_ms = previous.start_ms
    while start_ms < current.start_ms:
        if previous.kind is WindowKind.INTERVAL:
            end_ms = start_ms + previous.duration_ms
        else:
            end_ms = day_range_ms(start_ms, reset)[1]
        closed.append(Window(previous.kind, previous.name, start_ms, end_ms))
        start_ms = end_ms
    return closed
