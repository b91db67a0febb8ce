"""JSON codecs of the two-stage worker: entity rows, live fact rows and queue-keyed topic records.

Every record must come back equal after a trip through JSON bytes, for
hand-built values and for whatever the simulator's mixed stream folds into.
T0 is 2024-03-01T12:00:00Z = 1_709_294_400_000 ms.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.bench.engine_bench import BenchPlan, generate_messages
from ccpulse.codec import json
from ccpulse.codec.events import decode_event
from ccpulse.codec.stage_records import (
    SourceClock,
    clock_to_json,
    contact_state_from_dict,
    contact_state_to_dict,
    decode_queue_record,
    entity_state_from_dict,
    entity_state_to_dict,
    fact_from_dict,
    fact_to_dict,
    live_fact_from_dict,
    live_fact_to_dict,
    queue_change_from_json,
    queue_change_to_json,
)
from ccpulse.domain.agent_states import AgentTimeline, apply_agent_event
from ccpulse.domain.contacts import ContactRules, ContactState, record_event
from ccpulse.domain.entities import (
    Delete,
    EntityRules,
    EntityState,
    QueueChange,
    Sync,
    Upsert,
    apply_entity_event,
    entity_facts,
    entity_key,
    routes_of,
)
from ccpulse.domain.events import (
    AgentEvent,
    AgentState,
    Channel,
    ContactEvent,
    ContactEventType,
    SurveyEvent,
    SurveyKind,
    TicketEvent,
    TicketEventType,
)
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
from ccpulse.domain.queue_view import ViewFact
from ccpulse.domain.tickets import TicketState, apply_ticket_event

T0_MS = 1_709_294_400_000
SECOND_MS = 1_000
RULES = EntityRules(
    ContactRules(acw_timeout_ms=lambda q: 120_000), customer_key=lambda c: None if c is None else "k" + c
)


def through_json(document: dict[str, Any]) -> dict[str, Any]:
    """What a reader of the topic gets back: the document after JSON bytes."""
    result: dict[str, Any] = json.loads(json.dumps(document))
    return result


def entity_round_trip(state: EntityState) -> EntityState:
    return entity_state_from_dict(through_json(entity_state_to_dict(state)))


# --- facts ------------------------------------------------------------------------------------------------------------

FACTS: list[ViewFact] = [
    QueueArrivalFact("c-1", "sales", Channel.VOICE, T0_MS, customer_key="k-cust-7"),
    QueueArrivalFact("c-2", "support", Channel.CHAT, T0_MS + 5 * SECOND_MS),
    QueueOutcomeFact("c-1", "sales", Channel.VOICE, QueueOutcome.ANSWERED, T0_MS, T0_MS + 42 * SECOND_MS),
    QueueOutcomeFact("c-3", "sales", Channel.VOICE, QueueOutcome.FLOWED_OUT, T0_MS, T0_MS + 300 * SECOND_MS),
    HandlingFact(
        contact_id="c-1",
        queue="sales",
        channel=Channel.VOICE,
        agent_id="a-7",
        answered_ts_ms=T0_MS + 42 * SECOND_MS,
        ended_ts_ms=T0_MS + 400 * SECOND_MS,
        completed_ts_ms=T0_MS + 460 * SECOND_MS,
        hold_ms=30 * SECOND_MS,
        hold_count=1,
        acw_timed_out=False,
        transferred=False,
        resolved=True,
        disposition="order-placed",
        customer_key="k-cust-7",
    ),
    HandlingFact(
        contact_id="c-4",
        queue="support",
        channel=Channel.CHAT,
        agent_id="a-2",
        answered_ts_ms=T0_MS,
        ended_ts_ms=T0_MS + 90 * SECOND_MS,
        completed_ts_ms=T0_MS + 210 * SECOND_MS,
        hold_ms=0,
        hold_count=0,
        acw_timed_out=True,
        transferred=True,
    ),
    AgentStateFact("a-7", AgentState.BUSY, T0_MS, T0_MS + 60 * SECOND_MS, queues=("sales", "support"), team="t-1"),
    AgentStateFact("a-2", AgentState.AWAY, T0_MS, T0_MS + 900 * SECOND_MS),
    TicketFact("t-1", "billing", Channel.EMAIL, TicketStep.CREATED, T0_MS),
    TicketFact(
        "t-1",
        "billing",
        Channel.EMAIL,
        TicketStep.SOLVED,
        T0_MS + 3_600 * SECOND_MS,
        duration_ms=3_600 * SECOND_MS,
        public_replies=1,
        agent_id="a-9",
    ),
    SurveyFact("s-1", SurveyKind.CES, 6.5, T0_MS + 7_200 * SECOND_MS, "sales", Channel.VOICE, "a-7"),
    SurveyFact("s-2", SurveyKind.NPS, 9.0, T0_MS, None, None, None),
    AgentPresenceFact("a-7", AgentState.AVAILABLE, T0_MS, queues=("sales",)),
    AgentPresenceFact("a-3", AgentState.LOGGED_OUT, T0_MS),
    TicketOpenFact("t-2", "billing"),
]


@pytest.mark.parametrize("fact", FACTS, ids=lambda fact: type(fact).__name__)
def test_every_fact_type_round_trips(fact: ViewFact) -> None:
    assert fact_from_dict(through_json(fact_to_dict(fact))) == fact


def test_every_fact_kind_is_covered_by_the_cases() -> None:
    kinds = {fact_to_dict(fact)["kind"] for fact in FACTS}

    assert kinds == {"arrival", "outcome", "handling", "agent_state", "ticket", "survey", "presence", "ticket_open"}


def test_fact_document_is_plain_json_with_nones_kept() -> None:
    document = fact_to_dict(AgentStateFact("a-2", AgentState.AWAY, T0_MS, T0_MS + 1, queues=("q1", "q2")))

    assert document == {
        "kind": "agent_state",
        "agent_id": "a-2",
        "state": "away",
        "start_ts_ms": T0_MS,
        "end_ts_ms": T0_MS + 1,
        "queues": ["q1", "q2"],
        "team": None,
    }


def test_survey_fact_keeps_its_own_kind_apart_from_the_discriminator() -> None:
    document = fact_to_dict(SurveyFact("s-1", SurveyKind.CSAT, 4.0, T0_MS, "sales", Channel.CHAT, None))

    assert document["kind"] == "survey"
    assert document["survey_kind"] == "csat"


def test_survey_score_comes_back_as_a_float() -> None:
    document = fact_to_dict(SurveyFact("s-1", SurveyKind.CSAT, 4.0, T0_MS, None, None, None))
    document["score"] = 4  # what a JSON writer that drops ".0" would give

    fact = fact_from_dict(document)

    assert isinstance(fact, SurveyFact)
    assert isinstance(fact.score, float)


@pytest.mark.parametrize("document", [{"kind": "nope", "agent_id": "a-1"}, {"agent_id": "a-1"}])
def test_unknown_fact_kind_is_rejected(document: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown fact kind"):
        fact_from_dict(document)


def test_unknown_fact_kind_is_named() -> None:
    with pytest.raises(ValueError, match="nope"):
        fact_from_dict({"kind": "nope"})


# --- entity rows ------------------------------------------------------------------------------------------------------


def contact_event(event_id: str, kind: ContactEventType, offset_s: int, **fields: Any) -> ContactEvent:
    return ContactEvent(event_id, kind, T0_MS + offset_s * SECOND_MS, "c-1", **fields)


CONTACT_EVENTS = [
    contact_event("e-1", ContactEventType.QUEUED, 0, queue="sales", channel=Channel.VOICE, customer_id="cust-7"),
    contact_event("e-2", ContactEventType.ANSWERED, 42, agent_id="a-7"),
    contact_event("e-3", ContactEventType.HOLD_STARTED, 100, agent_id="a-7"),
    contact_event("e-4", ContactEventType.HOLD_ENDED, 130),
    contact_event("e-5", ContactEventType.TRANSFERRED, 200, agent_id="a-7", to_queue="support"),
    contact_event("e-6", ContactEventType.QUEUED, 201, queue="support", channel=Channel.VOICE),
    contact_event("e-7", ContactEventType.ANSWERED, 230, agent_id="a-2"),
    contact_event("e-8", ContactEventType.ENDED, 400, resolved=True),
    contact_event("e-9", ContactEventType.WRAPUP_ENDED, 460, agent_id="a-2", queue="support", disposition="fixed"),
]


def folded_contact() -> ContactState:
    contact = ContactState()
    for event in CONTACT_EVENTS:
        contact = record_event(contact, event, RULES.customer_key(event.customer_id))
    return contact


def test_contact_state_round_trips() -> None:
    contact = folded_contact()
    assert contact.handling.answers
    assert contact.handling.ends
    assert contact.handling.holds
    assert contact.handling.wrapups
    assert contact.customer_key == "kcust-7"

    assert contact_state_from_dict(through_json(contact_state_to_dict(contact))) == contact


def test_missing_contact_state_is_empty() -> None:
    assert contact_state_from_dict(None) == ContactState()
    assert contact_state_from_dict({}) == ContactState()


def test_contact_entity_round_trips() -> None:
    rated = SurveyEvent("s-1", T0_MS + 600 * SECOND_MS, SurveyKind.CSAT, 5.0, contact_id="c-1")
    state = EntityState(
        contact=folded_contact(),
        surveys=(rated,),
        last_event_ms=T0_MS + 600 * SECOND_MS,
        queues_sent_to=frozenset({"support", "sales"}),
    )

    document = through_json(entity_state_to_dict(state))

    assert document["agent"] is None
    assert document["ticket"] is None
    assert document["queues_sent_to"] == ["sales", "support"]
    assert entity_state_from_dict(document) == state


def test_agent_entity_round_trips() -> None:
    events = [
        AgentEvent("g-1", T0_MS, "a-7", AgentState.AVAILABLE, queues=("sales", "support"), team="t-1"),
        AgentEvent("g-2", T0_MS + 60 * SECOND_MS, "a-7", AgentState.BUSY, queues=("sales",), team="t-1"),
        AgentEvent("g-3", T0_MS + 30 * SECOND_MS, "a-7", AgentState.AWAY, reason="break"),  # late
    ]
    timeline = AgentTimeline()
    for event in events:
        timeline, _ = apply_agent_event(timeline, event)
    assert len(timeline.changes) == 3

    state = EntityState(agent=timeline, last_event_ms=T0_MS + 60 * SECOND_MS, queues_sent_to=frozenset({"sales"}))

    assert entity_round_trip(state) == state


def test_ticket_entity_with_surveys_round_trips() -> None:
    events = [
        TicketEvent("k-1", TicketEventType.CREATED, T0_MS, "t-1", queue="billing", channel=Channel.EMAIL),
        TicketEvent("k-2", TicketEventType.REPLIED, T0_MS + 600 * SECOND_MS, "t-1", agent_id="a-9", public=False),
        TicketEvent("k-3", TicketEventType.REPLIED, T0_MS + 900 * SECOND_MS, "t-1", agent_id="a-9", public=True),
        TicketEvent("k-4", TicketEventType.SOLVED, T0_MS + 3_600 * SECOND_MS, "t-1", agent_id="a-9"),
    ]
    ticket = TicketState()
    for event in events:
        ticket, _ = apply_ticket_event(ticket, event)
    assert len(ticket.marks) == 3
    surveys = (
        SurveyEvent("s-1", T0_MS + 7_200 * SECOND_MS, SurveyKind.CES, 6.5, ticket_id="t-1", source="zendesk"),
        SurveyEvent(
            "s-2",
            T0_MS + 7_300 * SECOND_MS,
            SurveyKind.NPS,
            10.0,
            ticket_id="t-1",
            queue="billing",
            channel=Channel.EMAIL,
            agent_id="a-9",
            tenant="acme",
        ),
    )
    state = EntityState(ticket=ticket, surveys=surveys, last_event_ms=T0_MS + 7_300 * SECOND_MS)

    assert entity_round_trip(state) == state


def test_surveys_only_entity_round_trips() -> None:
    """Surveys may arrive before anything they rate: the row then holds only them."""
    state = EntityState(
        surveys=(SurveyEvent("s-9", T0_MS, SurveyKind.ESAT, 3.0, contact_id="c-404"),), last_event_ms=T0_MS
    )

    assert entity_round_trip(state) == state


def test_empty_entity_round_trips() -> None:
    assert entity_round_trip(EntityState()) == EntityState()
    assert entity_state_from_dict(None) == EntityState()
    assert entity_state_from_dict({}) == EntityState()


def test_entity_surveys_must_be_survey_events() -> None:
    document = entity_state_to_dict(EntityState())
    document["surveys"] = [{"event_id": "w-1", "type": "stream.watermark", "ts": T0_MS}]

    with pytest.raises(ValueError, match="survey"):
        entity_state_from_dict(document)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(min_value=1, max_value=100_000))
def test_simulated_entity_states_and_their_facts_round_trip(seed: int) -> None:
    messages, _ = generate_messages(BenchPlan(contacts=40, seed=seed))
    states: dict[str, EntityState] = {}
    for raw in messages:
        event = decode_event(raw)
        key = entity_key(event)
        if key is None:
            continue
        state, _ = apply_entity_event(states.get(key, EntityState()), event, RULES)
        states[key] = state
        assert entity_round_trip(state) == state

    assert states
    for key, state in states.items():
        facts = entity_facts(key, state, RULES)
        for fact in facts.values():
            assert fact_from_dict(through_json(fact_to_dict(fact))) == fact
        sent = replace(state, queues_sent_to=frozenset(q for fact in facts.values() for q in routes_of(fact)))
        assert entity_round_trip(sent) == sent


# --- queue stage rows and records -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fact", FACTS, ids=lambda fact: type(fact).__name__)
def test_live_fact_round_trips(fact: ViewFact) -> None:
    live = LiveFact("contact:c-1", fact)

    assert live_fact_from_dict(through_json(live_fact_to_dict(live))) == live


QUEUE_CHANGES: list[QueueChange] = [
    Upsert("sales", "arrival:c-1:1709294400000", "contact:c-1", FACTS[0]),
    Upsert("sales", "presence:a-7", "agent:a-7", AgentPresenceFact("a-7", AgentState.BUSY, T0_MS, ("sales", "x"))),
    Delete("sales", "handling:c-1:1709294442000:a-7", "contact:c-1"),
    Sync("sales", "contact:c-1", ("arrival:c-1:1709294400000", "outcome:c-1:1709294400000")),
    Sync("support", "ticket:t-1", ()),
]


@pytest.mark.parametrize("change", QUEUE_CHANGES, ids=lambda change: type(change).__name__)
def test_queue_change_round_trips(change: QueueChange) -> None:
    raw = queue_change_to_json(change)

    assert queue_change_from_json(raw) == change
    assert decode_queue_record(raw) == change


def test_queue_record_documents() -> None:
    delete = json.loads(queue_change_to_json(Delete("sales", "outcome:c-1:1", "contact:c-1")))
    sync = json.loads(queue_change_to_json(Sync("sales", "contact:c-1", ("a", "b"))))

    assert delete == {"op": "delete", "queue": "sales", "key": "outcome:c-1:1", "entity": "contact:c-1"}
    assert sync == {"op": "sync", "queue": "sales", "entity": "contact:c-1", "keys": ["a", "b"]}


def test_clock_record_round_trips() -> None:
    raw = clock_to_json(3, T0_MS + 17)

    assert json.loads(raw) == {"op": "clock", "source": 3, "ts": T0_MS + 17}
    assert decode_queue_record(raw) == SourceClock(3, T0_MS + 17)


def test_queue_change_decoder_rejects_a_clock() -> None:
    with pytest.raises(ValueError, match="clock"):
        queue_change_from_json(clock_to_json(0, T0_MS))


def test_unknown_queue_record_op_is_rejected_by_name() -> None:
    raw = json.dumps({"op": "merge", "queue": "sales", "key": "k", "entity": "contact:c-1"})

    with pytest.raises(ValueError, match="merge"):
        decode_queue_record(raw)
    with pytest.raises(ValueError, match="merge"):
        queue_change_from_json(raw)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"[1, 2]", "JSON object"), (b"not json", "char 0"), (b'{"queue": "sales"}', "op None")],
)
def test_malformed_queue_records_are_rejected(raw: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_queue_record(raw)


def test_upsert_with_unknown_fact_kind_is_rejected() -> None:
    raw = json.dumps({"op": "upsert", "queue": "sales", "key": "k", "entity": "contact:c-1", "fact": {"kind": "x"}})

    with pytest.raises(ValueError, match="unknown fact kind"):
        decode_queue_record(raw)
