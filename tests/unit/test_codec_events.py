"""Decoding canonical events from bytes (SPEC section 2) and rejecting bad input by reason (SPEC section 5).

Every RejectReason has at least one concrete input here; error messages must
never carry field values, which may be PII. T0 is 2024-03-01T12:00:00Z =
1_709_294_400_000 ms (worked out in test_queue_stints.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.codec import json
from ccpulse.codec.events import (
    MAX_ID_LENGTH,
    MAX_TS_MS,
    MIN_TS_MS,
    InvalidEvent,
    RejectReason,
    decode_event,
    encode_contact_event,
    encode_event,
    parse_ts,
)
from ccpulse.domain.events import (
    AgentEvent,
    AgentState,
    CanonicalEvent,
    Channel,
    ContactEvent,
    ContactEventType,
    FlowOutReason,
    SurveyEvent,
    SurveyKind,
    TicketEvent,
    TicketEventType,
    WatermarkEvent,
)
from ccpulse.domain.surveys import SCORE_SCALES

T0_MS = 1_709_294_400_000
PHONE_NUMBER = "+15551234567"


def queued_document(**changes: Any) -> dict[str, Any]:
    """A valid contact.queued event; ``changes`` replace fields, a value of ``...`` removes the field."""
    document: dict[str, Any] = {
        "event_id": "e-1",
        "type": "contact.queued",
        "ts": T0_MS,
        "contact_id": "c-1",
        "queue": "sales",
        "channel": "voice",
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not ...}


def encoded(**changes: Any) -> bytes:
    return json.dumps(queued_document(**changes))


def document_of(base: dict[str, Any], **changes: Any) -> bytes:
    """``base`` with ``changes`` applied (a value of ``...`` removes the field), encoded."""
    document = {**base, **changes}
    return json.dumps({key: value for key, value in document.items() if value is not ...})


AGENT = {"event_id": "ag-1", "type": "agent.state_changed", "ts": T0_MS, "agent_id": "a-1", "state": "available"}
TICKET = {
    "event_id": "tk-1",
    "type": "ticket.created",
    "ts": T0_MS,
    "ticket_id": "t-1",
    "queue": "support",
    "channel": "email",
}
REPLY = {**TICKET, "type": "ticket.replied", "agent_id": "a-1", "public": True}
SURVEY = {"event_id": "sv-1", "type": "survey.submitted", "ts": T0_MS, "kind": "csat", "score": 4, "contact_id": "c-1"}
WATERMARK = {"event_id": "wm-1", "type": "stream.watermark", "ts": T0_MS}


def reject_reason(raw: bytes) -> RejectReason:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    return caught.value.reason


# --- timestamps -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "expected_ms"),
    [
        pytest.param(T0_MS, T0_MS, id="epoch-ms-int"),
        pytest.param("2024-03-01T12:00:00Z", T0_MS, id="rfc3339-Z"),
        # 14:00 at +02:00 is 12:00 UTC: the same instant as T0.
        pytest.param("2024-03-01T14:00:00+02:00", T0_MS, id="rfc3339-plus-two-hours"),
        # 12:00:00.250 at +02:00 is 10:00:00.250Z: T0 - 2 h (7_200_000 ms) + 250 ms.
        pytest.param("2024-03-01T12:00:00.250+02:00", 1_709_287_200_250, id="rfc3339-offset-with-millis"),
        # 09:15:00.250 at +01:00 is 08:15:00.250Z: T0 - 3 h 45 min (13_500_000 ms) + 250 ms.
        pytest.param("2024-03-01T09:15:00.250+01:00", 1_709_280_900_250, id="schema-example"),
        # 07:00 at -05:00 is 12:00 UTC.
        pytest.param("2024-03-01T07:00:00-05:00", T0_MS, id="rfc3339-negative-offset"),
        # Fractions finer than a millisecond are truncated, not rounded: .1239 s -> 123 ms.
        pytest.param("2024-03-01T12:00:00.1239Z", T0_MS + 123, id="sub-millisecond-truncated"),
        pytest.param(MIN_TS_MS, 631_152_000_000, id="lower-bound-1990-inclusive"),
        pytest.param("1999-02-01T07:02:47+02:00", 917_845_367_000, id="history-1999"),
        pytest.param(MAX_TS_MS - 1, 7_258_118_399_999, id="last-ms-before-2200"),
    ],
)
def test_both_timestamp_forms_decode_to_epoch_ms(ts: int | str, expected_ms: int) -> None:
    event = decode_event(encoded(ts=ts))

    assert isinstance(event, ContactEvent)
    assert event.ts_ms == expected_ms


@pytest.mark.parametrize(
    "ts",
    [
        pytest.param("2024-03-01T12:00:00", id="naive-local-time"),
        pytest.param("2024-03-01", id="date-only"),
        pytest.param("yesterday", id="not-a-date"),
        # 2024-03-01T12:00:00Z in epoch seconds: 1_709_294_400 lands in January 1970 as milliseconds.
        pytest.param(1_709_294_400, id="epoch-seconds-instead-of-ms"),
        pytest.param(MIN_TS_MS - 1, id="just-before-1990"),
        pytest.param(MAX_TS_MS, id="2200-exclusive"),
        pytest.param("1989-12-31T23:59:59Z", id="rfc3339-before-1990"),
        pytest.param(-1, id="negative"),
    ],
)
def test_bad_timestamps_are_rejected_as_bad_timestamp(ts: int | str) -> None:
    assert reject_reason(encoded(ts=ts)) is RejectReason.BAD_TIMESTAMP


@pytest.mark.parametrize("ts", [True, False], ids=["true", "false"])
def test_boolean_ts_is_rejected(ts: bool) -> None:
    # JSON true is not the integer 1: the field check stops it before the timestamp check.
    assert reject_reason(encoded(ts=ts)) is RejectReason.WRONG_TYPE
    with pytest.raises(InvalidEvent) as caught:
        parse_ts(ts)
    assert caught.value.reason is RejectReason.BAD_TIMESTAMP


# --- every reject reason ----------------------------------------------------

TOO_LONG_ID = "x" * (MAX_ID_LENGTH + 1)

REJECTED_INPUTS = [
    pytest.param(b"\xff\xfe", RejectReason.NOT_UTF8, id="invalid-utf8"),
    pytest.param(b'{"event_id": "\xff"}', RejectReason.NOT_UTF8, id="invalid-utf8-inside-a-string"),
    pytest.param(b"not json", RejectReason.NOT_JSON, id="not-json"),
    pytest.param(b'{"x": NaN}', RejectReason.NOT_JSON, id="nan-literal"),
    pytest.param(b"", RejectReason.NOT_JSON, id="empty"),
    pytest.param(b'{"event_id": "e-1"', RejectReason.NOT_JSON, id="truncated"),
    pytest.param(b'[{"event_id": "e-1"}]', RejectReason.NOT_OBJECT, id="top-level-list"),
    pytest.param(b'"contact.queued"', RejectReason.NOT_OBJECT, id="top-level-string"),
    pytest.param(b"null", RejectReason.NOT_OBJECT, id="top-level-null"),
    pytest.param(encoded(event_id=...), RejectReason.MISSING_FIELD, id="no-event-id"),
    pytest.param(encoded(type=...), RejectReason.MISSING_FIELD, id="no-type"),
    pytest.param(encoded(ts=...), RejectReason.MISSING_FIELD, id="no-ts"),
    pytest.param(encoded(ts=None), RejectReason.MISSING_FIELD, id="ts-null"),
    pytest.param(encoded(contact_id=...), RejectReason.MISSING_FIELD, id="no-contact-id"),
    pytest.param(encoded(queue=...), RejectReason.MISSING_FIELD, id="queued-without-queue"),
    pytest.param(encoded(channel=...), RejectReason.MISSING_FIELD, id="queued-without-channel"),
    pytest.param(encoded(type="contact.answered"), RejectReason.MISSING_FIELD, id="answered-without-agent-id"),
    pytest.param(encoded(type="contact.flowed_out"), RejectReason.MISSING_FIELD, id="flowed-out-without-reason"),
    pytest.param(encoded(event_id=17), RejectReason.WRONG_TYPE, id="event-id-number"),
    pytest.param(encoded(type=["contact.queued"]), RejectReason.WRONG_TYPE, id="type-list"),
    # A whole-valued float (1_709_294_400_000.0) is accepted as in JSON Schema; a fraction is not.
    pytest.param(encoded(ts=1_709_294_400_000.5), RejectReason.BAD_TIMESTAMP, id="ts-float"),
    pytest.param(encoded(ts=[T0_MS]), RejectReason.WRONG_TYPE, id="ts-list"),
    pytest.param(encoded(contact_id={"id": "c-1"}), RejectReason.WRONG_TYPE, id="contact-id-object"),
    pytest.param(encoded(channel=1), RejectReason.WRONG_TYPE, id="channel-number"),
    pytest.param(encoded(priority="high"), RejectReason.WRONG_TYPE, id="priority-string"),
    pytest.param(encoded(priority=True), RejectReason.WRONG_TYPE, id="priority-boolean"),
    pytest.param(encoded(customer_id=15_551_234_567), RejectReason.WRONG_TYPE, id="customer-id-number"),
    pytest.param(encoded(source=5), RejectReason.WRONG_TYPE, id="source-number"),
    pytest.param(encoded(event_id=""), RejectReason.BAD_VALUE, id="event-id-empty"),
    pytest.param(encoded(event_id=TOO_LONG_ID), RejectReason.BAD_VALUE, id="event-id-201-characters"),
    pytest.param(encoded(queue=""), RejectReason.BAD_VALUE, id="queue-empty"),
    pytest.param(encoded(channel="fax"), RejectReason.BAD_VALUE, id="channel-not-in-enum"),
    pytest.param(encoded(channel="Voice"), RejectReason.BAD_VALUE, id="channel-wrong-case"),
    pytest.param(
        encoded(type="contact.flowed_out", reason="bored"), RejectReason.BAD_VALUE, id="flow-out-reason-not-in-enum"
    ),
    pytest.param(encoded(ts="2024-03-01T12:00:00"), RejectReason.BAD_TIMESTAMP, id="naive-ts"),
    pytest.param(encoded(type="contact.teleported"), RejectReason.UNKNOWN_TYPE, id="unknown-contact-type"),
    pytest.param(encoded(type="ticket.exploded"), RejectReason.UNKNOWN_TYPE, id="unknown-ticket-type"),
    # agent.state_changed
    pytest.param(document_of(AGENT, agent_id=...), RejectReason.MISSING_FIELD, id="agent-without-agent-id"),
    pytest.param(document_of(AGENT, state=None), RejectReason.MISSING_FIELD, id="agent-state-null"),
    pytest.param(document_of(AGENT, state="on_break"), RejectReason.BAD_VALUE, id="agent-state-not-in-enum"),
    pytest.param(document_of(AGENT, queues="support"), RejectReason.WRONG_TYPE, id="agent-queues-string"),
    pytest.param(document_of(AGENT, queues=["support", 7]), RejectReason.WRONG_TYPE, id="agent-queue-number"),
    pytest.param(document_of(AGENT, queues=[""]), RejectReason.BAD_VALUE, id="agent-queue-empty"),
    pytest.param(document_of(AGENT, team=""), RejectReason.BAD_VALUE, id="agent-team-empty"),
    pytest.param(document_of(AGENT, reason=5), RejectReason.WRONG_TYPE, id="agent-reason-number"),
    # ticket.*
    pytest.param(document_of(TICKET, ticket_id=...), RejectReason.MISSING_FIELD, id="ticket-without-ticket-id"),
    pytest.param(
        document_of(TICKET, type="ticket.solved", queue=...), RejectReason.MISSING_FIELD, id="solved-without-queue"
    ),
    pytest.param(
        document_of(TICKET, type="ticket.closed", channel=...), RejectReason.MISSING_FIELD, id="closed-without-channel"
    ),
    pytest.param(document_of(TICKET, channel="fax"), RejectReason.BAD_VALUE, id="ticket-channel-not-in-enum"),
    pytest.param(document_of(REPLY, public=...), RejectReason.MISSING_FIELD, id="replied-without-public"),
    pytest.param(document_of(REPLY, agent_id=...), RejectReason.MISSING_FIELD, id="replied-without-agent"),
    pytest.param(document_of(REPLY, public="true"), RejectReason.WRONG_TYPE, id="replied-public-string"),
    pytest.param(document_of(TICKET, tags="complaint"), RejectReason.WRONG_TYPE, id="ticket-tags-string"),
    pytest.param(document_of(TICKET, tags=["complaint", 1]), RejectReason.WRONG_TYPE, id="ticket-tag-number"),
    pytest.param(document_of(TICKET, disposition=1), RejectReason.WRONG_TYPE, id="ticket-disposition-number"),
    # survey.submitted
    pytest.param(document_of(SURVEY, contact_id=...), RejectReason.MISSING_FIELD, id="survey-rates-nothing"),
    pytest.param(document_of(SURVEY, kind=...), RejectReason.MISSING_FIELD, id="survey-without-kind"),
    pytest.param(document_of(SURVEY, score=...), RejectReason.MISSING_FIELD, id="survey-without-score"),
    pytest.param(document_of(SURVEY, kind="stars"), RejectReason.BAD_VALUE, id="survey-kind-not-in-enum"),
    pytest.param(document_of(SURVEY, score="4"), RejectReason.WRONG_TYPE, id="survey-score-string"),
    pytest.param(document_of(SURVEY, score=True), RejectReason.WRONG_TYPE, id="survey-score-boolean"),
    pytest.param(document_of(SURVEY, score=6), RejectReason.BAD_VALUE, id="csat-6-off-scale"),
    pytest.param(document_of(SURVEY, kind="esat", score=0.5), RejectReason.BAD_VALUE, id="esat-half-off-scale"),
    pytest.param(document_of(SURVEY, kind="nps", score=10.5), RejectReason.BAD_VALUE, id="nps-10.5-off-scale"),
    pytest.param(document_of(SURVEY, kind="ces", score=0), RejectReason.BAD_VALUE, id="ces-0-off-scale"),
    pytest.param(document_of(SURVEY, ticket_id=""), RejectReason.BAD_VALUE, id="survey-ticket-id-empty"),
    pytest.param(document_of(SURVEY, channel="fax"), RejectReason.BAD_VALUE, id="survey-channel-not-in-enum"),
    # stream.watermark: the common fields are checked on every type
    pytest.param(document_of(WATERMARK, tenant=True), RejectReason.WRONG_TYPE, id="watermark-tenant-boolean"),
    pytest.param(document_of(WATERMARK, ts=...), RejectReason.MISSING_FIELD, id="watermark-without-ts"),
]


@pytest.mark.parametrize(("raw", "expected_reason"), REJECTED_INPUTS)
def test_bad_input_is_rejected_with_its_reason(raw: bytes, expected_reason: RejectReason) -> None:
    assert reject_reason(raw) is expected_reason


def test_every_decoding_reject_reason_is_reachable_by_a_concrete_input() -> None:
    reached = {case.values[1] for case in REJECTED_INPUTS}

    # late and future are decided by the worker against stream time and the wall clock, not by decoding.
    assert reached == set(RejectReason) - {RejectReason.LATE, RejectReason.FUTURE}


def test_invalid_event_carries_reason_and_detail() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(b"\xff\xfe")

    assert caught.value.reason is RejectReason.NOT_UTF8
    assert caught.value.detail == "invalid UTF-8 at byte 0"
    assert str(caught.value) == "not_utf8: invalid UTF-8 at byte 0"
    assert isinstance(caught.value, ValueError)


# --- accepted input ---------------------------------------------------------


def test_agent_state_changed_decodes_every_field() -> None:
    raw = document_of(
        AGENT,
        ts="2024-03-01T13:00:00+01:00",
        state="away",
        reason="lunch",
        queues=["support", "billing"],
        team="tier-1",
        source="genesys",
        tenant="eu",
    )

    assert decode_event(raw) == AgentEvent(
        event_id="ag-1",
        ts_ms=T0_MS,  # 13:00 at +01:00 is 12:00Z
        agent_id="a-1",
        state=AgentState.AWAY,
        reason="lunch",
        queues=("support", "billing"),
        team="tier-1",
        source="genesys",
        tenant="eu",
    )


def test_agent_state_changed_with_null_optionals_has_no_queues() -> None:
    event = decode_event(document_of(AGENT, queues=None, team=None, reason=None))

    assert event == AgentEvent(event_id="ag-1", ts_ms=T0_MS, agent_id="a-1", state=AgentState.AVAILABLE)


@pytest.mark.parametrize("event_type", list(TicketEventType))
def test_every_ticket_type_decodes_with_queue_and_channel(event_type: TicketEventType) -> None:
    base = REPLY if event_type is TicketEventType.REPLIED else TICKET
    # disposition and tags are checked but not kept; `public` is read on replies only.
    raw = document_of(base, type=event_type.value, disposition="complaint", tags=["vip"], public=True)

    assert decode_event(raw) == TicketEvent(
        event_id="tk-1",
        type=event_type,
        ts_ms=T0_MS,
        ticket_id="t-1",
        queue="support",
        channel=Channel.EMAIL,
        agent_id="a-1" if event_type is TicketEventType.REPLIED else None,
        public=True if event_type is TicketEventType.REPLIED else None,
    )


def test_internal_note_decodes_as_a_non_public_reply() -> None:
    event = decode_event(document_of(REPLY, public=False))

    assert isinstance(event, TicketEvent)
    assert event.public is False


@pytest.mark.parametrize(
    ("kind", "score"),
    [
        pytest.param("csat", 1, id="csat-1"),
        pytest.param("csat", 5, id="csat-5"),
        pytest.param("esat", 4.5, id="esat-4.5"),
        pytest.param("nps", 0, id="nps-0"),
        pytest.param("nps", 10.0, id="nps-10.0"),
        pytest.param("ces", 1, id="ces-1"),
        pytest.param("ces", 7, id="ces-7"),
    ],
)
def test_survey_scores_at_the_ends_of_each_scale_are_accepted(kind: str, score: float) -> None:
    event = decode_event(document_of(SURVEY, kind=kind, score=score))

    assert isinstance(event, SurveyEvent)
    assert event.kind is SurveyKind(kind)
    assert event.score == score
    assert isinstance(event.score, float)


def test_survey_decodes_every_field() -> None:
    raw = document_of(
        SURVEY,
        kind="nps",
        score=9,
        contact_id="c-9",
        ticket_id="t-9",
        queue="support",
        channel="chat",
        agent_id="a-3",
        tenant="eu",
    )

    assert decode_event(raw) == SurveyEvent(
        event_id="sv-1",
        ts_ms=T0_MS,
        kind=SurveyKind.NPS,
        score=9.0,
        contact_id="c-9",
        ticket_id="t-9",
        queue="support",
        channel=Channel.CHAT,
        agent_id="a-3",
        tenant="eu",
    )


def test_survey_about_a_ticket_only_is_accepted() -> None:
    event = decode_event(document_of(SURVEY, contact_id=None, ticket_id="t-1"))

    assert isinstance(event, SurveyEvent)
    assert (event.contact_id, event.ticket_id) == (None, "t-1")


def test_watermark_decodes_to_its_time_only() -> None:
    raw = document_of(WATERMARK, ts="2024-03-01T12:00:00Z", source="replay", contact_id="ignored")

    assert decode_event(raw) == WatermarkEvent(event_id="wm-1", ts_ms=T0_MS)


def test_queued_event_decodes_every_field() -> None:
    raw = encoded(priority=2, customer_id="cust-00042", source="asterisk-queue-log", tenant="eu", extra="ignored")

    assert decode_event(raw) == ContactEvent(
        event_id="e-1",
        type=ContactEventType.QUEUED,
        ts_ms=T0_MS,
        contact_id="c-1",
        queue="sales",
        channel=Channel.VOICE,
        priority=2,
        customer_id="cust-00042",
        source="asterisk-queue-log",
        tenant="eu",
    )


identifiers = st.text(min_size=1, max_size=MAX_ID_LENGTH)


@st.composite
def contact_events(draw: st.DrawFn) -> ContactEvent:
    """Any ContactEvent the codec accepts: required fields present for the type, ids 1..200 characters."""
    event_type = draw(st.sampled_from(ContactEventType))
    is_queued = event_type is ContactEventType.QUEUED
    return ContactEvent(
        event_id=draw(identifiers),
        type=event_type,
        ts_ms=draw(st.integers(MIN_TS_MS, MAX_TS_MS - 1)),
        contact_id=draw(identifiers),
        queue=draw(identifiers if is_queued else st.none() | identifiers),
        channel=draw(st.sampled_from(Channel) if is_queued else st.none() | st.sampled_from(Channel)),
        agent_id=draw(identifiers if event_type is ContactEventType.ANSWERED else st.none() | identifiers),
        # Kept for flowed_out only: elsewhere `reason` is the producer's free text.
        reason=draw(st.sampled_from(FlowOutReason)) if event_type is ContactEventType.FLOWED_OUT else None,
        priority=draw(st.none() | st.integers(-(2**31), 2**31 - 1)),
        customer_id=draw(st.none() | identifiers),
        to_queue=draw(st.none() | identifiers),
        resolved=draw(st.none() | st.booleans()),
        disposition=draw(st.none() | st.text()),
        source=draw(st.none() | st.text()),
        tenant=draw(st.none() | st.text()),
    )


@settings(max_examples=200, deadline=None)
@given(contact_events())
def test_encode_contact_event_round_trips_through_decode_event(event: ContactEvent) -> None:
    assert decode_event(encode_contact_event(event)) == event


optional_text = st.none() | st.text()
timestamps_ms = st.integers(MIN_TS_MS, MAX_TS_MS - 1)


@st.composite
def ticket_events(draw: st.DrawFn) -> TicketEvent:
    event_type = draw(st.sampled_from(TicketEventType))
    replied = event_type is TicketEventType.REPLIED
    return TicketEvent(
        event_id=draw(identifiers),
        type=event_type,
        ts_ms=draw(timestamps_ms),
        ticket_id=draw(identifiers),
        queue=draw(identifiers),
        channel=draw(st.sampled_from(Channel)),
        agent_id=draw(identifiers if replied else st.none() | identifiers),
        public=draw(st.booleans()) if replied else None,
        source=draw(optional_text),
        tenant=draw(optional_text),
    )


@st.composite
def survey_events(draw: st.DrawFn) -> SurveyEvent:
    kind = draw(st.sampled_from(SurveyKind))
    low, high = SCORE_SCALES[kind]
    rates_contact, rates_ticket = draw(st.sampled_from([(True, False), (False, True), (True, True)]))
    contact_id = draw(identifiers) if rates_contact else None
    ticket_id = draw(identifiers) if rates_ticket else None
    return SurveyEvent(
        event_id=draw(identifiers),
        ts_ms=draw(timestamps_ms),
        kind=kind,
        score=draw(st.floats(low, high) | st.integers(low, high).map(float)),
        contact_id=contact_id,
        ticket_id=ticket_id,
        queue=draw(st.none() | identifiers),
        channel=draw(st.none() | st.sampled_from(Channel)),
        agent_id=draw(st.none() | identifiers),
        source=draw(optional_text),
        tenant=draw(optional_text),
    )


agent_events = st.builds(
    AgentEvent,
    event_id=identifiers,
    ts_ms=timestamps_ms,
    agent_id=identifiers,
    state=st.sampled_from(AgentState),
    reason=optional_text,
    queues=st.lists(identifiers, max_size=3).map(tuple),
    team=st.none() | identifiers,
    source=optional_text,
    tenant=optional_text,
)
watermark_events = st.builds(WatermarkEvent, event_id=identifiers, ts_ms=timestamps_ms)


@settings(max_examples=300, deadline=None)
@given(st.one_of(contact_events(), agent_events, ticket_events(), survey_events(), watermark_events))
def test_encode_event_round_trips_every_event_type_through_decode_event(event: CanonicalEvent) -> None:
    assert decode_event(encode_event(event)) == event


# --- no field values in error messages --------------------------------------

# customer_id a phone number of the wrong length: 12 characters * 17 = 204 > 200.
TOO_LONG_PHONE = PHONE_NUMBER * 17


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(encoded(customer_id=15_551_234_567), id="customer-id-as-number"),
        pytest.param(encoded(customer_id=[PHONE_NUMBER]), id="customer-id-as-list"),
        pytest.param(encoded(customer_id=TOO_LONG_PHONE), id="customer-id-too-long"),
        pytest.param(encoded(contact_id=TOO_LONG_PHONE), id="contact-id-too-long"),
        pytest.param(encoded(channel=PHONE_NUMBER), id="channel-not-in-enum"),
        pytest.param(encoded(type="contact.flowed_out", reason=PHONE_NUMBER), id="reason-not-in-enum"),
        pytest.param(encoded(ts=PHONE_NUMBER), id="ts-not-a-date"),
        pytest.param(encoded(ts=15_551_234_567), id="ts-out-of-range"),
        pytest.param(b'{"customer_id": "+15551234567", "ts": }', id="not-json"),
        pytest.param(b'{"customer_id": "+15551234567\xff"}', id="not-utf8"),
        pytest.param(
            encoded(type=PHONE_NUMBER),
            id="unknown-type",
        ),
        pytest.param(document_of(AGENT, state=PHONE_NUMBER), id="agent-state-not-in-enum"),
        pytest.param(document_of(AGENT, queues=[TOO_LONG_PHONE]), id="agent-queue-too-long"),
        pytest.param(document_of(TICKET, ticket_id=TOO_LONG_PHONE), id="ticket-id-too-long"),
        pytest.param(document_of(SURVEY, kind="nps", score=15_551_234_567), id="survey-score-off-scale"),
        pytest.param(document_of(SURVEY, kind=PHONE_NUMBER), id="survey-kind-not-in-enum"),
    ],
)
def test_error_message_never_contains_the_offending_value(raw: bytes) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)

    message = str(caught.value)
    assert "5551234567" not in message
    assert "5551234567" not in caught.value.detail
