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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ccpulse.codec import json
from ccpulse.codec.outputs import kpi_row, kpi_row_key, totals_of
from ccpulse.domain.kpis import snapshot
from ccpulse.domain.queue_view import ALL_CHANNELS, QueueView
from ccpulse.domain.windows import DailyReset, Window, WindowKind, day_range_ms, interval_start_ms

# Windows that close (a final row, then corrections); rolling windows only move on.
_CLOSING_KINDS = frozenset({WindowKind.INTERVAL, WindowKind.TODAY})


@dataclass
class KpiPublisher:
    """The rows due for one view (one partition's queues); remembers what it published."""

    _published: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)  # key -> (window end, row sans as_of)
    _open_windows: dict[tuple[str, str, str], Window] = field(default_factory=dict)  # intervals and today
    #: The clock of the last run: every interval and day that closed before it has its final row.
    last_run_ms: int | None = None

    def due_rows(self, view: QueueView, now_ms: int) -> list[tuple[bytes, bytes]]:
        """Rows to publish at ``now_ms`` (the view's clock), as (key, value) bytes."""
        rows: list[tuple[bytes, bytes]] = []
        changed = view.take_changed_buckets()
        channels_of: dict[str, set[str]] = {}
        for queue, channel in view.queues():
            channels_of.setdefault(queue, {ALL_CHANNELS}).add(channel)
        for queue, channels in sorted(channels_of.items()):
            windows = view.windows(queue, now_ms)
            for channel in sorted(channels):
                for window in windows:
                    rows += self._row_if_changed(view, queue, channel, window, now_ms, final=False)
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
        self, view: QueueView, queue: str, channel: str, window: Window, now_ms: int, *, final: bool
    ) -> list[tuple[bytes, bytes]]:
        live = view.live(queue, channel, now_ms) if not final else None
        aggregate = view.aggregate(queue, channel, window)
        document = kpi_row(
            queue,
            channel,
            window,
            snapshot(aggregate, view.queue_config(queue), window.duration_ms),
            totals=totals_of(aggregate),
            final=final,
            as_of_ms=now_ms,
            live=live,
            agents=view.agents_by_state(queue) if live is not None and channel == ALL_CHANNELS else None,
            open_tickets=view.open_tickets(queue) if live is not None and channel == ALL_CHANNELS else None,
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
