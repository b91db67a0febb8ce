"""What a worker tells Prometheus.

KPI series are built on every scrape from the table state the worker holds at
that moment (a :class:`prometheus_client.registry.Collector`), so nothing stale
survives a rebalance. Self-metrics are ordinary counters in the injected
registry. Names follow Prometheus conventions: ``ccpulse_`` prefix, base units,
``_total`` only on counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ccpulse import __version__
from ccpulse.codec.events import RejectReason
from ccpulse.domain.aggregates import QueueAggregate, cumulative_counts
from ccpulse.domain.erlang import StaffingAdvice
from ccpulse.domain.events import AgentState
from ccpulse.domain.kpis import DEFINITIONS_VERSION, KpiSnapshot, SlFormula, service_level_parts, snapshot
from ccpulse.domain.queue_config import QueueConfig
from ccpulse.domain.queue_view import ALL_CHANNELS, STAFFED_STATES, QueueView, ViewStats
from ccpulse.domain.windows import WindowKind
from ccpulse.telemetry.catalog import BY_NAME, OTHER_QUEUE, MetricKind

MS_PER_S = 1000

# Window gauges read straight from a snapshot attribute; None values are not exported.
_SNAPSHOT_GAUGES = (
    ("ccpulse_contacts_arrived", "arrivals"),
    ("ccpulse_contacts_offered", "offered"),
    ("ccpulse_contacts_answered", "answered"),
    ("ccpulse_contacts_abandoned", "abandoned"),
    ("ccpulse_contacts_short_abandoned", "short_abandoned"),
    ("ccpulse_contacts_flowed_out", "flowed_out"),
    ("ccpulse_contacts_handled", "handled"),
    ("ccpulse_contacts_transferred", "transferred"),
    ("ccpulse_acw_timeouts", "acw_timeouts"),
    ("ccpulse_asa_seconds", "asa_s"),
    ("ccpulse_abandonment_ratio", "abandonment_ratio"),
    ("ccpulse_flow_out_ratio", "flow_out_ratio"),
    ("ccpulse_average_abandoned_wait_seconds", "avg_wait_abandoned_s"),
    ("ccpulse_max_answered_wait_seconds", "max_wait_answered_s"),
    ("ccpulse_abandonment_hazard_per_second", "abandonment_hazard_per_s"),
    ("ccpulse_arrival_rate_per_second", "arrival_rate_per_s"),
    ("ccpulse_aht_seconds", "aht_s"),
    ("ccpulse_transfer_ratio", "transfer_ratio"),
    ("ccpulse_hold_ratio", "hold_ratio"),
    ("ccpulse_acw_timeout_ratio", "acw_timeout_ratio"),
    ("ccpulse_resolved_ratio", "resolved_ratio"),
    ("ccpulse_fcr_ratio", "fcr_ratio"),
    ("ccpulse_complaint_ratio", "complaint_ratio"),
    ("ccpulse_contact_escalation_ratio", "contact_escalation_ratio"),
    ("ccpulse_ticket_first_response_seconds", "first_response_mean_s"),
    ("ccpulse_ticket_resolution_seconds", "resolution_mean_s"),
    ("ccpulse_ticket_one_touch_ratio", "one_touch_ratio"),
    ("ccpulse_ticket_reopen_ratio", "reopen_ratio"),
    ("ccpulse_ticket_escalation_ratio", "ticket_escalation_ratio"),
    ("ccpulse_csat_ratio", "csat_ratio"),
    ("ccpulse_nps_score", "nps"),
    ("ccpulse_ces_score", "ces_mean"),
    ("ccpulse_esat_score", "esat_mean"),
)
# Agent time belongs to the queue, not to a channel: exported on channel "all" only.
_AGENT_GAUGES = (
    ("ccpulse_occupancy_ratio", "occupancy"),
    ("ccpulse_cost_per_contact", "cost_per_contact"),
    ("ccpulse_contacts_per_agent_hour", "productivity_per_hour"),
)
_HANDLING_PARTS = (
    ("talk", "sum_talk_ms", "avg_talk_s"),
    ("hold", "sum_hold_ms", "avg_hold_s"),
    ("acw", "sum_acw_ms", "avg_acw_s"),
)
_AGENT_TIME = (
    ("available", "agent_available_ms"),
    ("busy", "agent_busy_ms"),
    ("acw", "agent_acw_ms"),
    ("away", "agent_away_ms"),
)
_TICKET_EVENTS = ("created", "solved", "reopened", "escalated", "closed")
_SURVEY_KINDS = ("csat", "nps", "ces", "esat")
_WAIT_PERCENTILES = (("50", "p50"), ("90", "p90"), ("95", "p95"))
_OUTCOME_COUNTS = (
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("short_abandoned", "short_abandoned"),
    ("flowed_out", "flowed_out"),
)


@dataclass(frozen=True, slots=True)
class MetricsLimits:
    """Cardinality guards (settings ``metrics_max_queues``, ``metrics_per_agent``, ``metrics_max_agents``)."""

    max_queues: int = 200
    per_agent: bool = False
    max_agents: int = 500


@dataclass(slots=True)
class QueueFigures:
    """Everything exported for one queue (or for the queues folded into ``other``) at one scrape."""

    config: QueueConfig
    windows: dict[tuple[str, str], tuple[QueueAggregate, int]] = field(default_factory=dict)  # (channel, window)
    waiting: dict[str, list[int]] = field(default_factory=dict)  # channel -> waits (ms) now
    agents: dict[AgentState, int] = field(default_factory=lambda: dict.fromkeys(AgentState, 0))
    open_tickets: int = 0
    staffing: StaffingAdvice | None = None
    agent_states: dict[str, AgentState] = field(default_factory=dict)

    @classmethod
    def of(cls, view: QueueView, queue: str, now_ms: int, *, per_agent: bool) -> QueueFigures:
        figures = cls(view.queue_config(queue))
        for channel in [ALL_CHANNELS, *view.channels_of(queue)]:
            for window in view.windows(queue, now_ms):
                figures.windows[channel, window.name] = (view.aggregate(queue, channel, window), window.duration_ms)
            if channel != ALL_CHANNELS:
                figures.waiting[channel] = view.waits(queue, channel, now_ms)
        figures.agents = view.agents_by_state(queue)
        figures.open_tickets = view.open_tickets(queue)
        figures.staffing = view.staffing(queue, now_ms)
        if per_agent:
            figures.agent_states = view.agent_states(queue)
        return figures

    @classmethod
    def folded(cls, sources: list[tuple[str, QueueView, int]]) -> QueueFigures:
        """The figures of all ``sources`` (queue, its view, the view's clock) together: the ``other`` series.

        Windows are merged per shape: the first queue's aggregate shape (SL
        thresholds, wait bounds) decides each window's; queues of another
        shape add their waits, agents and tickets but not their windows. A
        mixture of queues has no Erlang staffing advice.
        """
        first_queue, first_view, _ = sources[0]
        figures = cls(first_view.queue_config(first_queue))
        groups: dict[tuple[int, int, object], tuple[QueueView, int, list[str]]] = {}
        for queue, view, now_ms in sources:
            config = view.queue_config(queue)
            shape = (config.reset, config.sl_thresholds_s, config.wait_bounds_s)
            groups.setdefault((id(view), now_ms, shape), (view, now_ms, []))[2].append(queue)
            for channel in view.channels_of(queue):
                figures.waiting.setdefault(channel, []).extend(view.waits(queue, channel, now_ms))
            for state, count in view.agents_by_state(queue).items():
                figures.agents[state] += count
            figures.open_tickets += view.open_tickets(queue)
        for view, now_ms, queues in groups.values():
            for key, (aggregate, duration_ms) in view.merged_windows(queues, now_ms).items():
                mine = figures.windows.get(key)
                if mine is None:
                    figures.windows[key] = (aggregate, duration_ms)
                elif (mine[0].sl_thresholds_ms, mine[0].wait_bounds_ms) == (
                    aggregate.sl_thresholds_ms,
                    aggregate.wait_bounds_ms,
                ):
                    mine[0].merge_in(aggregate)
        return figures


class KpiCollector(Collector):
    """KPI metric families built at scrape time from the views of the partitions this worker owns now.

    ``read_views`` yields each owned partition's view with its clock, so a
    rebalance never leaves a stale series behind: a queue is exported by the
    one worker that owns its partition. ``is_ready`` is false while tables
    recover, when numbers would be partial; KPI series are withheld then.
    Every family is declared in :mod:`ccpulse.telemetry.catalog`.
    """

    def __init__(
        self,
        read_views: Callable[[], Iterable[tuple[QueueView, int]]],
        is_ready: Callable[[], bool],
        stats: ViewStats | None = None,
        limits: MetricsLimits | None = None,
    ) -> None:
        self._read_views = read_views
        self._is_ready = is_ready
        self._stats = stats
        self._limits = limits or MetricsLimits()

    def collect(self) -> Iterator[Metric]:
        ready = self._is_ready()
        yield _family("ccpulse_worker_ready", 1.0 if ready else 0.0)
        if self._stats is not None:
            yield _family("ccpulse_reaped_stints", float(self._stats.reaped_stints))
        if not ready:
            return
        figures, folded = self._figures()
        families = _Families()
        yield _family("ccpulse_metrics_folded_queues", float(folded))
        dropped = families.add_all(figures, self._limits)
        if self._limits.per_agent:
            yield _family("ccpulse_metrics_dropped_agents", float(dropped))
        yield from families.all()

    def _figures(self) -> tuple[list[tuple[str, QueueFigures]], int]:
        sources = sorted((queue, view, now_ms) for view, now_ms in self._read_views() for queue in view.queue_names())
        limit = self._limits.max_queues
        per_agent = self._limits.per_agent
        kept = [
            (queue, QueueFigures.of(view, queue, now_ms, per_agent=per_agent))
            for queue, view, now_ms in sources[:limit]
        ]
        folded = sources[limit:]
        if folded:
            kept.append((OTHER_QUEUE, QueueFigures.folded(folded)))
        return kept, len(folded)


def _family(name: str, value: float | None = None, labels: tuple[str, ...] | None = None) -> Metric:
    spec = BY_NAME[name]
    label_names = list(spec.labels if labels is None else labels)
    if spec.kind is MetricKind.COUNTER:
        return CounterMetricFamily(name, spec.help, value=value, labels=None if value is not None else label_names)
    if spec.kind is MetricKind.HISTOGRAM:
        return HistogramMetricFamily(name, spec.help, labels=label_names)
    return GaugeMetricFamily(name, spec.help, value=value, labels=None if value is not None else label_names)


class _Families:
    """The KPI metric families of one scrape, filled queue by queue."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def _add(self, name: str, labels: list[str], value: float) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _family(name)
        family.add_metric(labels, value)  # type: ignore[attr-defined]

    def all(self) -> list[Metric]:
        return list(self._families.values())

    def add_all(self, figures: list[tuple[str, QueueFigures]], limits: MetricsLimits) -> int:
        """Add every queue's families; returns the agents left out by the per-agent cap."""
        agents_left = limits.max_agents
        dropped = 0
        for queue, queue_figures in figures:
            self._add_queue(queue, queue_figures)
            for agent_id, state in sorted(queue_figures.agent_states.items()):
                if agents_left <= 0:
                    dropped += 1
                    continue
                agents_left -= 1
                self._add("ccpulse_agent_status", [queue, agent_id, state.value], 1.0)
        return dropped

    def _add_queue(self, queue: str, figures: QueueFigures) -> None:
        for (channel, window), (aggregate, duration_ms) in figures.windows.items():
            kpis = snapshot(aggregate, figures.config, duration_ms)
            self._add_window([queue, channel, window], aggregate, kpis, agent_time=channel == ALL_CHANNELS)
            if window == WindowKind.TODAY.value:
                self._add_cumulative([queue, channel], aggregate)
        for channel, waits in sorted(figures.waiting.items()):
            labels = [queue, channel]
            self._add("ccpulse_waiting_contacts", labels, float(len(waits)))
            self._add("ccpulse_oldest_wait_seconds", labels, max(waits, default=0) / MS_PER_S)
            for threshold_s in figures.config.sl_thresholds_s:
                beyond = sum(1 for wait_ms in waits if wait_ms > threshold_s * MS_PER_S)
                self._add("ccpulse_waiting_beyond_threshold_contacts", [*labels, str(threshold_s)], float(beyond))
        for state, count in figures.agents.items():
            self._add("ccpulse_agents", [queue, state.value], float(count))
        staffed = sum(figures.agents[state] for state in STAFFED_STATES)
        self._add("ccpulse_staffed_agents", [queue], float(staffed))
        self._add("ccpulse_open_tickets", [queue], float(figures.open_tickets))
        if figures.staffing is not None:
            advice = figures.staffing
            for model, required, gap in (
                ("erlang_c", advice.required_erlang_c, advice.gap_erlang_c),
                ("erlang_a", advice.required_erlang_a, advice.gap_erlang_a),
            ):
                self._add("ccpulse_required_agents", [queue, model], float(required))
                self._add("ccpulse_staffing_gap_agents", [queue, model], float(gap))
        if queue != OTHER_QUEUE:
            config = figures.config
            self._add("ccpulse_sl_target_ratio", [queue, str(config.sl_target_threshold_s)], config.sl_target_ratio)

    def _add_window(self, labels: list[str], aggregate: QueueAggregate, kpis: KpiSnapshot, *, agent_time: bool) -> None:
        gauges = _SNAPSHOT_GAUGES + _AGENT_GAUGES if agent_time else _SNAPSHOT_GAUGES
        for name, attribute in gauges:
            value = getattr(kpis, attribute)
            if value is not None:
                self._add(name, labels, float(value))
        self._add("ccpulse_contacts_held", labels, float(aggregate.held_segments))
        self._add("ccpulse_answered_wait_seconds", labels, aggregate.sum_wait_answered_ms / MS_PER_S)
        self._add("ccpulse_abandoned_wait_seconds", labels, aggregate.sum_wait_abandoned_ms / MS_PER_S)
        self._add_service_levels(labels, aggregate)
        for outcome in ("answered", "abandoned"):
            for percentile, suffix in _WAIT_PERCENTILES:
                value = getattr(kpis, f"wait_{outcome}_{suffix}_s")
                if value is not None:
                    self._add("ccpulse_wait_percentile_seconds", [*labels, outcome, percentile], float(value))
        self._add_handling(labels, aggregate, kpis, agent_time=agent_time)

    def _add_service_levels(self, labels: list[str], aggregate: QueueAggregate) -> None:
        for threshold_ms in aggregate.sl_thresholds_ms:
            threshold_s = threshold_ms // MS_PER_S
            for formula in SlFormula:
                met, eligible = service_level_parts(aggregate, threshold_s, formula)
                sl_labels = [*labels, str(threshold_s), formula.value]
                self._add("ccpulse_service_level_met_contacts", sl_labels, float(met))
                self._add("ccpulse_service_level_eligible_contacts", sl_labels, float(eligible))
                if eligible > 0:
                    self._add("ccpulse_service_level_ratio", sl_labels, met / eligible)

    def _add_handling(
        self, labels: list[str], aggregate: QueueAggregate, kpis: KpiSnapshot, *, agent_time: bool
    ) -> None:
        for part, sum_attribute, average_attribute in _HANDLING_PARTS:
            self._add("ccpulse_handling_seconds", [*labels, part], getattr(aggregate, sum_attribute) / MS_PER_S)
            average = getattr(kpis, average_attribute)
            if average is not None:
                self._add("ccpulse_average_handling_seconds", [*labels, part], float(average))
        if agent_time:
            for state, attribute in _AGENT_TIME:
                self._add("ccpulse_agent_time_seconds", [*labels, state], getattr(aggregate, attribute) / MS_PER_S)
        for event in _TICKET_EVENTS:
            self._add("ccpulse_tickets", [*labels, event], float(getattr(aggregate, f"tickets_{event}")))
        for kind in _SURVEY_KINDS:
            self._add("ccpulse_survey_responses", [*labels, kind], float(getattr(aggregate, f"{kind}_count")))

    def _add_cumulative(self, labels: list[str], aggregate: QueueAggregate) -> None:
        self._add("ccpulse_queue_arrivals", labels, float(aggregate.arrivals))
        for outcome, attribute in _OUTCOME_COUNTS:
            self._add("ccpulse_queue_outcomes", [*labels, outcome], float(getattr(aggregate, attribute)))
        self._add("ccpulse_handled_contacts", labels, float(aggregate.handled))
        family = self._families.get("ccpulse_queue_wait_seconds")
        if family is None:
            family = self._families["ccpulse_queue_wait_seconds"] = _family("ccpulse_queue_wait_seconds")
        assert isinstance(family, HistogramMetricFamily)
        for outcome, counts, within, total, sum_ms in (
            (
                "answered",
                aggregate.answered_wait_counts,
                aggregate.answered_within,
                aggregate.answered,
                aggregate.sum_wait_answered_ms,
            ),
            (
                "abandoned",
                aggregate.abandoned_wait_counts,
                aggregate.abandoned_within,
                aggregate.abandoned,
                aggregate.sum_wait_abandoned_ms,
            ),
        ):
            buckets = wait_buckets(aggregate.wait_bounds_ms, counts, aggregate.sl_thresholds_ms, within)
            family.add_metric(
                [*labels, outcome],
                buckets=[
                    *((_seconds_label(bound_ms), float(count)) for bound_ms, count in buckets),
                    ("+Inf", float(total)),
                ],
                sum_value=sum_ms / MS_PER_S,
            )


def wait_buckets(
    bounds_ms: tuple[int, ...],
    counts: list[int],
    thresholds_ms: tuple[int, ...],
    within: list[int],
) -> list[tuple[int, int]]:
    """Cumulative (upper bound ms, count of waits <= bound) over the histogram bounds and the SL thresholds."""
    cumulative = dict(zip(bounds_ms, cumulative_counts(counts), strict=False))
    for threshold_ms, count in zip(thresholds_ms, within, strict=True):
        cumulative.setdefault(threshold_ms, count)
    return sorted(cumulative.items())


def _seconds_label(bound_ms: int) -> str:
    return f"{bound_ms / MS_PER_S:g}"


class ConsumerLagCollector(Collector):
    """``ccpulse_consumer_lag_messages`` for the partitions this worker owns, read at scrape time."""

    def __init__(self, read_lags: Callable[[], Mapping[tuple[str, int], int]]) -> None:
        self._read_lags = read_lags

    def collect(self) -> Iterator[Metric]:
        family = _family("ccpulse_consumer_lag_messages")
        for (topic, partition), lag in sorted(self._read_lags().items()):
            family.add_metric([topic, str(partition)], float(max(0, lag)))  # type: ignore[attr-defined]
        yield family


class SelfMetrics:
    """Counters and gauges about the worker itself, registered in the given registry."""

    def __init__(self, registry: CollectorRegistry, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.latest_event_s = 0.0
        build_info = _gauge("ccpulse_build_info", registry)
        build_info.labels(version=__version__, definitions=DEFINITIONS_VERSION).set(1)
        self.events_consumed = _counter("ccpulse_events_consumed", registry)
        self.events_rejected = _counter("ccpulse_events_rejected", registry)
        self.duplicates = _counter("ccpulse_duplicate_events", registry)
        self.out_of_order = _counter("ccpulse_out_of_order_events", registry)
        self.facts_emitted = _counter("ccpulse_facts_emitted", registry)
        self.input_offsets_skipped = _counter("ccpulse_input_offsets_skipped", registry)
        self.kpi_rows_published = _counter("ccpulse_kpi_rows_published", registry)
        self.last_event_time = _gauge("ccpulse_last_event_timestamp_seconds", registry)
        self.last_processed_time = _gauge("ccpulse_last_processed_timestamp_seconds", registry)
        processing_lag = _gauge("ccpulse_processing_lag_seconds", registry)
        processing_lag.set_function(self._processing_lag_s)
        for kind in ("upsert", "delete"):
            self.facts_emitted.labels(kind=kind)
        for reason in RejectReason:
            # Known label sets start at 0, so alerts on increase() see the first rejection.
            self.events_rejected.labels(reason=reason.value)

    def note_event_time(self, ts_s: float) -> None:
        """The largest event time read so far moved to ``ts_s``."""
        self.latest_event_s = ts_s
        self.last_event_time.set(ts_s)

    def _processing_lag_s(self) -> float:
        return max(0.0, self._clock() - self.latest_event_s) if self.latest_event_s else 0.0


def _counter(name: str, registry: CollectorRegistry) -> Counter:
    spec = BY_NAME[name]
    return Counter(name, spec.help, labelnames=spec.labels, registry=registry)


def _gauge(name: str, registry: CollectorRegistry) -> Gauge:
    spec = BY_NAME[name]
    return Gauge(name, spec.help, labelnames=spec.labels, registry=registry)
