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

Cost: a run reads the open windows of the queues whose rows may have
changed since the last run, and skips the others: a queue is read again when
one of its buckets changed, its agents or open tickets changed, someone waits
in it now or waited at the last run (waits grow with the clock), or one of
its windows moved (an interval or day closed, a rolling window moved on by a
bucket: its row names its bounds). The skipped rows are the ones the last
run published, unchanged (the view tells which buckets and queues changed; a
view that does not track changes gets every queue read). With thousands of
quiet queues a run costs little more than the busy ones.

A window's aggregate is merged from cached 15-minute blocks (exact: merging
is associative, and a block is a window of its own over the same buckets)
plus the buckets at its two ends; a block is merged again only after one of
its buckets changed, and a block in which the queue has no bucket is not
read at all. Live figures (waiting, agents, open tickets) are read once per
queue x channel per run, not once per window.

:meth:`KpiPublisher.rows_by_queue` hands the rows over one queue at a time,
so the worker can let other work run between queues of a long run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ccpulse.codec import json
from ccpulse.codec.outputs import kpi_row, kpi_row_key, totals_of
from ccpulse.domain.aggregates import QueueAggregate
from ccpulse.domain.erlang import StaffingAdvice
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

    def forget_changed(self, changed: dict[str, list[int]]) -> None:
        """Forget the blocks and runs holding changed buckets (queue -> starts of its changed buckets)."""
        if not changed:
            return
        blocks_of = {
            queue: {start_ms - start_ms % BLOCK_MS for start_ms in starts} for queue, starts in changed.items()
        }
        for queue, starts in blocks_of.items():
            for start_ms in starts:
                self.blocks.pop((queue, start_ms), None)
        for run_key, (end_ms, _) in list(self.runs.items()):
            queue, _, first_ms = run_key
            changed_blocks = blocks_of.get(queue)
            if changed_blocks is not None and any(first_ms <= start_ms < end_ms for start_ms in changed_blocks):
                del self.runs[run_key]

    def forget_before(self, horizon_ms: int) -> None:
        for key in [key for key in self.blocks if key[1] + BLOCK_MS <= horizon_ms]:
            del self.blocks[key]
        for run_key in [key for key, (end_ms, _) in self.runs.items() if end_ms <= horizon_ms]:
            del self.runs[run_key]

    def aggregate(
        self, view: QueueView, queue: str, channel: str, window: Window, now_ms: int, occupied: set[int]
    ) -> QueueAggregate:
        """``view.aggregate(queue, channel, window)`` (a new aggregate), from cached blocks where whole ones fit.

        ``occupied``: the starts of the blocks in which the queue has buckets; no other block is read.
        """
        first_ms = -(-window.start_ms // BLOCK_MS) * BLOCK_MS
        last_ms = window.end_ms - window.end_ms % BLOCK_MS
        if first_ms >= last_ms:
            return view.aggregate(queue, channel, window)
        run_end_ms = max(first_ms, min(last_ms, now_ms - now_ms % BLOCK_MS))
        total = self._run(view, queue, channel, window, first_ms, run_end_ms, occupied).copy()
        for start_ms in range(run_end_ms, last_ms, BLOCK_MS):
            block = self._block(view, queue, channel, window, start_ms, occupied)
            if block is not None:
                total.merge_in(block)
        if window.start_ms < first_ms:
            total.merge_in(view.aggregate(queue, channel, _part(window, window.start_ms, first_ms)))
        if last_ms < window.end_ms:
            total.merge_in(view.aggregate(queue, channel, _part(window, last_ms, window.end_ms)))
        return total

    def _run(
        self,
        view: QueueView,
        queue: str,
        channel: str,
        window: Window,
        first_ms: int,
        end_ms: int,
        occupied: set[int],
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
            block = self._block(view, queue, channel, window, start_ms, occupied)
            if block is not None:
                merged.merge_in(block)
        self.runs[key] = (end_ms, merged)
        return merged

    def _block(
        self, view: QueueView, queue: str, channel: str, window: Window, start_ms: int, occupied: set[int]
    ) -> QueueAggregate | None:
        if start_ms not in occupied:
            return None
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
    staffing: StaffingAdvice | None


@dataclass
class KpiPublisher:
    """The rows due for one view (one partition's queues); remembers what it published."""

    _published: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # key -> (window end, row sans as_of)
    _open_windows: dict[tuple[str, str, str], Window] = field(default_factory=dict)  # intervals and today
    _blocks: _BlockCache = field(default_factory=_BlockCache)
    # What the last run saw, to tell which queues' rows cannot have changed since.
    _windows_of: dict[str, list[Window]] = field(default_factory=dict)  # queue -> its windows then
    _waiting_queues: set[str] = field(default_factory=set)  # queues with contacts waiting then
    _dirty: set[str] = field(default_factory=set)  # queues changed and not read since (a run cut short)
    #: The clock of the last run: every interval and day that closed before it has its final row.
    last_run_ms: int | None = None

    def due_rows(self, view: QueueView, now_ms: int) -> list[tuple[bytes, bytes]]:
        """Rows to publish at ``now_ms`` (the view's clock), as (key, value) bytes."""
        return [row for rows in self.rows_by_queue(view, now_ms) for row in rows]

    def rows_by_queue(self, view: QueueView, now_ms: int) -> Iterator[list[tuple[bytes, bytes]]]:
        """The rows of :meth:`due_rows`, one list per queue read (queues that cannot have changed are skipped).

        The view may change between two queues (the caller lets events in):
        what changes then is reported by the view to the next run. A run cut
        short leaves the queues it did not reach to the next run, which brings
        their open windows up to date; the finals of windows that closed
        meanwhile are not sent for them, so a caller that cuts a run drops the
        publisher afterwards, as the worker does with a revoked partition.
        """
        changed: dict[str, list[int]] = {}  # queue -> starts of its changed buckets
        for queue, bucket_start_ms in view.take_changed_buckets():
            changed.setdefault(queue, []).append(bucket_start_ms)
        tracked = view.tracks_changes
        if tracked:
            self._blocks.forget_changed(changed)
            self._dirty.update(changed)
            self._dirty.update(view.take_changed_live())
        else:  # nothing says which buckets changed: every block is read afresh
            self._blocks = _BlockCache()
        waiting = {queue for queue, _ in view.waiting_queue_channels()}
        channels_of: dict[str, set[str]] = {}
        for queue, channel in view.queues():
            channels_of.setdefault(queue, {ALL_CHANNELS}).add(channel)
        windows_of: dict[str, list[Window]] = {}
        for queue, channels in sorted(channels_of.items()):
            windows = windows_of[queue] = view.windows(queue, now_ms)
            previous = self._windows_of.get(queue)
            if (
                tracked
                and previous is not None
                and queue not in self._dirty
                and queue not in waiting
                and queue not in self._waiting_queues
                and previous == windows
            ):
                continue
            yield self._queue_rows(view, queue, sorted(channels), windows, changed, now_ms)
            self._dirty.discard(queue)
        self._windows_of = windows_of
        self._waiting_queues = waiting
        self._forget_before(now_ms - view.config.retention_ms)
        self._blocks.forget_before(now_ms - view.config.retention_ms)
        self.last_run_ms = now_ms if self.last_run_ms is None else max(self.last_run_ms, now_ms)

    def _queue_rows(
        self,
        view: QueueView,
        queue: str,
        channels: list[str],
        windows: list[Window],
        changed: dict[str, list[int]],
        now_ms: int,
    ) -> list[tuple[bytes, bytes]]:
        """One queue's due rows: its open windows if changed, the windows that closed, corrections."""
        rows: list[tuple[bytes, bytes]] = []
        occupied = {start_ms - start_ms % BLOCK_MS for start_ms in view.bucket_starts_of(queue)}
        for channel in channels:
            now = _now(view, queue, channel, now_ms)
            for window in windows:
                rows += self._row_if_changed(view, queue, channel, window, now_ms, occupied, final=False, now=now)
                if window.kind in _CLOSING_KINDS:
                    previous = self._open_windows.get((queue, channel, window.name))
                    if previous is not None and previous.start_ms < window.start_ms:
                        # Every window that closed since the last run, not only the one open then:
                        # a clock that follows event time can move days in one step.
                        for closed in _closed_between(previous, window, view.queue_config(queue).reset):
                            rows += self._row_if_changed(view, queue, channel, closed, now_ms, occupied, final=True)
                    self._open_windows[(queue, channel, window.name)] = window
        rows += self._corrections(view, queue, channels, windows, changed, now_ms, occupied)
        return rows

    def _corrections(
        self,
        view: QueueView,
        queue: str,
        channels: list[str],
        current: list[Window],
        changed: dict[str, list[int]],
        now_ms: int,
        occupied: set[int],
    ) -> list[tuple[bytes, bytes]]:
        """Closed intervals and days of ``queue`` whose buckets changed: their corrected final rows."""
        rows: list[tuple[bytes, bytes]] = []
        bucket_starts = sorted(changed.get(queue, ()))
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
                    rows += self._row_if_changed(view, queue, channel, past, now_ms, occupied, final=True)
        return rows

    def _row_if_changed(
        self,
        view: QueueView,
        queue: str,
        channel: str,
        window: Window,
        now_ms: int,
        occupied: set[int],
        *,
        final: bool,
        now: _Now | None = None,
    ) -> list[tuple[bytes, bytes]]:
        """The row of an open window (with ``now``, its live figures) or a closed one, if it changed."""
        aggregate = self._blocks.aggregate(view, queue, channel, window, now_ms, occupied)
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
            staffing=None if now is None else now.staffing,
        )
        key = kpi_row_key(queue, channel, window)
        as_of = document.pop("as_of")
        content = json.dumps_to_keep(document)  # held until the window leaves retention
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
        view.staffing(queue, now_ms) if everything else None,
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
