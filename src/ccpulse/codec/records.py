"""JSON forms of lifecycle state the worker stores: queue stints, agent timelines, tickets, surveys.

Table values are plain JSON-able dicts so a changelog topic stays readable
with any Kafka tool; these functions are their only readers and writers.
"""

from __future__ import annotations

from typing import Any

from ccpulse.codec.events import event_document, event_from_dict, frozen_builder, member_by_value
from ccpulse.domain.agent_states import AgentTimeline, StateChange
from ccpulse.domain.events import AgentState, Channel, SurveyEvent, TicketEventType
from ccpulse.domain.facts import QueueOutcome
from ccpulse.domain.queue_stints import (
    ContactQueueState,
    OutcomeMark,
    StintStart,
)
from ccpulse.domain.surveys import SurveyInbox
from ccpulse.domain.tickets import TicketMark, TicketState

# Table rows are read back on every event of their entity: members by value and marks through their builders.
_channel = member_by_value(Channel)
_outcome_of = member_by_value(QueueOutcome)
_state_of = member_by_value(AgentState)
_ticket_type = member_by_value(TicketEventType)
_new_stint_start = frozen_builder(StintStart)
_new_outcome_mark = frozen_builder(OutcomeMark)
_new_state_change = frozen_builder(StateChange)
_new_ticket_mark = frozen_builder(TicketMark)


def state_to_dict(state: ContactQueueState) -> dict[str, Any]:
    return {
        "starts": [[s.queued_ts_ms, s.queue, s.channel.value] for s in state.starts],
        "outcomes": [[m.ts_ms, m.event_id, m.outcome.value] for m in state.outcomes],
        "seen": list(state.seen_event_ids),
    }


def state_from_dict(document: dict[str, Any] | None) -> ContactQueueState:
    if not document:
        return ContactQueueState()
    return ContactQueueState(
        starts=tuple(_new_stint_start(ts, queue, _channel(channel)) for ts, queue, channel in document["starts"]),
        outcomes=tuple(
            _new_outcome_mark(ts, event_id, _outcome_of(outcome)) for ts, event_id, outcome in document["outcomes"]
        ),
        seen_event_ids=tuple(document["seen"]),
    )


# --- agent states, tickets, surveys --------------------------------------------------------------


def agent_timeline_to_dict(timeline: AgentTimeline) -> dict[str, Any]:
    return {
        "changes": [[c.ts_ms, c.event_id, c.state.value, list(c.queues), c.team] for c in timeline.changes],
        "floor": timeline.floor_ts_ms,
        "seen": list(timeline.seen_event_ids),
    }


def agent_timeline_from_dict(document: dict[str, Any] | None) -> AgentTimeline:
    if not document:
        return AgentTimeline()
    return AgentTimeline(
        changes=tuple(
            _new_state_change(ts, event_id, _state_of(state), tuple(queues), team)
            for ts, event_id, state, queues, team in document["changes"]
        ),
        floor_ts_ms=document["floor"],
        seen_event_ids=tuple(document["seen"]),
    )


def ticket_state_to_dict(state: TicketState) -> dict[str, Any]:
    return {
        "marks": [
            [m.ts_ms, m.event_id, m.type.value, m.agent_id, m.queue, None if m.channel is None else m.channel.value]
            for m in state.marks
        ],
        "seen": list(state.seen_event_ids),
    }


def ticket_state_from_dict(document: dict[str, Any] | None) -> TicketState:
    if not document:
        return TicketState()
    return TicketState(
        marks=tuple(
            _new_ticket_mark(
                ts,
                event_id,
                _ticket_type(event_type),
                agent_id,
                queue,
                None if channel is None else _channel(channel),
            )
            for ts, event_id, event_type, agent_id, queue, channel in document["marks"]
        ),
        seen_event_ids=tuple(document["seen"]),
    )


def survey_inbox_to_dict(inbox: SurveyInbox) -> dict[str, Any]:
    """Pending surveys are kept in their canonical event form (:func:`encode_event`)."""
    return {
        "pending": [event_document(event) for event in inbox.pending],
        "seen": list(inbox.seen_event_ids),
    }


def survey_inbox_from_dict(document: dict[str, Any] | None) -> SurveyInbox:
    if not document:
        return SurveyInbox()
    pending: list[SurveyEvent] = []
    for record in document["pending"]:
        event = event_from_dict(record)
        if not isinstance(event, SurveyEvent):
            raise ValueError("a survey inbox holds only survey events")
        pending.append(event)
    return SurveyInbox(pending=tuple(pending), seen_event_ids=tuple(document["seen"]))
