"""What a worker tells Prometheus.

KPI series are built on every scrape from the table state the worker holds at
that moment (a :class:`prometheus_client.registry.Collector`), so nothing stale
survives a rebalance. Self-metrics are ordinary counters in the injected
registry. Names follow Prometheus conventions: ``ccpulse_`` prefix, base units,
``_total`` only on counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ccpulse.codec.events import RejectReason
from ccpulse.domain.facts import QueueOutcome


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """Outcome facts of one queue, channel and outcome: published, and later retracted."""

    queue: str
    channel: str
    outcome: QueueOutcome
    published: int
    retracted: int = 0


class QueueOutcomeCollector(Collector):
    """Per-queue outcome counters from the live table, built at scrape time.

    ``ccpulse_queue_outcomes_total`` counts published outcome facts and
    ``ccpulse_queue_outcome_retractions_total`` the ones later withdrawn
    (a contact's events arrived out of order across a transfer); the net
    number of stints with that outcome is the difference. Two counters keep
    both monotonic for ``rate()``.

    ``read_counts`` returns the counts this worker owns now; ``is_ready`` is
    false while tables recover, when counts would be partial and Prometheus
    would read the drop as a counter reset, so KPI series are withheld then.
    """

    def __init__(
        self,
        read_counts: Callable[[], Iterable[OutcomeCount]],
        is_ready: Callable[[], bool],
    ) -> None:
        self._read_counts = read_counts
        self._is_ready = is_ready

    def collect(self) -> Iterator[Metric]:
        ready = self._is_ready()
        yield GaugeMetricFamily(
            "ccpulse_worker_ready",
            "1 when this worker's tables are recovered and its KPI series are complete, else 0.",
            value=1.0 if ready else 0.0,
        )
        if not ready:
            return
        labels = ["queue", "channel", "outcome"]
        published = CounterMetricFamily(
            "ccpulse_queue_outcomes",
            "Finished queue stints by outcome, counted when the outcome is known (short abandons included).",
            labels=labels,
        )
        retracted = CounterMetricFamily(
            "ccpulse_queue_outcome_retractions",
            "Outcome facts withdrawn after out-of-order events showed they belonged to another stint.",
            labels=labels,
        )
        counts: dict[tuple[str, str], dict[QueueOutcome, tuple[int, int]]] = {}
        for item in self._read_counts():
            per_outcome = counts.setdefault((item.queue, item.channel), {})
            old_published, old_retracted = per_outcome.get(item.outcome, (0, 0))
            per_outcome[item.outcome] = (old_published + item.published, old_retracted + item.retracted)
        for (queue, channel), per_outcome in sorted(counts.items()):
            # Export 0 for outcomes not seen yet so rate() and ratios work from the first fact.
            for outcome in QueueOutcome:
                published_count, retracted_count = per_outcome.get(outcome, (0, 0))
                published.add_metric([queue, channel, outcome.value], float(published_count))
                retracted.add_metric([queue, channel, outcome.value], float(retracted_count))
        yield published
        yield retracted


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
        self.events_ignored = Counter(
            "ccpulse_events_ignored",
            "Valid events of types this worker does not fold yet (agent, ticket, survey, watermark).",
            registry=registry,
        )
        self.duplicates = Counter(
            "ccpulse_duplicate_events",
            "Contact events whose event_id was already applied; they changed nothing.",
            registry=registry,
        )
        self.facts_emitted = Counter(
            "ccpulse_facts_emitted",
            "Records written to the contact-facts topic, by kind (published or retracted).",
            labelnames=["kind"],
            registry=registry,
        )
        self.last_event_time = Gauge(
            "ccpulse_last_event_timestamp_seconds",
            "Largest event time in the valid input read so far, as a Unix timestamp.",
            registry=registry,
        )
        for kind in ("published", "retracted"):
            self.facts_emitted.labels(kind=kind)
        for reason in RejectReason:
            # Known label sets start at 0, so alerts on increase() see the first rejection.
            self.events_rejected.labels(reason=reason.value)
