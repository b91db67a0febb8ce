"""JSON forms of the two-stage worker's table values and internal topic records.

The entity stage keeps one :class:`~ccpulse.domain.entities.EntityState` per
contact, agent or ticket in a changelog-backed table and sends the queue stage
:class:`~ccpulse.domain.entities.Upsert`, :class:`~ccpulse.domain.entities.Delete`
and :class:`~ccpulse.domain.entities.Sync` records, and its stream time as
:class:`SourceClock` records, on a topic keyed by queue; the queue stage keeps
each live fact as a :class:`~ccpulse.domain.fact_store.LiveFact` row. All of
them are JSON, so they stay readable with any Kafka tool, and these functions
are their only readers and writers: every decoder gives back an object equal
to the one encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from ccpulse.codec import json
from ccpulse.codec.events import event_document, event_from_dict, field_conversions, frozen_builder, member_by_value
from ccpulse.codec.records import (
    agent_timeline_from_dict,
    agent_timeline_to_dict,
    state_from_dict,
    state_to_dict,
    ticket_state_from_dict,
    ticket_state_to_dict,
)
from ccpulse.domain.contacts import ContactState
from ccpulse.domain.entities import Delete, EntityState, QueueChange, Sync, Upsert
from ccpulse.domain.events import AgentState, Channel, SurveyEvent, SurveyKind
from ccpulse.domain.fact_store import LiveFact
from ccpulse.domain.facts import (
    AgentPresenceFact,
    AgentStateFact,
    HandlingFact,
    QueueArrivalFact,
    QueueOutcome,
    QueueOutcomeFact,
    SurveyFact,
    TicketFact,
    TicketOpenFact,
    TicketStep,
)
from ccpulse.domain.handling import AnswerMark, EndMark, HandlingState, HoldMark, WrapupMark
from ccpulse.domain.queue_view import ViewFact

# --- facts ------------------------------------------------------------------------------------------------------------

_KIND_OF: dict[type[Any], str] = {
    QueueArrivalFact: "arrival",
    QueueOutcomeFact: "outcome",
    HandlingFact: "handling",
    AgentStateFact: "agent_state",
    TicketFact: "ticket",
    SurveyFact: "survey",
    AgentPresenceFact: "presence",
    TicketOpenFact: "ticket_open",
}


# A fact field whose name the discriminator takes is stored under another (SurveyFact.kind).
_FIELD_NAMES = {"kind": "survey_kind"}


def fact_to_dict(fact: ViewFact) -> dict[str, Any]:
    """``{"kind": ..., <every field>}``: enums by value, tuples as lists, None kept.

    ``kind`` names the fact type, so a survey's own ``kind`` (csat, nps...) is ``survey_kind``.
    """
    kind, names, values_of, enum_names, tuple_names = _FACT_LAYOUTS[type(fact)]
    document: dict[str, Any] = {"kind": kind}
    document.update(zip(names, values_of(fact), strict=True))
    for name in enum_names:
        value = document[name]
        if value is not None:
            document[name] = value.value
    for name in tuple_names:
        document[name] = list(document[name])
    return document


def _fact_layout(cls: type[Any]) -> tuple[str, tuple[str, ...], Callable[[Any], tuple[Any, ...]], list[str], list[str]]:
    """The fact's kind, its document keys in field order, a getter of its values, and its enum and tuple keys."""
    conversions = field_conversions(cls)
    names = tuple(_FIELD_NAMES.get(spec.name, spec.name) for spec in fields(cls))
    by_key = dict(zip(names, conversions.values(), strict=True))
    values_of = attrgetter(*(spec.name for spec in fields(cls)))
    return (
        _KIND_OF[cls],
        names,
        values_of,
        [key for key, conversion in by_key.items() if conversion == "enum"],
        [key for key, conversion in by_key.items() if conversion == "tuple"],
    )


_FACT_LAYOUTS = {cls: _fact_layout(cls) for cls in _KIND_OF}


def fact_from_dict(document: dict[str, Any]) -> ViewFact:
    kind = document.get("kind")
    decode = _FACT_DECODERS.get(kind) if isinstance(kind, str) else None
    if decode is None:
        raise ValueError(f"unknown fact kind {kind!r}")
    return decode(document)


_channel = member_by_value(Channel)
_state_of = member_by_value(AgentState)
_outcome_of = member_by_value(QueueOutcome)
_ticket_step = member_by_value(TicketStep)
_survey_kind = member_by_value(SurveyKind)
_NEW_QUEUE_ARRIVAL_FACT = frozen_builder(QueueArrivalFact)
_NEW_QUEUE_OUTCOME_FACT = frozen_builder(QueueOutcomeFact)
_NEW_HANDLING_FACT = frozen_builder(HandlingFact)
_NEW_AGENT_STATE_FACT = frozen_builder(AgentStateFact)
_NEW_TICKET_FACT = frozen_builder(TicketFact)
_NEW_SURVEY_FACT = frozen_builder(SurveyFact)
_NEW_AGENT_PRESENCE_FACT = frozen_builder(AgentPresenceFact)
_NEW_TICKET_OPEN_FACT = frozen_builder(TicketOpenFact)
_NEW_ANSWER_MARK = frozen_builder(AnswerMark)
_NEW_END_MARK = frozen_builder(EndMark)
_NEW_HOLD_MARK = frozen_builder(HoldMark)
_NEW_WRAPUP_MARK = frozen_builder(WrapupMark)


def _optional_channel(value: str | None) -> Channel | None:
    return None if value is None else _channel(value)


def _arrival(d: dict[str, Any]) -> QueueArrivalFact:
    return _NEW_QUEUE_ARRIVAL_FACT(
        d["contact_id"], d["queue"], _channel(d["channel"]), d["queued_ts_ms"], d["customer_key"]
    )


def _outcome(d: dict[str, Any]) -> QueueOutcomeFact:
    return _NEW_QUEUE_OUTCOME_FACT(
        d["contact_id"],
        d["queue"],
        _channel(d["channel"]),
        _outcome_of(d["outcome"]),
        d["queued_ts_ms"],
        d["outcome_ts_ms"],
    )


def _handling(d: dict[str, Any]) -> HandlingFact:
    return _NEW_HANDLING_FACT(
        contact_id=d["contact_id"],
        queue=d["queue"],
        channel=_channel(d["channel"]),
        agent_id=d["agent_id"],
        answered_ts_ms=d["answered_ts_ms"],
        ended_ts_ms=d["ended_ts_ms"],
        completed_ts_ms=d["completed_ts_ms"],
        hold_ms=d["hold_ms"],
        hold_count=d["hold_count"],
        acw_timed_out=d["acw_timed_out"],
        transferred=d["transferred"],
        resolved=d["resolved"],
        disposition=d["disposition"],
        customer_key=d["customer_key"],
    )


def _agent_state(d: dict[str, Any]) -> AgentStateFact:
    return _NEW_AGENT_STATE_FACT(
        d["agent_id"], _state_of(d["state"]), d["start_ts_ms"], d["end_ts_ms"], tuple(d["queues"]), d["team"]
    )


def _ticket(d: dict[str, Any]) -> TicketFact:
    return _NEW_TICKET_FACT(
        ticket_id=d["ticket_id"],
        queue=d["queue"],
        channel=_channel(d["channel"]),
        step=_ticket_step(d["step"]),
        ts_ms=d["ts_ms"],
        duration_ms=d["duration_ms"],
        public_replies=d["public_replies"],
        agent_id=d["agent_id"],
    )


def _survey(d: dict[str, Any]) -> SurveyFact:
    return _NEW_SURVEY_FACT(
        survey_id=d["survey_id"],
        kind=_survey_kind(d["survey_kind"]),
        score=float(d["score"]),
        ts_ms=d["ts_ms"],
        queue=d["queue"],
        channel=_optional_channel(d["channel"]),
        agent_id=d["agent_id"],
    )


def _presence(d: dict[str, Any]) -> AgentPresenceFact:
    return _NEW_AGENT_PRESENCE_FACT(d["agent_id"], _state_of(d["state"]), d["since_ts_ms"], tuple(d["queues"]))


def _ticket_open(d: dict[str, Any]) -> TicketOpenFact:
    return _NEW_TICKET_OPEN_FACT(d["ticket_id"], d["queue"])


_FACT_DECODERS: dict[str, Callable[[dict[str, Any]], ViewFact]] = {
    "arrival": _arrival,
    "outcome": _outcome,
    "handling": _handling,
    "agent_state": _agent_state,
    "ticket": _ticket,
    "survey": _survey,
    "presence": _presence,
    "ticket_open": _ticket_open,
}


# --- entity stage table rows ------------------------------------------------------------------------------------------


def handling_state_to_dict(state: HandlingState) -> dict[str, Any]:
    """Each mark as a list of its fields in declaration order."""
    return {
        "answers": [[m.ts_ms, m.agent_id, m.event_id] for m in state.answers],
        "ends": [[m.ts_ms, m.event_id, m.agent_id, m.transferred, m.resolved] for m in state.ends],
        "holds": [[m.ts_ms, m.event_id, m.agent_id, m.started] for m in state.holds],
        "wrapups": [[m.ts_ms, m.event_id, m.agent_id, m.queue, m.disposition, m.resolved] for m in state.wrapups],
    }


def handling_state_from_dict(document: dict[str, Any] | None) -> HandlingState:
    if not document:
        return HandlingState()
    return HandlingState(
        answers=tuple(_NEW_ANSWER_MARK(*mark) for mark in document["answers"]),
        ends=tuple(_NEW_END_MARK(*mark) for mark in document["ends"]),
        holds=tuple(_NEW_HOLD_MARK(*mark) for mark in document["holds"]),
        wrapups=tuple(_NEW_WRAPUP_MARK(*mark) for mark in document["wrapups"]),
    )


def contact_state_to_dict(state: ContactState) -> dict[str, Any]:
    return {
        "stints": state_to_dict(state.stints),
        "handling": handling_state_to_dict(state.handling),
        "customer_key": state.customer_key,
    }


def contact_state_from_dict(document: dict[str, Any] | None) -> ContactState:
    if not document:
        return ContactState()
    return ContactState(
        stints=state_from_dict(document["stints"]),
        handling=handling_state_from_dict(document["handling"]),
        customer_key=document["customer_key"],
    )


def entity_state_to_dict(state: EntityState) -> dict[str, Any]:
    """Surveys in their canonical event form (:func:`~ccpulse.codec.events.encode_event`)."""
    return {
        "contact": None if state.contact is None else contact_state_to_dict(state.contact),
        "agent": None if state.agent is None else agent_timeline_to_dict(state.agent),
        "ticket": None if state.ticket is None else ticket_state_to_dict(state.ticket),
        "surveys": [event_document(event) for event in state.surveys],
        "last_event_ms": state.last_event_ms,
        "queues_sent_to": sorted(state.queues_sent_to),
    }


def entity_state_from_dict(document: dict[str, Any] | None) -> EntityState:
    if not document:
        return EntityState()
    contact, agent, ticket = document["contact"], document["agent"], document["ticket"]
    return EntityState(
        contact=None if contact is None else contact_state_from_dict(contact),
        agent=None if agent is None else agent_timeline_from_dict(agent),
        ticket=None if ticket is None else ticket_state_from_dict(ticket),
        surveys=tuple(_survey_event(record) for record in document["surveys"]),
        last_event_ms=document["last_event_ms"],
        queues_sent_to=frozenset(document["queues_sent_to"]),
    )


def _survey_event(record: dict[str, Any]) -> SurveyEvent:
    event = event_from_dict(record)
    if not isinstance(event, SurveyEvent):
        raise ValueError("an entity's surveys hold only survey events")
    return event


# --- queue stage table rows -------------------------------------------------------------------------------------------


def live_fact_to_dict(live: LiveFact) -> dict[str, Any]:
    return {"entity": live.entity, "fact": fact_to_dict(live.fact)}


def live_fact_from_dict(document: dict[str, Any]) -> LiveFact:
    return LiveFact(document["entity"], fact_from_dict(document["fact"]))


# --- queue-keyed topic records ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceClock:
    """A first-stage partition's stream time, for the queue stage's watermark."""

    source: int
    stream_time_ms: int


def queue_change_to_json(change: QueueChange) -> bytes:
    if isinstance(change, Upsert):
        document: dict[str, Any] = {
            "op": "upsert",
            "queue": change.queue,
            "key": change.key,
            "entity": change.entity,
            "fact": fact_to_dict(change.fact),
        }
    elif isinstance(change, Delete):
        document = {"op": "delete", "queue": change.queue, "key": change.key, "entity": change.entity}
    else:
        document = {"op": "sync", "queue": change.queue, "entity": change.entity, "keys": list(change.keys)}
    return json.dumps(document)


def clock_to_json(source_partition: int, stream_time_ms: int) -> bytes:
    return json.dumps({"op": "clock", "source": source_partition, "ts": stream_time_ms})


def decode_queue_record(raw: bytes) -> QueueChange | SourceClock:
    """Any record of the queue-keyed topic: a change of an entity's facts or a partition's clock."""
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError(f"a queue record is a JSON object, not a JSON {type(document).__name__}")
    op = document.get("op")
    if op == "upsert":
        return Upsert(document["queue"], document["key"], document["entity"], fact_from_dict(document["fact"]))
    if op == "delete":
        return Delete(document["queue"], document["key"], document["entity"])
    if op == "sync":
        return Sync(document["queue"], document["entity"], tuple(document["keys"]))
    if op == "clock":
        return SourceClock(document["source"], document["ts"])
    raise ValueError(f"unknown queue record op {op!r}")


def queue_change_from_json(raw: bytes) -> QueueChange:
    record = decode_queue_record(raw)
    if isinstance(record, SourceClock):
        raise ValueError("expected a queue change, got a clock record")
    return record
