"""What a worker tells Prometheus.

KPI series are built on every scrape from the table state the worker holds at
that moment (a :class:`prometheus_client.registry.Collector`), so nothing stale
survives a rebalance. Self-metrics are ordinary counters in the injected
registry. Names follow Prometheus conventions: ``ccpulse_`` prefix, base units,
``_total`` only on counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ccpulse.codec.events import RejectReason
from ccpulse.domain.queue_view import ALL_CHANNELS, QueueView, ViewStats

# KPI gauges of every window: (metric name, help, snapshot attribute); None values are not exported.
_WINDOW_GAUGES = (
    ("ccpulse_contacts_arrived", "Contacts that entered the queue in the window.", "arrivals"),
    (
        "ccpulse_contacts_offered",
        "Answered + abandoned + flowed out in the window (short abandons excluded).",
        "offered",
    ),
    ("ccpulse_contacts_answered", "Queue stints answered in the window.", "answered"),
    ("ccpulse_contacts_abandoned", "Queue stints abandoned in the window (short abandons excluded).", "abandoned"),
    (
        "ccpulse_contacts_short_abandoned",
        "Abandons within the short-abandon threshold in the window.",
        "short_abandoned",
    ),
    ("ccpulse_contacts_flowed_out", "Queue stints that left by timeout or overflow in the window.", "flowed_out"),
    ("ccpulse_contacts_handled", "Handling segments completed (wrap-up or ACW timeout) in the window.", "handled"),
    ("ccpulse_asa_seconds", "Average speed of answer in the window.", "asa_s"),
    ("ccpulse_abandonment_ratio", "Abandoned / offered in the window.", "abandonment_ratio"),
    ("ccpulse_aht_seconds", "Average handle time (talk + hold + ACW) in the window.", "aht_s"),
    ("ccpulse_occupancy_ratio", "Busy + ACW over staffed agent time in the window (channel 'all' only).", "occupancy"),
)


class KpiCollector(Collector):
    """KPI gauges built at scrape time from the views of the partitions this worker owns now.

    ``read_views`` yields each owned partition's view with its clock, so a
    rebalance never leaves a stale series behind: a queue is exported by the
    one worker that owns its partition. ``is_ready`` is false while tables
    recover, when numbers would be partial; KPI series are withheld then.
    Issue-level detail (every KPI, histograms, numerator/denominator pairs)
    grows here; names follow Prometheus conventions.
    """

    def __init__(
        self,
        read_views: Callable[[], Iterable[tuple[QueueView, int]]],
        is_ready: Callable[[], bool],
        stats: ViewStats | None = None,
    ) -> None:
        self._read_views = read_views
        self._is_ready = is_ready
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        ready = self._is_ready()
        yield GaugeMetricFamily(
            "ccpulse_worker_ready",
            "1 when this worker's tables are recovered and its KPI series are complete, else 0.",
            value=1.0 if ready else 0.0,
        )
        if self._stats is not None:
            yield CounterMetricFamily(
                "ccpulse_reaped_stints",
                "Contacts dropped from the waiting view after waiting longer than max_queue_age.",
                value=float(self._stats.reaped_stints),
            )
        if not ready:
            return
        families = _KpiFamilies()
        for view, now_ms in self._read_views():
            families.add_view(view, now_ms)
        yield from families.all()


class _KpiFamilies:
    """The KPI metric families of one scrape, filled view by view."""

    def __init__(self) -> None:
        window_labels = ["queue", "channel", "window"]
        self.gauges = {name: GaugeMetricFamily(name, text, labels=window_labels) for name, text, _ in _WINDOW_GAUGES}
        self.service_level = GaugeMetricFamily(
            "ccpulse_service_level_ratio",
            "Service level in the window for an SL threshold (seconds) and formula (SPEC section 3).",
            labels=[*window_labels, "threshold", "formula"],
        )
        self.waiting = GaugeMetricFamily(
            "ccpulse_waiting_contacts", "Contacts waiting in the queue now.", labels=["queue", "channel"]
        )
        self.oldest = GaugeMetricFamily(
            "ccpulse_oldest_wait_seconds",
            "How long the longest-waiting contact has waited now.",
            labels=["queue", "channel"],
        )
        self.agents = GaugeMetricFamily(
            "ccpulse_agents", "Agents serving the queue, by state now.", labels=["queue", "state"]
        )
        self.backlog = GaugeMetricFamily("ccpulse_open_tickets", "Tickets of the queue open now.", labels=["queue"])

    def all(self) -> list[Metric]:
        return [*self.gauges.values(), self.service_level, self.waiting, self.oldest, self.agents, self.backlog]

    def add_view(self, view: QueueView, now_ms: int) -> None:
        queues: dict[str, set[str]] = {queue: {ALL_CHANNELS} for queue in view.queue_names()}
        for queue, channel in view.queues():
            queues[queue].add(channel)
        for queue, channels in sorted(queues.items()):
            for channel in sorted(channels):
                self._add_windows(view, queue, channel, now_ms)
                if channel != ALL_CHANNELS:
                    live = view.live(queue, channel, now_ms)
                    self.waiting.add_metric([queue, channel], float(live.waiting))
                    self.oldest.add_metric([queue, channel], (live.oldest_wait_ms or 0) / 1000)
            for state, count in view.agents_by_state(queue).items():
                self.agents.add_metric([queue, state.value], float(count))
            self.backlog.add_metric([queue], float(view.open_tickets(queue)))

    def _add_windows(self, view: QueueView, queue: str, channel: str, now_ms: int) -> None:
        for window in view.windows(queue, now_ms):
            kpis = view.snapshot(queue, channel, window)
            labels = [queue, channel, window.name]
            for name, _, attribute in _WINDOW_GAUGES:
                value = getattr(kpis, attribute)
                if value is not None and (attribute != "occupancy" or channel == ALL_CHANNELS):
                    self.gauges[name].add_metric(labels, float(value))
            for level in kpis.service_levels:
                if level.ratio is not None:
                    self.service_level.add_metric([*labels, str(level.threshold_s), level.formula.value], level.ratio)


class SelfMetrics:
    """Counters about the worker itself, registered in the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            "ccpulse_events_consumed",
            "Messages read from the input topic, valid or not.",
            registry=registry,
        )
        self.events_rejected = Counter(
            "ccpulse_events_rejected",
            "Messages sent to the dead-letter topic, by reason.",
            labelnames=["reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "ccpulse_duplicate_events",
            "Events whose event_id their contact, agent or ticket had already applied; they changed nothing.",
            registry=registry,
        )
        self.facts_emitted = Counter(
            "ccpulse_facts_emitted",
            "Records written to the contact-facts topic, by kind (upsert, or delete: a tombstone).",
            labelnames=["kind"],
            registry=registry,
        )
        self.input_offsets_skipped = Counter(
            "ccpulse_input_offsets_skipped",
            "Offsets the Kafka consumer skipped before delivering a later one; the worker rewound and read them.",
            registry=registry,
        )
        self.kpi_rows_published = Counter(
            "ccpulse_kpi_rows_published",
            "Rows written to the KPI topic (open windows when changed, final rows, corrections).",
            registry=registry,
        )
        self.last_event_time = Gauge(
            "ccpulse_last_event_timestamp_seconds",
            "Largest event time in the valid input read so far, as a Unix timestamp.",
            registry=registry,
        )
        for kind in ("upsert", "delete"):
            self.facts_emitted.labels(kind=kind)
        for reason in RejectReason:
            # Known label sets start at 0, so alerts on increase() see the first rejection.
            self.events_rejected.labels(reason=reason.value)
