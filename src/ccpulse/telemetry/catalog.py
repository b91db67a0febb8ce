"""Every metric a worker can export: the contract for dashboards, recording rules and alerts.

The collector builds only families listed here (a test holds it to that), so
this module is the one place to read what ``/metrics`` may contain. Sample
names follow from the type: a counter ``x`` is sampled as ``x_total``, a
histogram as ``x_bucket``, ``x_sum`` and ``x_count``.

Label sets:
- window KPIs: ``queue``, ``channel`` (a channel or ``all``), ``window``
  (``interval_15m``, ``rolling_5m``, ``rolling_15m``, ``rolling_60m``, ``today``);
- live figures: ``queue`` and ``channel``, or ``queue`` alone;
- cumulative counters and histograms count since the queue's daily reset (the
  ``today`` window), so ``rate()`` and ``increase()`` work across workers and
  restarts; a day boundary shows as an ordinary counter reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MetricKind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...]

    def sample_names(self) -> tuple[str, ...]:
        """The names that appear in the exposition for this family."""
        if self.kind is MetricKind.COUNTER:
            return (f"{self.name}_total",)
        if self.kind is MetricKind.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


WINDOW = ("queue", "channel", "window")
LIVE = ("queue", "channel")
QUEUE = ("queue",)
G, C, H = MetricKind.GAUGE, MetricKind.COUNTER, MetricKind.HISTOGRAM


def _gauge(name: str, help_text: str, labels: tuple[str, ...] = WINDOW) -> MetricSpec:
    return MetricSpec(name, G, help_text, labels)


# -- KPIs of a window ------------------------------------------------------------------------

WINDOW_VOLUMES = (
    _gauge("ccpulse_contacts_arrived", "Contacts that entered the queue in the window."),
    _gauge("ccpulse_contacts_offered", "Answered + abandoned + flowed out in the window (short abandons excluded)."),
    _gauge("ccpulse_contacts_answered", "Queue stints answered in the window."),
    _gauge("ccpulse_contacts_abandoned", "Queue stints abandoned in the window (short abandons excluded)."),
    _gauge("ccpulse_contacts_short_abandoned", "Abandons within the queue's short-abandon threshold in the window."),
    _gauge("ccpulse_contacts_flowed_out", "Queue stints that left by timeout or overflow in the window."),
    _gauge("ccpulse_contacts_handled", "Handling segments completed (wrap-up or ACW timeout) in the window."),
    _gauge("ccpulse_contacts_transferred", "Handled segments that ended in a transfer in the window."),
    _gauge("ccpulse_contacts_held", "Handled segments with at least one hold in the window."),
    _gauge("ccpulse_acw_timeouts", "Handled segments whose after-contact work ended by timeout in the window."),
)

SERVICE_LEVEL = (
    MetricSpec(
        "ccpulse_service_level_ratio",
        G,
        "Service level in the window for an SL threshold (seconds) and formula (offered, answered, "
        "ignore_early_abandons, abandons_met); met / eligible.",
        (*WINDOW, "threshold", "formula"),
    ),
    MetricSpec(
        "ccpulse_service_level_met_contacts",
        G,
        "Service level numerator: contacts that met the threshold under the formula, in the window.",
        (*WINDOW, "threshold", "formula"),
    ),
    MetricSpec(
        "ccpulse_service_level_eligible_contacts",
        G,
        "Service level denominator: contacts the formula counts, in the window.",
        (*WINDOW, "threshold", "formula"),
    ),
)

WINDOW_KPIS = (
    _gauge("ccpulse_asa_seconds", "Average speed of answer in the window: answered wait / answered."),
    _gauge("ccpulse_answered_wait_seconds", "Sum of the waits of answered contacts in the window (ASA numerator)."),
    _gauge("ccpulse_abandoned_wait_seconds", "Sum of the waits of abandoned contacts in the window."),
    _gauge("ccpulse_abandonment_ratio", "Abandoned / offered in the window (short abandons excluded)."),
    _gauge("ccpulse_flow_out_ratio", "Flowed out / offered in the window."),
    _gauge("ccpulse_average_abandoned_wait_seconds", "Average wait of abandoned contacts in the window."),
    _gauge("ccpulse_max_answered_wait_seconds", "Longest wait of an answered contact in the window."),
    MetricSpec(
        "ccpulse_wait_percentile_seconds",
        G,
        "Wait percentile (50, 90, 95) of answered or abandoned contacts in the window, from the wait histogram.",
        (*WINDOW, "outcome", "percentile"),
    ),
    _gauge("ccpulse_abandonment_hazard_per_second", "Abandons per second of waiting (1 / mean patience)."),
    _gauge("ccpulse_arrival_rate_per_second", "Arrivals per second over the window's length."),
    _gauge("ccpulse_aht_seconds", "Average handle time (talk + hold + ACW) in the window."),
    MetricSpec(
        "ccpulse_average_handling_seconds",
        G,
        "Average talk, hold or ACW time per handled segment in the window.",
        (*WINDOW, "part"),
    ),
    MetricSpec(
        "ccpulse_handling_seconds",
        G,
        "Sum of talk, hold or ACW time of the segments handled in the window (AHT numerator).",
        (*WINDOW, "part"),
    ),
    _gauge("ccpulse_transfer_ratio", "Transferred / handled in the window."),
    _gauge("ccpulse_hold_ratio", "Handled segments with a hold / handled in the window."),
    _gauge("ccpulse_acw_timeout_ratio", "ACW timeouts / handled in the window."),
    _gauge("ccpulse_resolved_ratio", "Segments marked resolved / segments with a resolution in the window."),
    _gauge("ccpulse_fcr_ratio", "First contact resolution: handled contacts with no repeat in the repeat window."),
    _gauge("ccpulse_complaint_ratio", "Complaint dispositions / handled in the window."),
    _gauge("ccpulse_contact_escalation_ratio", "Escalation dispositions / handled in the window."),
    _gauge("ccpulse_occupancy_ratio", "(busy + ACW) / (available + busy + ACW) agent time (channel 'all' only)."),
    MetricSpec(
        "ccpulse_agent_time_seconds",
        G,
        "Agent time attributed to the queue in the window, by state (channel 'all' only).",
        (*WINDOW, "state"),
    ),
    _gauge("ccpulse_cost_per_contact", "Staffed agent cost / handled in the window, in the queue's currency."),
    _gauge("ccpulse_contacts_per_agent_hour", "Handled / staffed agent hours in the window."),
    MetricSpec(
        "ccpulse_tickets", G, "Ticket steps in the window, by event (created, solved, ...).", (*WINDOW, "event")
    ),
    _gauge("ccpulse_ticket_first_response_seconds", "Mean time to the first public reply of tickets in the window."),
    _gauge("ccpulse_ticket_resolution_seconds", "Mean time from creation to solve of tickets solved in the window."),
    _gauge("ccpulse_ticket_one_touch_ratio", "Tickets solved with one public reply / solved, in the window."),
    _gauge("ccpulse_ticket_reopen_ratio", "Reopened / solved tickets in the window."),
    _gauge("ccpulse_ticket_escalation_ratio", "Escalated / created tickets in the window."),
    MetricSpec("ccpulse_survey_responses", G, "Survey responses in the window, by kind.", (*WINDOW, "kind")),
    _gauge("ccpulse_csat_ratio", "Satisfied (4-5) / CSAT responses in the window."),
    _gauge("ccpulse_nps_score", "Net promoter score in the window, -100..100."),
    _gauge("ccpulse_ces_score", "Mean customer effort score in the window."),
    _gauge("ccpulse_esat_score", "Mean employee satisfaction score in the window."),
)

# -- now -------------------------------------------------------------------------------------

LIVE_FIGURES = (
    _gauge("ccpulse_waiting_contacts", "Contacts waiting in the queue now.", LIVE),
    _gauge("ccpulse_oldest_wait_seconds", "How long the longest-waiting contact has waited now (0: nobody).", LIVE),
    MetricSpec(
        "ccpulse_waiting_beyond_threshold_contacts",
        G,
        "Contacts waiting now for longer than an SL threshold (seconds).",
        (*LIVE, "threshold"),
    ),
    MetricSpec("ccpulse_agents", G, "Agents serving the queue now, by state.", (*QUEUE, "state")),
    _gauge("ccpulse_staffed_agents", "Agents serving the queue now who are available, busy or in ACW.", QUEUE),
    _gauge("ccpulse_open_tickets", "Tickets of the queue open now.", QUEUE),
    MetricSpec(
        "ccpulse_required_agents",
        G,
        "Agents needed now for the queue's SL target, by model (erlang_c, erlang_a), from the rolling "
        "arrival rate and AHT.",
        (*QUEUE, "model"),
    ),
    MetricSpec(
        "ccpulse_staffing_gap_agents",
        G,
        "Required minus staffed agents now, by model; positive means understaffed.",
        (*QUEUE, "model"),
    ),
    MetricSpec(
        "ccpulse_sl_target_ratio",
        G,
        "The queue's service-level target; ``threshold`` is the target's threshold in seconds.",
        (*QUEUE, "threshold"),
    ),
    MetricSpec(
        "ccpulse_agent_status",
        G,
        "1 for each agent's state now (only with metrics_per_agent; capped by metrics_max_agents).",
        (*QUEUE, "agent", "state"),
    ),
)

# -- cumulative (today) ----------------------------------------------------------------------

CUMULATIVE = (
    MetricSpec("ccpulse_queue_arrivals", C, "Contacts that entered the queue since its daily reset.", LIVE),
    MetricSpec(
        "ccpulse_queue_outcomes",
        C,
        "Queue stints finished since the queue's daily reset, by outcome "
        "(answered, abandoned, short_abandoned, flowed_out).",
        (*LIVE, "outcome"),
    ),
    MetricSpec(
        "ccpulse_queue_wait_seconds",
        H,
        "Waits of answered and abandoned (not short) contacts since the queue's daily reset; the "
        "buckets include every SL threshold.",
        (*LIVE, "outcome"),
    ),
    MetricSpec("ccpulse_handled_contacts", C, "Handling segments completed since the queue's daily reset.", LIVE),
)

# -- the worker itself -----------------------------------------------------------------------

SELF = (
    MetricSpec(
        "ccpulse_build_info", G, "1, labelled with the version and KPI definitions.", ("version", "definitions")
    ),
    MetricSpec(
        "ccpulse_worker_ready",
        G,
        "1 when this worker's tables are recovered and its KPI series are complete, else 0.",
        (),
    ),
    MetricSpec("ccpulse_events_consumed", C, "Messages read from the input topic, valid or not.", ()),
    MetricSpec("ccpulse_events_rejected", C, "Messages sent to the dead-letter topic, by reason.", ("reason",)),
    MetricSpec(
        "ccpulse_duplicate_events",
        C,
        "Events whose event_id their contact, agent or ticket had already applied; they changed nothing.",
        (),
    ),
    MetricSpec(
        "ccpulse_out_of_order_events",
        C,
        "Valid events older than their input partition's stream time (accepted; windows are corrected).",
        (),
    ),
    MetricSpec(
        "ccpulse_facts_emitted",
        C,
        "Records written to the contact-facts topic, by kind (upsert, or delete: a tombstone).",
        ("kind",),
    ),
    MetricSpec(
        "ccpulse_input_offsets_skipped",
        C,
        "Offsets the Kafka consumer skipped before delivering a later one; the worker rewound and read them.",
        (),
    ),
    MetricSpec(
        "ccpulse_kpi_rows_published",
        C,
        "Rows written to the KPI topic (open windows when changed, final rows, corrections).",
        (),
    ),
    MetricSpec(
        "ccpulse_reaped_stints",
        C,
        "Contacts dropped from the waiting view after waiting longer than max_queue_age.",
        (),
    ),
    MetricSpec(
        "ccpulse_last_event_timestamp_seconds",
        G,
        "Largest event time in the valid input read so far, as a Unix timestamp.",
        (),
    ),
    MetricSpec(
        "ccpulse_last_processed_timestamp_seconds",
        G,
        "Wall-clock time this worker last processed an input message, as a Unix timestamp.",
        (),
    ),
    MetricSpec(
        "ccpulse_processing_lag_seconds",
        G,
        "Wall-clock now minus the largest event time read (how far behind live the worker is).",
        (),
    ),
    MetricSpec(
        "ccpulse_consumer_lag_messages",
        G,
        "Messages not yet read in an owned partition of the input topic or of an internal stage topic "
        "(high watermark minus position).",
        ("topic", "partition"),
    ),
    MetricSpec(
        "ccpulse_metrics_folded_queues",
        G,
        'Queues beyond metrics_max_queues whose figures are exported under queue="other".',
        (),
    ),
    MetricSpec(
        "ccpulse_metrics_dropped_agents",
        G,
        "Agents beyond metrics_max_agents left out of ccpulse_agent_status.",
        (),
    ),
)

CATALOG: tuple[MetricSpec, ...] = (
    *WINDOW_VOLUMES,
    *SERVICE_LEVEL,
    *WINDOW_KPIS,
    *LIVE_FIGURES,
    *CUMULATIVE,
    *SELF,
)
BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in CATALOG}

#: Label value that stands for every queue beyond the metrics_max_queues cap.
OTHER_QUEUE = "other"


def sample_names() -> frozenset[str]:
    """Every sample name the worker may expose (for checking dashboards and rules)."""
    return frozenset(name for spec in CATALOG for name in spec.sample_names())
