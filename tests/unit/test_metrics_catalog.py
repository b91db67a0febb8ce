"""The exported families match the catalog, and the families beyond plain gauges carry hand-checked numbers.

Scenarios reuse the helpers of ``test_metrics`` (BASE = 2026-09-21T09:00Z, NOW = 09:10).
``four_sales_calls``: sales/voice answered after 10 s and 25 s, abandoned after 40 s, and a
3 s short abandon (outside every denominator).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ccpulse.bench.engine_bench import BenchPlan, generate_messages
from ccpulse.codec.events import decode_event
from ccpulse.domain.engine import EngineConfig
from ccpulse.domain.events import (
    AgentEvent,
    AgentState,
    CanonicalEvent,
    Channel,
    ContactEvent,
    SurveyEvent,
    SurveyKind,
    TicketEvent,
    TicketEventType,
)
from ccpulse.domain.queue_config import QueueConfig, QueueConfigs
from ccpulse.domain.queue_view import QueueView, ViewStats
from ccpulse.domain.windows import HOUR_MS
from ccpulse.telemetry.catalog import BY_NAME, CATALOG, OTHER_QUEUE, MetricKind
from ccpulse.telemetry.metrics import ConsumerLagCollector, KpiCollector, MetricsLimits, SelfMetrics, wait_buckets
from tests.unit.test_metrics import BASE, MINUTE_MS, NOW, E, S, Views, four_sales_calls, handled, stint, view_of

ROOT = Path(__file__).resolve().parents[2]
SALES_VOICE = {"queue": "sales", "channel": "voice"}


def registry_for(
    events: list[CanonicalEvent], limits: MetricsLimits | None = None, config: EngineConfig | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(Views(view_of(events, config=config)).read, lambda: True, None, limits))
    return registry


# -- service level numerator and denominator ------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "formula", "met", "eligible"),
    [
        # offered = 3 (2 answered + 1 abandoned after 40 s); the 3 s abandon is short.
        ("20", "offered", 1, 3),  # answered within 20 s: the 10 s one
        ("30", "offered", 2, 3),  # 10 s and 25 s
        ("20", "answered", 1, 2),
        ("20", "ignore_early_abandons", 1, 3),  # no abandon within 20 s (the 40 s one is not)
        ("60", "ignore_early_abandons", 2, 2),  # the 40 s abandon is early for 60 s: out of the denominator
        ("60", "abandons_met", 3, 3),  # it counts as met instead
    ],
)
def test_service_level_numerator_and_denominator(threshold: str, formula: str, met: int, eligible: int) -> None:
    registry = registry_for(four_sales_calls())
    labels = {**SALES_VOICE, "window": "interval_15m", "threshold": threshold, "formula": formula}

    assert registry.get_sample_value("ccpulse_service_level_met_contacts", labels) == met
    assert registry.get_sample_value("ccpulse_service_level_eligible_contacts", labels) == eligible
    assert registry.get_sample_value("ccpulse_service_level_ratio", labels) == pytest.approx(met / eligible)


def test_asa_numerator_is_the_sum_of_answered_waits() -> None:
    registry = registry_for(four_sales_calls())
    labels = {**SALES_VOICE, "window": "interval_15m"}

    assert registry.get_sample_value("ccpulse_answered_wait_seconds", labels) == 35.0  # 10 + 25
    assert registry.get_sample_value("ccpulse_contacts_answered", labels) == 2.0
    assert registry.get_sample_value("ccpulse_asa_seconds", labels) == 17.5
    assert registry.get_sample_value("ccpulse_abandoned_wait_seconds", labels) == 40.0  # the short one excluded


def test_handling_parts_sum_to_the_aht_numerator() -> None:
    # Two handled calls: talk 60 s + ACW 10 s, and talk 120 s + ACW 20 s; no holds.
    events = [
        *handled("h1", BASE + MINUTE_MS, 5 * S, 60 * S, 10 * S, "sales", Channel.VOICE),
        *handled("h2", BASE + 2 * MINUTE_MS, 5 * S, 120 * S, 20 * S, "sales", Channel.VOICE),
    ]
    registry = registry_for(events)
    labels = {**SALES_VOICE, "window": "interval_15m"}

    parts = {
        part: registry.get_sample_value("ccpulse_handling_seconds", {**labels, "part": part})
        for part in ("talk", "hold", "acw")
    }
    assert parts == {"talk": 180.0, "hold": 0.0, "acw": 30.0}
    assert registry.get_sample_value("ccpulse_average_handling_seconds", {**labels, "part": "talk"}) == 90.0
    assert registry.get_sample_value("ccpulse_aht_seconds", labels) == 105.0  # (180 + 30) / 2


# -- cumulative counters and the wait histogram (today) ---------------------------------------


def test_outcome_counters_count_since_the_daily_reset() -> None:
    registry = registry_for(four_sales_calls())

    def outcome(name: str) -> float | None:
        return registry.get_sample_value("ccpulse_queue_outcomes_total", {**SALES_VOICE, "outcome": name})

    assert registry.get_sample_value("ccpulse_queue_arrivals_total", SALES_VOICE) == 4.0
    assert [outcome(o) for o in ("answered", "abandoned", "short_abandoned", "flowed_out")] == [2.0, 1.0, 1.0, 0.0]


def test_wait_histogram_has_cumulative_buckets_at_every_bound_and_threshold() -> None:
    registry = registry_for(four_sales_calls())

    def bucket(outcome: str, le: str) -> float | None:
        return registry.get_sample_value(
            "ccpulse_queue_wait_seconds_bucket", {**SALES_VOICE, "outcome": outcome, "le": le}
        )

    # Answered waits 10 s and 25 s (le is "wait <= bound").
    assert [bucket("answered", le) for le in ("5", "10", "20", "30", "+Inf")] == [0.0, 1.0, 1.0, 2.0, 2.0]
    assert registry.get_sample_value("ccpulse_queue_wait_seconds_sum", {**SALES_VOICE, "outcome": "answered"}) == 35.0
    assert registry.get_sample_value("ccpulse_queue_wait_seconds_count", {**SALES_VOICE, "outcome": "answered"}) == 2.0
    # The abandon after 40 s; the 3 s short abandon is not in the histogram.
    assert [bucket("abandoned", le) for le in ("30", "45", "+Inf")] == [0.0, 1.0, 1.0]


def test_thresholds_that_are_not_histogram_bounds_still_get_a_bucket() -> None:
    # Bounds 10 and 60 s, SL threshold 25 s: waits 5, 20, 50 s.
    buckets = wait_buckets((10_000, 60_000), [1, 2, 0], (25_000,), [2])

    assert buckets == [(10_000, 1), (25_000, 2), (60_000, 3)]


# -- live figures per queue --------------------------------------------------------------------


def test_waiting_beyond_each_threshold_now() -> None:
    # Waiting at NOW (09:10): queued 09:09:50 (10 s), 09:09:35 (25 s) and 09:08:00 (120 s).
    events = [
        *stint("w1", NOW - 10 * S, 0, None),
        *stint("w2", NOW - 25 * S, 0, None),
        *stint("w3", NOW - 120 * S, 0, None),
    ]
    registry = registry_for(events)

    beyond = {
        threshold: registry.get_sample_value(
            "ccpulse_waiting_beyond_threshold_contacts", {**SALES_VOICE, "threshold": threshold}
        )
        for threshold in ("20", "30", "60")
    }
    assert beyond == {"20": 2.0, "30": 1.0, "60": 1.0}


def test_sl_target_is_exported_with_its_threshold() -> None:
    config = EngineConfig(queues=QueueConfigs(QueueConfig(sl_target_threshold_s=30, sl_target_ratio=0.9)))
    registry = registry_for(four_sales_calls(), config=config)

    assert registry.get_sample_value("ccpulse_sl_target_ratio", {"queue": "sales", "threshold": "30"}) == 0.9


def test_staffing_gap_and_required_agents_from_erlang() -> None:
    # 10 handled calls in the last 15 minutes, AHT 180 s, one agent staffed: traffic 10 * 180 / 900 = 2 erlangs,
    # so at least 3 agents are needed for any service level; the gap is positive.
    events: list[CanonicalEvent] = [AgentEvent("a", BASE, "ann", AgentState.AVAILABLE, queues=("sales",))]
    for i in range(10):
        events += handled(f"h{i}", BASE + i * 30 * S, 2 * S, 170 * S, 10 * S, "sales", Channel.VOICE)
    registry = registry_for(events)

    required = registry.get_sample_value("ccpulse_required_agents", {"queue": "sales", "model": "erlang_c"})
    gap = registry.get_sample_value("ccpulse_staffing_gap_agents", {"queue": "sales", "model": "erlang_c"})
    assert required is not None
    assert required >= 3
    assert gap == required - 1


# -- cardinality guards ----------------------------------------------------------------------------


def test_queues_beyond_the_cap_are_folded_into_other() -> None:
    events = [
        *stint("b1", BASE + MINUTE_MS, 10 * S, E.ANSWERED, queue="billing"),
        *four_sales_calls(),
        *stint("t1", BASE + MINUTE_MS, 50 * S, E.ANSWERED, queue="tech"),
        *stint("t2", NOW - 30 * S, 0, None, queue="tech"),
    ]
    registry = registry_for(events, MetricsLimits(max_queues=1))

    def offered(queue: str) -> float | None:
        return registry.get_sample_value(
            "ccpulse_contacts_offered", {"queue": queue, "channel": "voice", "window": "interval_15m"}
        )

    # Queues are kept in name order: billing stays; sales (3 offered) and tech (1) become "other".
    assert (offered("billing"), offered("sales"), offered("tech"), offered(OTHER_QUEUE)) == (1.0, None, None, 4.0)
    assert registry.get_sample_value("ccpulse_metrics_folded_queues") == 2.0
    assert registry.get_sample_value("ccpulse_waiting_contacts", {"queue": OTHER_QUEUE, "channel": "voice"}) == 1.0
    assert registry.get_sample_value("ccpulse_oldest_wait_seconds", {"queue": OTHER_QUEUE, "channel": "voice"}) == 30.0
    # An SL target and Erlang advice belong to one queue; a mixture has neither.
    assert registry.get_sample_value("ccpulse_sl_target_ratio", {"queue": OTHER_QUEUE, "threshold": "20"}) is None


def test_agent_status_is_opt_in_and_capped() -> None:
    events: list[CanonicalEvent] = [
        AgentEvent("e1", BASE, "ann", AgentState.BUSY, queues=("sales",)),
        AgentEvent("e2", BASE, "bob", AgentState.AVAILABLE, queues=("sales",)),
    ]
    assert (
        registry_for(events).get_sample_value(
            "ccpulse_agent_status", {"queue": "sales", "agent": "ann", "state": "busy"}
        )
        is None
    )

    registry = registry_for(events, MetricsLimits(per_agent=True, max_agents=1))

    assert registry.get_sample_value("ccpulse_agent_status", {"queue": "sales", "agent": "ann", "state": "busy"}) == 1
    assert (
        registry.get_sample_value("ccpulse_agent_status", {"queue": "sales", "agent": "bob", "state": "available"})
        is None
    )
    assert registry.get_sample_value("ccpulse_metrics_dropped_agents") == 1.0


# -- self-metrics ------------------------------------------------------------------------------------


def test_processing_lag_is_wall_clock_minus_the_latest_event_time() -> None:
    registry = CollectorRegistry()
    wall_s = [1_000.0]
    metrics = SelfMetrics(registry, clock=lambda: wall_s[0])

    assert registry.get_sample_value("ccpulse_processing_lag_seconds") == 0.0  # nothing read yet

    metrics.note_event_time(990.0)
    wall_s[0] = 1_002.5

    assert registry.get_sample_value("ccpulse_processing_lag_seconds") == 12.5
    assert registry.get_sample_value("ccpulse_last_event_timestamp_seconds") == 990.0


def test_consumer_lag_per_owned_partition_never_negative() -> None:
    registry = CollectorRegistry()
    registry.register(ConsumerLagCollector(lambda: {("events", 1): 7, ("events", 0): -2}))

    assert registry.get_sample_value("ccpulse_consumer_lag_messages", {"topic": "events", "partition": "1"}) == 7.0
    assert registry.get_sample_value("ccpulse_consumer_lag_messages", {"topic": "events", "partition": "0"}) == 0.0


def test_build_info_names_the_version_and_definitions() -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)

    assert registry.get_sample_value("ccpulse_build_info", {"version": "0.1.0", "definitions": "v1"}) == 1.0


# -- the catalog is the contract -------------------------------------------------------------------


def rich_scenario() -> list[CanonicalEvent]:
    """Something for every family: calls, a flow-out, a ticket with a reply and a solve, and every survey kind."""
    ticket = [
        TicketEvent("t1-c", TicketEventType.CREATED, BASE + MINUTE_MS, "t1", queue="sales", channel=Channel.EMAIL),
        TicketEvent("t1-r", TicketEventType.REPLIED, BASE + 2 * MINUTE_MS, "t1", agent_id="a1", public=True),
        TicketEvent("t1-s", TicketEventType.SOLVED, BASE + 3 * MINUTE_MS, "t1", agent_id="a1"),
        TicketEvent("t2-c", TicketEventType.CREATED, BASE + MINUTE_MS, "t2", queue="sales", channel=Channel.EMAIL),
    ]
    surveys = [
        SurveyEvent(f"s-{kind.value}", BASE + 5 * MINUTE_MS, kind, score, contact_id="h1")
        for kind, score in ((SurveyKind.CSAT, 5), (SurveyKind.NPS, 9), (SurveyKind.CES, 2), (SurveyKind.ESAT, 4))
    ]
    # h1: 2 h before BASE, so its repeat window (1 h in RICH_CONFIG) has passed and FCR is final.
    h1 = BASE - 2 * HOUR_MS
    return [
        *four_sales_calls(),
        ContactEvent("h1-q", E.QUEUED, h1, "h1", queue="sales", channel=Channel.VOICE, customer_id="cust-1"),
        ContactEvent("h1-a", E.ANSWERED, h1 + 5 * S, "h1", agent_id="a1"),
        ContactEvent("h1-e", E.ENDED, h1 + 65 * S, "h1", agent_id="a1"),
        ContactEvent("h1-w", E.WRAPUP_ENDED, h1 + 75 * S, "h1", agent_id="a1", resolved=True),
        *handled("h2", BASE + MINUTE_MS, 5 * S, 60 * S, 10 * S, "sales", Channel.VOICE),  # AHT for Erlang
        *stint("f1", BASE + MINUTE_MS, 90 * S, E.FLOWED_OUT),
        *stint("w1", NOW - 30 * S, 0, None),
        *stint("o1", BASE + MINUTE_MS, 10 * S, E.ANSWERED, queue="zz-overflow"),
        AgentEvent("a1-1", BASE, "a1", AgentState.AVAILABLE, queues=("sales",)),
        AgentEvent("a1-2", BASE + MINUTE_MS, "a1", AgentState.BUSY, queues=("sales",)),
        *ticket,
        *surveys,
    ]


RICH_CONFIG = EngineConfig(
    queues=QueueConfigs(QueueConfig(cost_per_agent_hour=30.0, repeat_window_h=1)), customer_hash_key=b"test-key"
)


def full_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    SelfMetrics(registry)
    limits = MetricsLimits(max_queues=1, per_agent=True, max_agents=10)
    view = view_of(rich_scenario(), config=RICH_CONFIG)
    registry.register(KpiCollector(Views(view).read, lambda: True, ViewStats(), limits))
    registry.register(ConsumerLagCollector(lambda: {("events", 0): 3}))
    return registry


def test_every_exported_family_is_in_the_catalog_with_its_type_and_labels() -> None:
    for family in full_registry().collect():
        spec = BY_NAME.get(family.name)
        assert spec is not None, f"{family.name} is exported but not in the catalog"
        assert family.type == spec.kind.value, family.name
        for sample in family.samples:
            labels = set(sample.labels) - ({"le"} if spec.kind is MetricKind.HISTOGRAM else set())
            assert labels == set(spec.labels), (sample.name, sample.labels)


def test_every_catalog_family_is_exported_by_a_rich_scenario() -> None:
    exported = {family.name for family in full_registry().collect() if family.samples}

    assert {spec.name for spec in CATALOG} - exported == set()


def test_the_metrics_reference_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_metrics_reference.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_metrics_reference_names_every_family() -> None:
    reference = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")

    assert all(f"`{name}`" in reference for spec in CATALOG for name in spec.sample_names())


# Series that add up across queues: "other" must hold the sum of the queues folded into it.
ADDITIVE = (
    "ccpulse_contacts_arrived",
    "ccpulse_contacts_offered",
    "ccpulse_contacts_answered",
    "ccpulse_contacts_abandoned",
    "ccpulse_contacts_handled",
    "ccpulse_handling_seconds",
    "ccpulse_agent_time_seconds",
    "ccpulse_service_level_met_contacts",
    "ccpulse_service_level_eligible_contacts",
    "ccpulse_tickets",
    "ccpulse_survey_responses",
    "ccpulse_waiting_contacts",
    "ccpulse_agents",
    "ccpulse_open_tickets",
    "ccpulse_queue_arrivals",
    "ccpulse_queue_wait_seconds_bucket",
)


Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]
KEPT = frozenset({"q00", "q01", "q02"})


def folded_series(view: QueueView, now_ms: int, limits: MetricsLimits) -> Series:
    """The additive series of every queue but the kept ones, queue label dropped and summed."""
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: [(view, now_ms)], lambda: True, limits=limits))
    found: Series = {}
    for family in registry.collect():
        for s in family.samples:
            if s.name in ADDITIVE and s.labels.get("queue") not in KEPT:
                key = (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "queue")))
                found[key] = found.get(key, 0.0) + s.value
    return found


def test_other_holds_the_sum_of_every_folded_queue_on_a_simulated_mixed_stream() -> None:
    messages, _ = generate_messages(BenchPlan(contacts=400, seed=4, queues=9, rate_per_s=0.2))
    events = [decode_event(message) for message in messages]
    now_ms = max(event.ts_ms for event in events)
    view = view_of(events, now_ms)
    each_queue = folded_series(view, now_ms, MetricsLimits(max_queues=100))
    other = folded_series(view, now_ms, MetricsLimits(max_queues=len(KEPT)))
    assert other.keys() == each_queue.keys()
    assert all(other[key] == pytest.approx(each_queue[key], abs=1e-9) for key in each_queue)
    assert sum(v for (name, _), v in other.items() if name == "ccpulse_contacts_arrived") > 100
