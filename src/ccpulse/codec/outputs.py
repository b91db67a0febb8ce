"""The records ccpulse publishes for other services: contact facts and KPI rows.

Both topics are compacted and keyed by what a record describes, so the latest
record per key is the current truth and a consumer can start from the topic
alone:

- contact-facts (``schemas/contact-fact.schema.json``): key ``queue|fact key``;
  the value is the fact, or a tombstone (no value) when the fact was withdrawn
  (its contact's events arrived out of order and proved it wrong);
- KPI rows (``schemas/kpi-row.schema.json``): key
  ``queue|channel|window|window_start`` (rolling windows move on every minute,
  so theirs is ``queue|channel|rolling_5m|latest``); ``final`` is true once the
  window has closed, and a closed window that late events change is published
  again, still final, with the corrected numbers.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from ccpulse.codec import json
from ccpulse.codec.stage_records import fact_to_dict
from ccpulse.domain.aggregates import QueueAggregate
from ccpulse.domain.erlang import StaffingAdvice
from ccpulse.domain.events import AgentState
from ccpulse.domain.kpis import KpiSnapshot, ServiceLevelValue
from ccpulse.domain.queue_view import LiveQueue, ViewFact
from ccpulse.domain.windows import Window, WindowKind

FACT_RECORD_VERSION = 2
KPI_ROW_VERSION = 1
KEY_SEPARATOR = "|"


def iso_ms(ts_ms: int) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-11-23T14:15:00.000Z``."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fact_record_key(queue: str, fact_key: str) -> bytes:
    return f"{queue}{KEY_SEPARATOR}{fact_key}".encode()


def fact_record(queue: str, fact_key: str, entity: str, fact: ViewFact) -> bytes:
    """A live fact as published on the contact-facts topic (a withdrawn one is a tombstone, not this)."""
    return json.dumps(
        {"version": FACT_RECORD_VERSION, "queue": queue, "key": fact_key, "entity": entity, "fact": fact_to_dict(fact)}
    )


def kpi_row_key(queue: str, channel: str, window: Window) -> bytes:
    start = "latest" if window.kind is WindowKind.ROLLING else iso_ms(window.start_ms)
    return KEY_SEPARATOR.join((queue, channel, window.name, start)).encode()


_SNAPSHOT_FIELDS = tuple(f.name for f in fields(KpiSnapshot))
_SERVICE_LEVEL_FIELDS = tuple(f.name for f in fields(ServiceLevelValue))


def snapshot_numbers(kpis: KpiSnapshot) -> dict[str, Any]:
    """``dataclasses.asdict(kpis)``, built directly: asdict deep-copies every value and cost a third of publishing."""
    numbers = {name: getattr(kpis, name) for name in _SNAPSHOT_FIELDS}
    numbers["service_levels"] = tuple(
        {name: getattr(value, name) for name in _SERVICE_LEVEL_FIELDS} for value in kpis.service_levels
    )
    return numbers


def kpi_row(
    queue: str,
    channel: str,
    window: Window,
    kpis: KpiSnapshot,
    *,
    final: bool,
    as_of_ms: int,
    live: LiveQueue | None = None,
    agents: dict[AgentState, int] | None = None,
    open_tickets: int | None = None,
    staffing: StaffingAdvice | None = None,
    totals: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One KPI row as a JSON-able document. ``live`` parts only for windows that are still open."""
    numbers = snapshot_numbers(kpis)
    definitions = numbers.pop("definitions")
    numbers.pop("window_ms")
    document: dict[str, Any] = {
        "version": KPI_ROW_VERSION,
        "definitions": definitions,
        "queue": queue,
        "channel": channel,
        "window": window.name,
        "window_kind": window.kind.value,
        "window_start": iso_ms(window.start_ms),
        "window_end": iso_ms(window.end_ms),
        "final": final,
        "as_of": iso_ms(as_of_ms),
        "kpis": numbers,
    }
    if totals is not None:
        document["totals"] = totals
    if live is not None:
        now: dict[str, Any] = {
            "waiting": live.waiting,
            "oldest_wait_s": None if live.oldest_wait_ms is None else live.oldest_wait_ms / 1000,
            "waiting_beyond": {str(threshold_s): count for threshold_s, count in live.waiting_beyond.items()},
        }
        if agents is not None:
            now["agents"] = {state.value: count for state, count in agents.items()}
        if open_tickets is not None:
            now["open_tickets"] = open_tickets
        if staffing is not None:
            now["staffing"] = {
                "staffed_agents": staffing.staffed_agents,
                "required_agents_erlang_c": staffing.required_erlang_c,
                "required_agents_erlang_a": staffing.required_erlang_a,
                "gap_erlang_c": staffing.gap_erlang_c,
                "gap_erlang_a": staffing.gap_erlang_a,
            }
        document["now"] = now
    return document


def _seconds(ms: int) -> float:
    return ms / 1000


def totals_of(agg: QueueAggregate) -> dict[str, Any]:
    """The additive sums behind the window's ratios and means.

    Consumers that combine windows, queues or channels add these up and divide,
    never average ratios; they also let a row be checked against source data.
    """

    def by_threshold(counts: list[int]) -> dict[str, int]:
        return {str(t // 1000): n for t, n in zip(agg.sl_thresholds_ms, counts, strict=True)}

    return {
        "answered_within": by_threshold(agg.answered_within),
        "abandoned_within": by_threshold(agg.abandoned_within),
        "wait_answered_s": _seconds(agg.sum_wait_answered_ms),
        "wait_abandoned_s": _seconds(agg.sum_wait_abandoned_ms),
        "wait_short_abandoned_s": _seconds(agg.sum_wait_short_abandoned_ms),
        "wait_flowed_out_s": _seconds(agg.sum_wait_flowed_out_ms),
        "talk_s": _seconds(agg.sum_talk_ms),
        "hold_s": _seconds(agg.sum_hold_ms),
        "acw_s": _seconds(agg.sum_acw_ms),
        "held": agg.held_segments,
        "resolved": agg.resolved_true,
        "resolution_known": agg.resolved_known,
        "fcr_eligible": agg.fcr_eligible,
        "repeats": agg.repeats,
        "agent_available_s": _seconds(agg.agent_available_ms),
        "agent_busy_s": _seconds(agg.agent_busy_ms),
        "agent_acw_s": _seconds(agg.agent_acw_ms),
        "agent_away_s": _seconds(agg.agent_away_ms),
    }
