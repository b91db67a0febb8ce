"""What a worker exports to Prometheus: KPI gauges built at scrape time from queue views, and self-metrics.

The views are real: an :class:`~ccpulse.domain.engine.Engine` fed hand-written
canonical events (its ``view`` is the QueueView a worker partition holds), so
every exported number is worked out by hand in the comments. Each test builds
its own CollectorRegistry (never the global one) and reads samples back with
``get_sample_value``.

BASE = 2026-09-21T09:00:00Z, so the 15-min interval open at NOW (09:10) is
[09:00, 09:15), ``rolling_5m`` is [09:05, 09:11) (current bucket plus 5 whole
ones), and ``today`` started at 00:00 UTC (the default queue config).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from prometheus_client import CollectorRegistry

from ccpulse.codec.events import RejectReason
from ccpulse.domain.engine import Engine, EngineConfig, apply_all
from ccpulse.domain.events import (
    AgentEvent,
    AgentState,
    CanonicalEvent,
    Channel,
    ContactEvent,
    ContactEventType,
    FlowOutReason,
    TicketEvent,
    TicketEventType,
)
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.queue_view import QueueView, ViewStats
from ccpulse.domain.windows import HOUR_MS, MINUTE_MS
from ccpulse.telemetry.metrics import KpiCollector, SelfMetrics

T0 = 1_790_035_200_000  # 2026-09-21T00:00:00Z
BASE = T0 + 9 * HOUR_MS
NOW = BASE + 10 * MINUTE_MS
S = 1000
E = ContactEventType
WINDOWS = {"interval_15m", "rolling_5m", "rolling_15m", "rolling_60m", "today"}


# -- building real views ---------------------------------------------------------


def stint(
    contact_id: str,
    queued_ms: int,
    wait_ms: int,
    outcome: ContactEventType | None,
    queue: str = "sales",
    channel: Channel = Channel.VOICE,
) -> list[ContactEvent]:
    """A contact queued at ``queued_ms``, leaving the queue ``wait_ms`` later by ``outcome`` (None: still waiting)."""
    events = [ContactEvent(f"{contact_id}-q", E.QUEUED, queued_ms, contact_id, queue=queue, channel=channel)]
    if outcome is E.ANSWERED:
        events.append(ContactEvent(f"{contact_id}-a", E.ANSWERED, queued_ms + wait_ms, contact_id, agent_id="a1"))
    elif outcome is E.FLOWED_OUT:
        events.append(
            ContactEvent(f"{contact_id}-f", E.FLOWED_OUT, queued_ms + wait_ms, contact_id, reason=FlowOutReason.TIMEOUT)
        )
    elif outcome is not None:
        events.append(ContactEvent(f"{contact_id}-o", outcome, queued_ms + wait_ms, contact_id))
    return events


def handled(
    contact_id: str, queued_ms: int, wait_ms: int, talk_ms: int, acw_ms: int, queue: str, channel: Channel
) -> list[ContactEvent]:
    """Queued, answered after ``wait_ms``, ended after ``talk_ms``, wrapped up after ``acw_ms``."""
    answered_ms = queued_ms + wait_ms
    ended_ms = answered_ms + talk_ms
    return [
        *stint(contact_id, queued_ms, wait_ms, E.ANSWERED, queue, channel),
        ContactEvent(f"{contact_id}-e", E.ENDED, ended_ms, contact_id, agent_id="a1"),
        ContactEvent(f"{contact_id}-w", E.WRAPUP_ENDED, ended_ms + acw_ms, contact_id, agent_id="a1"),
    ]


def four_sales_calls() -> list[ContactEvent]:
    """sales/voice, all in [09:00, 09:15): answered after 10 s and 25 s, abandoned after 40 s and 3 s.

    The 3 s abandon is short (default short_abandon_s = 5) and outside every
    denominator: offered 3, answered 2, abandoned 1, short abandoned 1.
    """
    return [
        *stint("c1", BASE + 1 * MINUTE_MS, 10 * S, E.ANSWERED),
        *stint("c2", BASE + 2 * MINUTE_MS, 25 * S, E.ANSWERED),
        *stint("c3", BASE + 3 * MINUTE_MS, 40 * S, E.ABANDONED),
        *stint("c4", BASE + 4 * MINUTE_MS, 3 * S, E.ABANDONED),
    ]


def view_of(events: Iterable[CanonicalEvent], now_ms: int = NOW, config: EngineConfig | None = None) -> QueueView:
    engine = Engine(config)
    apply_all(engine, events)
    engine.advance_to(now_ms)
    return engine.view


class Views:
    """Stands in for the worker: the views of the partitions it owns now, and whether recovery finished."""

    def __init__(self, *views: QueueView, now_ms: int = NOW, ready: bool = True) -> None:
        self.owned = [(view, now_ms) for view in views]
        self.ready = ready
        self.reads = 0

    def read(self) -> list[tuple[QueueView, int]]:
        self.reads += 1
        return list(self.owned)

    def is_ready(self) -> bool:
        return self.ready


def registry_with(views: Views, stats: ViewStats | None = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(views.read, views.is_ready, stats))
    return registry


def scrape(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in registry.collect() for s in family.samples]


def kpi(
    registry: CollectorRegistry, name: str, window: str = "interval_15m", queue: str = "sales", channel: str = "voice"
) -> float | None:
    return registry.get_sample_value(name, {"queue": queue, "channel": channel, "window": window})


def sl(
    registry: CollectorRegistry,
    threshold: int,
    formula: str = "offered",
    window: str = "interval_15m",
    queue: str = "sales",
    channel: str = "voice",
) -> float | None:
    labels = {"queue": queue, "channel": channel, "window": window, "threshold": str(threshold), "formula": formula}
    return registry.get_sample_value("ccpulse_service_level_ratio", labels)


# -- KPI gauges ------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["voice", "all"])
@pytest.mark.parametrize("window", ["interval_15m", "rolling_15m", "rolling_60m", "today"])
def test_queue_kpis_of_four_calls_worked_by_hand(window: str, channel: str) -> None:
    registry = registry_with(Views(view_of(four_sales_calls())))

    def value(name: str) -> float | None:
        return kpi(registry, name, window, channel=channel)

    assert value("ccpulse_contacts_arrived") == 4.0
    assert value("ccpulse_contacts_offered") == 3.0  # 2 answered + 1 abandoned; the 3 s abandon is short
    assert value("ccpulse_contacts_answered") == 2.0
    assert value("ccpulse_contacts_abandoned") == 1.0
    assert value("ccpulse_contacts_short_abandoned") == 1.0
    assert value("ccpulse_contacts_flowed_out") == 0.0
    assert value("ccpulse_contacts_handled") == 0.0  # answered, never ended
    assert value("ccpulse_asa_seconds") == 17.5  # (10 + 25) / 2
    assert value("ccpulse_abandonment_ratio") == 1 / 3  # 1 abandoned / 3 offered


@pytest.mark.parametrize(
    ("threshold", "formula", "expected"),
    [
        (20, "offered", 1 / 3),  # answered within 20 s (the 10 s one) / offered 3
        (20, "answered", 1 / 2),  # / answered 2
        (20, "ignore_early_abandons", 1 / 3),  # / (offered 3 - abandoned within 20 s 0)
        (20, "abandons_met", 1 / 3),  # (1 + 0) / 3
        (30, "offered", 2 / 3),  # 10 s and 25 s are within 30 s
        (60, "offered", 2 / 3),
        (60, "answered", 1.0),
        (60, "ignore_early_abandons", 1.0),  # 2 / (3 - 1: the 40 s abandon is within 60 s)
        (60, "abandons_met", 1.0),  # (2 + 1) / 3
    ],
)
def test_service_level_by_threshold_and_formula(threshold: int, formula: str, expected: float) -> None:
    registry = registry_with(Views(view_of(four_sales_calls())))

    assert sl(registry, threshold, formula) == expected
    assert sl(registry, threshold, formula, channel="all") == expected


def test_every_window_of_every_queue_and_channel_is_exported_with_the_configured_thresholds() -> None:
    registry = registry_with(Views(view_of(four_sales_calls())))

    samples = scrape(registry)
    offered = {
        (labels["channel"], labels["window"]) for name, labels, _ in samples if name == "ccpulse_contacts_offered"
    }
    assert offered == {(channel, window) for channel in ("voice", "all") for window in WINDOWS}
    levels = {
        (labels["threshold"], labels["formula"])
        for name, labels, _ in samples
        if name == "ccpulse_service_level_ratio" and labels["channel"] == "voice" and labels["window"] == "today"
    }
    formulas = ("offered", "answered", "ignore_early_abandons", "abandons_met")
    assert levels == {(t, f) for t in ("20", "30", "60") for f in formulas}  # default sl_thresholds_s


def test_a_queue_override_sets_its_own_threshold_labels() -> None:
    config = EngineConfig(
        queues=QueueConfigs(
            overrides={"billing": QueueConfig(sl_thresholds_s=(15,), sl_target_threshold_s=15, queue_name="billing")}
        )
    )
    events = [*four_sales_calls(), *stint("b1", BASE + MINUTE_MS, 12 * S, E.ANSWERED, queue="billing")]
    registry = registry_with(Views(view_of(events, config=config)))

    thresholds = {
        (labels["queue"], labels["threshold"])
        for name, labels, _ in scrape(registry)
        if name == "ccpulse_service_level_ratio"
    }
    assert thresholds == {("sales", "20"), ("sales", "30"), ("sales", "60"), ("billing", "15")}
    assert sl(registry, 15, queue="billing") == 1.0  # 12 s <= 15 s
    assert sl(registry, 20, queue="billing") is None


def test_window_without_offered_contacts_has_counts_of_zero_and_no_ratios() -> None:
    # rolling_5m at 09:10 covers [09:05, 09:11): every call left the queue before 09:05.
    registry = registry_with(Views(view_of(four_sales_calls())))

    assert kpi(registry, "ccpulse_contacts_offered", "rolling_5m") == 0.0
    assert kpi(registry, "ccpulse_contacts_arrived", "rolling_5m") == 0.0
    # An empty window has no ASA, abandonment or service level (not 0, not 100 %): no series at all.
    assert kpi(registry, "ccpulse_asa_seconds", "rolling_5m") is None
    assert kpi(registry, "ccpulse_abandonment_ratio", "rolling_5m") is None
    assert sl(registry, 20, window="rolling_5m") is None
    # Nothing handled anywhere: no AHT; no agent time: no occupancy.
    for window in WINDOWS:
        assert kpi(registry, "ccpulse_aht_seconds", window) is None
        assert kpi(registry, "ccpulse_occupancy_ratio", window, channel="all") is None


def test_channel_all_merges_the_channels_of_a_queue() -> None:
    # The four voice calls plus a chat that flowed out (timeout) after 90 s.
    events = [*four_sales_calls(), *stint("h1", BASE + 5 * MINUTE_MS, 90 * S, E.FLOWED_OUT, channel=Channel.CHAT)]
    registry = registry_with(Views(view_of(events)))

    assert kpi(registry, "ccpulse_contacts_offered", channel="chat") == 1.0
    assert kpi(registry, "ccpulse_contacts_flowed_out", channel="chat") == 1.0
    assert kpi(registry, "ccpulse_asa_seconds", channel="chat") is None  # nothing answered on chat
    assert kpi(registry, "ccpulse_abandonment_ratio", channel="chat") == 0.0
    # all = voice + chat: offered 3 + 1 = 4, answered 2, abandoned 1, flowed out 1.
    assert kpi(registry, "ccpulse_contacts_arrived", channel="all") == 5.0
    assert kpi(registry, "ccpulse_contacts_offered", channel="all") == 4.0
    assert kpi(registry, "ccpulse_contacts_flowed_out", channel="all") == 1.0
    assert kpi(registry, "ccpulse_asa_seconds", channel="all") == 17.5
    assert kpi(registry, "ccpulse_abandonment_ratio", channel="all") == 0.25
    assert sl(registry, 20, channel="all") == 0.25  # 1 answered within 20 s / 4 offered
    # Voice alone is unchanged.
    assert kpi(registry, "ccpulse_contacts_offered") == 3.0


def test_handle_time_and_occupancy() -> None:
    events: list[CanonicalEvent] = [
        # support/chat: talk 60 s + ACW 5 s = 65 s, and talk 120 s + ACW 10 s = 130 s; completed by 09:05:25.
        *handled("h1", BASE + 1 * MINUTE_MS, 5 * S, 60 * S, 5 * S, "support", Channel.CHAT),
        *handled("h2", BASE + 3 * MINUTE_MS, 15 * S, 120 * S, 10 * S, "support", Channel.CHAT),
        # a9 serves support: available 09:00-09:02, busy 09:02-09:08, then available (open span, not counted yet).
        AgentEvent("s1", BASE, "a9", AgentState.AVAILABLE, queues=("support",)),
        AgentEvent("s2", BASE + 2 * MINUTE_MS, "a9", AgentState.BUSY, queues=("support",)),
        AgentEvent("s3", BASE + 8 * MINUTE_MS, "a9", AgentState.AVAILABLE, queues=("support",)),
    ]
    registry = registry_with(Views(view_of(events)))

    for channel in ("chat", "all"):
        assert kpi(registry, "ccpulse_contacts_handled", queue="support", channel=channel) == 2.0
        assert kpi(registry, "ccpulse_aht_seconds", queue="support", channel=channel) == 97.5  # (65 + 130) / 2
        assert kpi(registry, "ccpulse_asa_seconds", queue="support", channel=channel) == 10.0  # (5 + 15) / 2
    # Closed spans: available 2 min, busy 6 min -> occupancy 6 / 8, on channel "all" only.
    assert kpi(registry, "ccpulse_occupancy_ratio", queue="support", channel="all") == 0.75
    assert kpi(registry, "ccpulse_occupancy_ratio", queue="support", channel="chat") is None


# -- live gauges ----------------------------------------------------------------------


def test_waiting_contacts_and_oldest_wait_now() -> None:
    events = [
        *four_sales_calls(),
        *stint("w1", BASE + 6 * MINUTE_MS, 0, None),  # waiting since 09:06:00: 240 s at 09:10
        *stint("w2", BASE + 7 * MINUTE_MS + 30 * S, 0, None),  # since 09:07:30: 150 s
        *stint("w3", BASE + 9 * MINUTE_MS + 50 * S, 0, None, channel=Channel.CHAT),  # since 09:09:50: 10 s
        *stint("w4", BASE + 8 * MINUTE_MS, 20 * S, E.ANSWERED, channel=Channel.CHAT),  # waited, no longer waits
    ]
    registry = registry_with(Views(view_of(events)))

    def live(name: str, channel: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "sales", "channel": channel})

    assert live("ccpulse_waiting_contacts", "voice") == 2.0
    assert live("ccpulse_oldest_wait_seconds", "voice") == 240.0
    assert live("ccpulse_waiting_contacts", "chat") == 1.0
    assert live("ccpulse_oldest_wait_seconds", "chat") == 10.0
    # Live gauges are per real channel; "all" is for windowed KPIs only.
    assert live("ccpulse_waiting_contacts", "all") is None
    # Waiting contacts arrived but are not offered yet.
    assert kpi(registry, "ccpulse_contacts_arrived") == 6.0
    assert kpi(registry, "ccpulse_contacts_offered") == 3.0


def test_a_channel_with_nobody_waiting_exports_zero_waiting_and_zero_oldest_wait() -> None:
    registry = registry_with(Views(view_of(four_sales_calls())))

    labels = {"queue": "sales", "channel": "voice"}
    assert registry.get_sample_value("ccpulse_waiting_contacts", labels) == 0.0
    assert registry.get_sample_value("ccpulse_oldest_wait_seconds", labels) == 0.0


def test_the_oldest_wait_is_read_at_the_clock_given_with_the_view() -> None:
    view = view_of([*stint("w1", BASE + 6 * MINUTE_MS, 0, None)])
    views = Views(view)
    registry = registry_with(views)
    assert registry.get_sample_value("ccpulse_oldest_wait_seconds", {"queue": "sales", "channel": "voice"}) == 240.0

    views.owned = [(view, NOW + 60 * S)]

    assert registry.get_sample_value("ccpulse_oldest_wait_seconds", {"queue": "sales", "channel": "voice"}) == 300.0


def test_a_contact_queued_after_the_clock_does_not_give_a_negative_oldest_wait() -> None:
    # The worker reads a partition's view at its watermark, the slowest source partition's stream
    # time, so the view can hold a contact queued after it (and wall-clock mode allows future skew).
    view = view_of(stint("w1", BASE + 6 * MINUTE_MS, 0, None))
    registry = registry_with(Views(view, now_ms=BASE + 5 * MINUTE_MS))

    oldest = registry.get_sample_value("ccpulse_oldest_wait_seconds", {"queue": "sales", "channel": "voice"})
    assert oldest == 0.0


def test_agents_by_state_now_per_queue_they_serve() -> None:
    events: list[CanonicalEvent] = [
        *four_sales_calls(),
        *stint("s1", BASE + MINUTE_MS, 8 * S, E.ANSWERED, queue="support", channel=Channel.CHAT),
        AgentEvent("e1", BASE, "ann", AgentState.AVAILABLE, queues=("sales",)),
        AgentEvent("e2", BASE + 2 * MINUTE_MS, "ann", AgentState.BUSY, queues=("sales",)),  # ann: busy now
        AgentEvent("e3", BASE, "bob", AgentState.AVAILABLE, queues=("sales", "support")),  # bob serves both
        AgentEvent("e4", BASE, "cem", AgentState.ACW, queues=("support",)),
        AgentEvent("e5", BASE + 5 * MINUTE_MS, "cem", AgentState.AWAY, queues=("support",)),
        AgentEvent("e6", BASE, "dee", AgentState.AVAILABLE, queues=("sales",)),
        AgentEvent("e7", BASE + 6 * MINUTE_MS, "dee", AgentState.LOGGED_OUT, queues=("sales",)),
    ]
    registry = registry_with(Views(view_of(events)))

    def agents(queue: str) -> dict[str, float | None]:
        return {
            state.value: registry.get_sample_value("ccpulse_agents", {"queue": queue, "state": state.value})
            for state in AgentState
        }

    # Every state is exported, 0 included, so a sum over states is the agents known to the queue.
    assert agents("sales") == {"logged_out": 1.0, "available": 1.0, "busy": 1.0, "acw": 0.0, "away": 0.0}
    assert agents("support") == {"logged_out": 0.0, "available": 1.0, "busy": 0.0, "acw": 0.0, "away": 1.0}


def test_a_queue_with_agents_but_no_contacts_yet_exports_its_agents() -> None:
    # Before the first contact of the day, a dashboard should still see who is logged in.
    registry = registry_with(Views(view_of([AgentEvent("e1", BASE, "ann", AgentState.AVAILABLE, queues=("sales",))])))

    assert registry.get_sample_value("ccpulse_agents", {"queue": "sales", "state": "available"}) == 1.0


def test_open_tickets_per_queue() -> None:
    events: list[CanonicalEvent] = [
        *four_sales_calls(),
        TicketEvent("t1-c", TicketEventType.CREATED, BASE + MINUTE_MS, "t1", queue="sales", channel=Channel.EMAIL),
        TicketEvent("t2-c", TicketEventType.CREATED, BASE + MINUTE_MS, "t2", queue="sales", channel=Channel.EMAIL),
        TicketEvent("t2-s", TicketEventType.SOLVED, BASE + 5 * MINUTE_MS, "t2"),
    ]
    registry = registry_with(Views(view_of(events)))

    assert registry.get_sample_value("ccpulse_open_tickets", {"queue": "sales"}) == 1.0  # t1 open, t2 solved


# -- readiness, rebalances, several views ----------------------------------------------


def test_not_ready_exports_only_worker_ready_zero_and_does_not_read_the_views() -> None:
    views = Views(view_of(four_sales_calls()), ready=False)
    registry = registry_with(views)

    assert scrape(registry) == [("ccpulse_worker_ready", {}, 0.0)]
    assert kpi(registry, "ccpulse_contacts_offered") is None
    assert views.reads == 0

    views.ready = True  # recovery finished

    assert registry.get_sample_value("ccpulse_worker_ready") == 1.0
    assert kpi(registry, "ccpulse_contacts_offered") == 3.0


def test_ready_with_no_views_exports_readiness_and_no_kpi_series() -> None:
    assert scrape(registry_with(Views())) == [
        ("ccpulse_worker_ready", {}, 1.0),
        ("ccpulse_metrics_folded_queues", {}, 0.0),
    ]


def test_a_view_with_no_data_exports_no_kpi_series() -> None:
    assert scrape(registry_with(Views(QueueView()))) == [
        ("ccpulse_worker_ready", {}, 1.0),
        ("ccpulse_metrics_folded_queues", {}, 0.0),
    ]


def test_each_scrape_reads_the_views_afresh_and_a_revoked_partitions_series_vanish() -> None:
    sales = view_of(four_sales_calls())
    billing = view_of([*stint("b1", BASE + MINUTE_MS, 12 * S, E.ANSWERED, queue="billing", channel=Channel.CHAT)])
    views = Views(sales, billing)
    registry = registry_with(views)
    assert kpi(registry, "ccpulse_contacts_offered") == 3.0
    assert kpi(registry, "ccpulse_contacts_offered", queue="billing", channel="chat") == 1.0

    # A rebalance moves the sales partition to another worker: its series must vanish, not go stale.
    views.owned = [(billing, NOW)]

    samples = scrape(registry)
    assert [labels for _, labels, _ in samples if labels.get("queue") == "sales"] == []
    assert kpi(registry, "ccpulse_contacts_offered", queue="billing", channel="chat") == 1.0
    assert registry.get_sample_value("ccpulse_agents", {"queue": "billing", "state": "busy"}) == 0.0
    assert views.reads == 5  # one read per scrape (each get_sample_value is one)


def test_views_of_several_partitions_are_exported_side_by_side() -> None:
    sales = view_of(four_sales_calls())
    billing = view_of([*stint("b1", BASE + MINUTE_MS, 12 * S, E.ANSWERED, queue="billing", channel=Channel.CHAT)])
    registry = registry_with(Views(sales, billing))

    queues = {labels["queue"] for name, labels, _ in scrape(registry) if name == "ccpulse_open_tickets"}
    assert queues == {"sales", "billing"}
    assert kpi(registry, "ccpulse_asa_seconds", queue="billing", channel="chat") == 12.0
    assert kpi(registry, "ccpulse_asa_seconds") == 17.5


def test_reaped_stints_are_a_counter_from_the_view_stats() -> None:
    # A contact that waits longer than max_queue_age (4 h) is dropped from the waiting view and counted.
    engine = Engine()
    apply_all(engine, stint("w1", BASE, 0, None))
    engine.advance_to(BASE + 4 * HOUR_MS + 10 * MINUTE_MS)
    views = Views(engine.view, now_ms=BASE + 4 * HOUR_MS + 10 * MINUTE_MS)
    registry = registry_with(views, engine.stats)

    assert registry.get_sample_value("ccpulse_reaped_stints_total") == 1.0
    assert registry.get_sample_value("ccpulse_waiting_contacts", {"queue": "sales", "channel": "voice"}) == 0.0

    views.ready = False  # not a KPI series: still exported while tables recover

    assert scrape(registry) == [("ccpulse_worker_ready", {}, 0.0), ("ccpulse_reaped_stints_total", {}, 1.0)]


def test_kpi_collector_and_self_metrics_share_a_registry() -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)
    views = Views(view_of(four_sales_calls()))
    registry.register(KpiCollector(views.read, views.is_ready, ViewStats()))

    assert registry.get_sample_value("ccpulse_events_consumed_total") == 0.0
    assert kpi(registry, "ccpulse_contacts_offered") == 3.0


# -- self-metrics ------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(RejectReason), ids=str)
def test_self_metrics_pre_create_every_reject_reason_at_zero(reason: RejectReason) -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)

    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": reason.value}) == 0.0


def test_late_and_future_are_reject_reasons_with_their_own_series() -> None:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)

    metrics.events_rejected.labels(reason=RejectReason.LATE.value).inc(2)

    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": "late"}) == 2.0
    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": "future"}) == 0.0


@pytest.mark.parametrize("kind", ["upsert", "delete"])
def test_self_metrics_pre_create_every_fact_kind_at_zero(kind: str) -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)

    assert registry.get_sample_value("ccpulse_facts_emitted_total", {"kind": kind}) == 0.0


def test_self_metrics_counters_start_at_zero_and_count() -> None:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)

    metrics.events_rejected.labels(reason=RejectReason.NOT_JSON.value).inc()
    metrics.events_consumed.inc(3)
    metrics.facts_emitted.labels(kind="upsert").inc(5)
    metrics.facts_emitted.labels(kind="delete").inc()
    metrics.kpi_rows_published.inc(7)
    metrics.last_event_time.set(1_790_068_200.5)

    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": "not_json"}) == 1.0
    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": "not_utf8"}) == 0.0
    assert registry.get_sample_value("ccpulse_events_consumed_total") == 3.0
    assert registry.get_sample_value("ccpulse_duplicate_events_total") == 0.0
    assert registry.get_sample_value("ccpulse_facts_emitted_total", {"kind": "upsert"}) == 5.0
    assert registry.get_sample_value("ccpulse_facts_emitted_total", {"kind": "delete"}) == 1.0
    assert registry.get_sample_value("ccpulse_kpi_rows_published_total") == 7.0
    assert registry.get_sample_value("ccpulse_last_event_timestamp_seconds") == 1_790_068_200.5


def test_self_metrics_have_no_series_of_the_retired_names() -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)

    names = {sample.name for family in registry.collect() for sample in family.samples}
    assert "ccpulse_events_ignored_total" not in names
    for kind in ("published", "retracted"):  # the old kinds of facts_emitted
        assert registry.get_sample_value("ccpulse_facts_emitted_total", {"kind": kind}) is None, kind


def test_two_registries_do_not_share_self_metrics() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    SelfMetrics(first).events_consumed.inc()
    SelfMetrics(second)

    assert first.get_sample_value("ccpulse_events_consumed_total") == 1.0
    assert second.get_sample_value("ccpulse_events_consumed_total") == 0.0
