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
    OtherEvent,
    RejectReason,
    decode_event,
    encode_contact_event,
    parse_ts,
)
from ccpulse.domain.events import (
    NON_CONTACT_EVENT_TYPES,
    Channel,
    ContactEvent,
    ContactEventType,
    FlowOutReason,
)

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
        pytest.param(MIN_TS_MS, 946_684_800_000, id="lower-bound-2000-inclusive"),
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
        pytest.param(MIN_TS_MS - 1, id="just-before-2000"),
        pytest.param(MAX_TS_MS, id="2200-exclusive"),
        pytest.param("1999-12-31T23:59:59Z", id="rfc3339-before-2000"),
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
]


@pytest.mark.parametrize(("raw", "expected_reason"), REJECTED_INPUTS)
def test_bad_input_is_rejected_with_its_reason(raw: bytes, expected_reason: RejectReason) -> None:
    assert reject_reason(raw) is expected_reason


def test_every_reject_reason_is_reachable_by_a_concrete_input() -> None:
    reached = {case.values[1] for case in REJECTED_INPUTS}

    assert reached == set(RejectReason)


def test_invalid_event_carries_reason_and_detail() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(b"\xff\xfe")

    assert caught.value.reason is RejectReason.NOT_UTF8
    assert caught.value.detail == "invalid UTF-8 at byte 0"
    assert str(caught.value) == "not_utf8: invalid UTF-8 at byte 0"
    assert isinstance(caught.value, ValueError)


# --- accepted input ---------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(NON_CONTACT_EVENT_TYPES))
def test_valid_non_contact_types_decode_to_other_event(event_type: str) -> None:
    raw = json.dumps({"event_id": "x-1", "type": event_type, "ts": "2024-03-01T12:00:00Z", "agent_id": "a-1"})

    assert decode_event(raw) == OtherEvent(event_id="x-1", type=event_type, ts_ms=T0_MS)


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
    ],
)
def test_error_message_never_contains_the_offending_value(raw: bytes) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)

    message = str(caught.value)
    assert "5551234567" not in message
    assert "5551234567" not in caught.value.detail
