"""What a worker exports to Prometheus: scrape-time queue outcome counters and self-metrics.

Each test builds its own CollectorRegistry (never the global one) and reads
samples back with ``get_sample_value``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from prometheus_client import CollectorRegistry

from ccpulse.codec.events import RejectReason
from ccpulse.domain.facts import QueueOutcome
from ccpulse.telemetry.metrics import OutcomeCount, QueueOutcomeCollector, SelfMetrics

OUTCOMES_TOTAL = "ccpulse_queue_outcomes_total"


class FakeTable:
    """Stands in for the worker's table: counts it owns now, and whether recovery finished."""

    def __init__(self, counts: Iterable[OutcomeCount], ready: bool = True) -> None:
        self.counts = list(counts)
        self.ready = ready
        self.reads = 0

    def read_counts(self) -> list[OutcomeCount]:
        self.reads += 1
        return self.counts

    def is_ready(self) -> bool:
        return self.ready


def registry_with(table: FakeTable) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(QueueOutcomeCollector(table.read_counts, table.is_ready))
    return registry


def outcomes(registry: CollectorRegistry, queue: str, channel: str, outcome: str) -> float | None:
    return registry.get_sample_value(OUTCOMES_TOTAL, {"queue": queue, "channel": channel, "outcome": outcome})


def test_counts_per_queue_channel_and_outcome_are_summed() -> None:
    table = FakeTable(
        [
            # Two rows for the same label set (e.g. two windows or partitions): 3 + 4 = 7.
            OutcomeCount("sales", "voice", QueueOutcome.ANSWERED, 3),
            OutcomeCount("sales", "voice", QueueOutcome.ANSWERED, 4),
            OutcomeCount("sales", "voice", QueueOutcome.ABANDONED, 2),
            OutcomeCount("sales", "chat", QueueOutcome.ANSWERED, 5),
            OutcomeCount("billing", "voice", QueueOutcome.FLOWED_OUT, 1),
        ]
    )
    registry = registry_with(table)

    assert outcomes(registry, "sales", "voice", "answered") == 7.0
    assert outcomes(registry, "sales", "voice", "abandoned") == 2.0
    assert outcomes(registry, "sales", "chat", "answered") == 5.0
    assert outcomes(registry, "billing", "voice", "flowed_out") == 1.0
    assert registry.get_sample_value("ccpulse_worker_ready") == 1.0


def test_unseen_outcomes_of_a_known_queue_and_channel_are_exported_as_zero() -> None:
    registry = registry_with(FakeTable([OutcomeCount("sales", "voice", QueueOutcome.ANSWERED, 3)]))

    assert outcomes(registry, "sales", "voice", "abandoned") == 0.0
    assert outcomes(registry, "sales", "voice", "flowed_out") == 0.0
    # Only label sets known to exist: no made-up queue/channel combinations.
    assert outcomes(registry, "sales", "chat", "answered") is None


def test_not_ready_exports_only_worker_ready_zero_and_does_not_read_the_table() -> None:
    table = FakeTable([OutcomeCount("sales", "voice", QueueOutcome.ANSWERED, 3)], ready=False)
    registry = registry_with(table)

    samples = [sample for family in registry.collect() for sample in family.samples]

    assert [(s.name, s.value) for s in samples] == [("ccpulse_worker_ready", 0.0)]
    assert outcomes(registry, "sales", "voice", "answered") is None
    assert table.reads == 0


def test_each_scrape_reads_the_table_afresh() -> None:
    table = FakeTable([OutcomeCount("sales", "voice", QueueOutcome.ANSWERED, 3)])
    registry = registry_with(table)
    assert outcomes(registry, "sales", "voice", "answered") == 3.0

    # After a rebalance this worker owns billing instead of sales: sales must vanish, not go stale.
    table.counts = [OutcomeCount("billing", "chat", QueueOutcome.ABANDONED, 2)]

    assert outcomes(registry, "sales", "voice", "answered") is None
    assert outcomes(registry, "billing", "chat", "abandoned") == 2.0


def test_empty_table_exports_readiness_and_no_outcome_series() -> None:
    registry = registry_with(FakeTable([]))

    samples = [sample for family in registry.collect() for sample in family.samples]

    assert [(s.name, s.value) for s in samples] == [("ccpulse_worker_ready", 1.0)]


@pytest.mark.parametrize("reason", list(RejectReason), ids=str)
def test_self_metrics_pre_create_every_reject_reason_at_zero(reason: RejectReason) -> None:
    registry = CollectorRegistry()
    SelfMetrics(registry)

    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": reason.value}) == 0.0


def test_self_metrics_counters_start_at_zero_and_count() -> None:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry)

    metrics.events_rejected.labels(reason=RejectReason.NOT_JSON.value).inc()
    metrics.events_consumed.inc(3)

    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": "not_json"}) == 1.0
    assert registry.get_sample_value("ccpulse_events_rejected_total", {"reason": "not_utf8"}) == 0.0
    assert registry.get_sample_value("ccpulse_events_consumed_total") == 3.0
    for name in ("ccpulse_events_ignored_total", "ccpulse_duplicate_events_total"):
        assert registry.get_sample_value(name) == 0.0, name
    for kind in ("published", "retracted"):
        assert registry.get_sample_value("ccpulse_facts_emitted_total", {"kind": kind}) == 0.0, kind


def test_two_registries_do_not_share_self_metrics() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    SelfMetrics(first).events_consumed.inc()
    SelfMetrics(second)

    assert first.get_sample_value("ccpulse_events_consumed_total") == 1.0
    assert second.get_sample_value("ccpulse_events_consumed_total") == 0.0


def test_retractions_are_a_separate_monotonic_counter_and_net_is_the_difference() -> None:
    # 5 abandons published for sales/voice, 2 of them later withdrawn: net 3 abandoned stints.
    registry = registry_with(FakeTable([OutcomeCount("sales", "voice", QueueOutcome.ABANDONED, 5, 2)]))
    labels = {"queue": "sales", "channel": "voice"}

    assert registry.get_sample_value(OUTCOMES_TOTAL, {**labels, "outcome": "abandoned"}) == 5.0
    retractions = "ccpulse_queue_outcome_retractions_total"
    assert registry.get_sample_value(retractions, {**labels, "outcome": "abandoned"}) == 2.0
    assert registry.get_sample_value(retractions, {**labels, "outcome": "answered"}) == 0.0
