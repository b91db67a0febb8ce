"""How many workers and partitions a contact center needs, computed from what ``make bench`` measured.

The model, so that every number it prints can be checked by hand:

- **Traffic.** ``agents`` staffed at ``occupancy`` with an average handle
  time ``aht_s`` handle ``agents x occupancy x 3600 / aht_s`` contacts an
  hour at the busy hour. Each contact brings the events the simulator's mixed
  stream has per contact (its own lifecycle, agent state changes, tickets,
  surveys): ``events_per_contact``, measured.
- **Throughput.** One worker takes ``events_per_s`` (measured, single-event
  input, one core); the plan keeps each worker at ``target_utilization`` of
  that, for the busy-hour peak above the mean and to catch up after a restart.
- **State.** A worker keeps every contact's rows for ``retention_hours``
  after its last event (late events may still change its windows): about
  ``busy_hours_per_day`` busy hours of contacts per day. Its memory is the
  resident size of a ready, empty worker plus ``bytes_per_retained_contact``
  (measured: resident size after the stream, less the ready size, per
  contact) for each contact it keeps; the plan keeps each worker within
  ``memory_per_worker_bytes``.
- **Workers** are the larger of the two needs; **partitions** twice the
  workers (at least 4), so the group can double without repartitioning: a
  change of ``topic_partitions`` moves keys between partitions and needs a
  re-computation by replay.
- **Recovery.** A worker that restarts (or takes over a dead one's
  partitions) replays the changelogs of its partitions at
  ``recovery_records_per_s`` (measured). A compacted changelog holds about
  one record per live key (``live_keys_per_contact``, measured) plus the
  writes of its open segment, at most an hour of them
  (``changelog_records_per_contact`` per contact, measured).

Standard library only: it reads the bench's JSON report and does arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GIB = 2**30
SECONDS_PER_HOUR = 3_600
MIN_PARTITIONS = 4
_REPORT_KEYS = (
    "worker_events_per_s",
    "events",
    "contacts",
    "worker_ready_rss_bytes",
    "worker_rss_bytes",
    "changelog_records",
    "changelog_live_keys",
    "recovery_s",
)


class CapacityError(ValueError):
    """The bench report lacks a figure the plan needs, or a plan input is out of range."""


@dataclass(frozen=True, slots=True)
class MeasuredWorker:
    """Per-worker figures from one ``make bench`` run."""

    events_per_s: float
    events_per_contact: float
    base_bytes: float
    bytes_per_retained_contact: float
    changelog_records_per_contact: float
    live_keys_per_contact: float
    recovery_records_per_s: float

    @classmethod
    def from_bench_report(cls, document: Mapping[str, Any]) -> MeasuredWorker:
        """From ``build/bench.json``; its ``kafka`` part must hold the worker's figures."""
        kafka = document.get("kafka") or {}
        missing = [key for key in _REPORT_KEYS if not kafka.get(key)]
        if missing:
            raise CapacityError(
                f"the bench report lacks kafka.{', kafka.'.join(missing)}; run `make bench` "
                "(it measures the worker on a local broker) and pass its build/bench.json"
            )
        contacts = float(kafka["contacts"])
        return cls(
            events_per_s=float(kafka["worker_events_per_s"]),
            events_per_contact=float(kafka["events"]) / contacts,
            base_bytes=float(kafka["worker_ready_rss_bytes"]),
            bytes_per_retained_contact=max(0.0, float(kafka["worker_rss_bytes"]) - kafka["worker_ready_rss_bytes"])
            / contacts,
            changelog_records_per_contact=float(kafka["changelog_records"]) / contacts,
            live_keys_per_contact=float(kafka["changelog_live_keys"]) / contacts,
            recovery_records_per_s=float(kafka["changelog_records"]) / float(kafka["recovery_s"]),
        )


@dataclass(frozen=True, slots=True)
class ContactCenter:
    """What a site plans for; the defaults are typical of a voice-heavy inbound center."""

    agents: int
    aht_s: float = 300.0
    occupancy: float = 0.85
    busy_hours_per_day: float = 10.0
    retention_hours: int = 48

    def __post_init__(self) -> None:
        _require(self.agents >= 1, "agents must be at least 1")
        _require(self.aht_s > 0, "the average handle time must be positive")
        _require(0 < self.occupancy <= 1, "occupancy must be in (0, 1]")
        _require(0 < self.busy_hours_per_day <= 24, "busy hours per day must be in (0, 24]")
        _require(self.retention_hours >= 1, "retention must be at least 1 hour")

    @property
    def contacts_per_hour(self) -> float:
        return self.agents * self.occupancy * SECONDS_PER_HOUR / self.aht_s

    @property
    def retained_contacts(self) -> float:
        """Contacts whose rows a worker group keeps: the retention's worth of busy hours."""
        return self.contacts_per_hour * self.busy_hours_per_day * self.retention_hours / 24


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    center: ContactCenter
    events_per_s: float
    workers_for_throughput: int
    workers_for_memory: int
    workers: int
    partitions: int
    memory_per_worker_bytes: float
    recovery_s: float  # one worker's partitions, replayed from their changelogs


def plan_capacity(
    center: ContactCenter,
    measured: MeasuredWorker,
    *,
    target_utilization: float = 0.5,
    memory_per_worker_bytes: float = 4 * GIB,
) -> CapacityPlan:
    """Workers and partitions for ``center``, each worker within the utilization and memory given."""
    _require(0 < target_utilization <= 1, "target utilization must be in (0, 1]")
    usable_bytes = memory_per_worker_bytes - measured.base_bytes
    _require(usable_bytes > 0, "the memory per worker must exceed a ready worker's resident size")
    events_per_s = center.contacts_per_hour / SECONDS_PER_HOUR * measured.events_per_contact
    for_throughput = math.ceil(events_per_s / (measured.events_per_s * target_utilization))
    state_bytes = center.retained_contacts * measured.bytes_per_retained_contact
    for_memory = math.ceil(state_bytes / usable_bytes)
    workers = max(1, for_throughput, for_memory)
    records = (
        center.retained_contacts * measured.live_keys_per_contact
        + center.contacts_per_hour * measured.changelog_records_per_contact
    )
    return CapacityPlan(
        center=center,
        events_per_s=events_per_s,
        workers_for_throughput=for_throughput,
        workers_for_memory=for_memory,
        workers=workers,
        partitions=max(MIN_PARTITIONS, 2 * workers),
        memory_per_worker_bytes=measured.base_bytes + state_bytes / workers,
        recovery_s=records / workers / measured.recovery_records_per_s,
    )


def format_plans(plans: Sequence[CapacityPlan], measured: MeasuredWorker) -> str:
    """The plans as a table, with the measured figures they rest on."""
    lines = [
        f"measured per worker: {measured.events_per_s:,.0f} events/s, {measured.events_per_contact:.1f} events "
        f"per contact, {measured.base_bytes / 2**20:,.0f} MiB ready + {measured.bytes_per_retained_contact:,.0f} "
        f"bytes per retained contact, changelog {measured.live_keys_per_contact:.1f} live keys "
        f"({measured.changelog_records_per_contact:.1f} records) per contact, recovery "
        f"{measured.recovery_records_per_s:,.0f} records/s",
        f"{'agents':>8} {'contacts/h':>11} {'events/s':>9} {'retained':>11} {'workers':>8} {'(cpu, mem)':>11} "
        f"{'partitions':>10} {'mem/worker':>11} {'recovery':>9}",
    ]
    for plan in plans:
        center = plan.center
        lines.append(
            f"{center.agents:>8,} {center.contacts_per_hour:>11,.0f} {plan.events_per_s:>9,.0f} "
            f"{center.retained_contacts:>11,.0f} {plan.workers:>8,} "
            f"{f'({plan.workers_for_throughput}, {plan.workers_for_memory})':>11} {plan.partitions:>10,} "
            f"{plan.memory_per_worker_bytes / GIB:>7.2f} GiB {plan.recovery_s:>7,.0f} s"
        )
    return "\n".join(lines) + "\n"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CapacityError(message)
