"""The codec's fast paths against its strict ones: the same documents accepted, the same values out.

:func:`~ccpulse.codec.events.event_from_dict` tries a fast path of direct
type tests first and hands anything it does not accept outright to the strict
path, which alone decides the reject reason. So the property checked here is:
whatever the document, the fast path gives None or exactly what the strict
path gives, and None whenever the strict path rejects. The well-formed common
shapes must take the fast path, or it would be no faster.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccpulse.codec import events
from ccpulse.codec.events import (
    InvalidEvent,
    decode_event,
    encode_event,
    event_document,
    field_conversions,
    frozen_builder,
    member_by_value,
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

T0_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z


def strict_outcome(document: dict[str, Any]) -> CanonicalEvent | InvalidEvent:
    try:
        return events._strict_event(document)
    except InvalidEvent as exc:
        return exc


def assert_fast_agrees_with_strict(document: dict[str, Any]) -> CanonicalEvent | None:
    """The fast path's event (None if it declined), checked against the strict path."""
    fast = events._fast_event(document)
    strict = strict_outcome(document)
    if isinstance(strict, InvalidEvent):
        assert fast is None, f"fast path accepted what the strict path rejects ({strict.reason})"
    elif fast is not None:
        assert fast == strict
        for spec in fields(strict):
            assert type(getattr(fast, spec.name)) is type(getattr(strict, spec.name)), spec.name
    return fast


# --- timestamps -------------------------------------------------------------


def strict_ts_ms(text: str) -> int | None:
    try:
        return events._parse_rfc3339_ms(text)
    except InvalidEvent:
        return None


TIMESTAMPS = [
    # the common shape, and the calendar around it
    ("2024-03-01T12:00:00.000Z", T0_MS),
    ("2024-03-01T12:00:00.999Z", T0_MS + 999),
    ("2024-02-29T00:00:00.000Z", 1_709_164_800_000),  # leap year
    ("2000-02-29T00:00:00.000Z", 951_782_400_000),  # divisible by 400: leap
    ("2023-02-29T00:00:00.000Z", None),
    ("2100-02-29T00:00:00.000Z", None),  # divisible by 100 only: not leap
    ("2024-04-31T00:00:00.000Z", None),
    ("2024-13-01T00:00:00.000Z", None),
    ("2024-00-01T00:00:00.000Z", None),
    ("2024-01-00T00:00:00.000Z", None),
    ("0000-01-01T00:00:00.000Z", None),  # no year 0
    ("2024-01-01T24:00:00.000Z", None),
    ("2024-01-01T23:60:00.000Z", None),
    # leap second: one second after :59
    ("2024-03-01T23:59:60Z", T0_MS + 12 * 3_600_000),
    ("2024-03-01T23:59:60.500Z", T0_MS + 12 * 3_600_000 + 500),
    ("2024-03-01T12:00:61Z", None),
    # fractions of every length, truncated to milliseconds
    ("2024-03-01T12:00:00Z", T0_MS),
    ("2024-03-01T12:00:00.5Z", T0_MS + 500),
    ("2024-03-01T12:00:00.25Z", T0_MS + 250),
    ("2024-03-01T12:00:00.1239Z", T0_MS + 123),
    ("2024-03-01T12:00:00.123456789123Z", T0_MS + 123),
    ("2024-03-01T12:00:00.Z", None),
    ("2024-03-01T12:00:00.5.5Z", None),
    ("2024-03-01T12:00:00.1_2Z", None),
    # offsets
    ("2024-03-01T14:00:00+02:00", T0_MS),
    ("2024-03-01T07:00:00.250-05:00", T0_MS + 250),
    ("2024-03-01T12:00:00-00:00", T0_MS),
    ("2024-03-01T12:00:00.1+23:59", T0_MS + 100 - (23 * 60 + 59) * 60_000),
    ("2024-03-01T12:00:00+24:00", None),
    ("2024-03-01T12:00:00+01:60", None),
    ("2024-03-01T12:00:00+0100", None),
    ("2024-03-01T12:00:00+01:00Z", None),
    ("2024-03-01T12:00:00.-01:00", None),
    # not the format
    ("2024-03-01t12:00:00.000Z", None),
    ("2024-03-01T12:00:00.000z", None),
    ("2024-03-01 12:00:00.000Z", None),
    ("2024-03-01T12:00:00.000", None),
    ("2024-03-01T12:00:00.000Z\n", None),
    (" 2024-03-01T12:00:00.000Z", None),
    ("2024-3-01T12:00:00.000Z", None),
    ("2024-03-01T12:00:00.00aZ", None),
    ("2024-03-01T12:00:0\u0663.000Z", None),  # an Arabic-Indic digit
    ("2024-03-01T12:00:00.00\u0663Z", None),
    ("\uff12024-03-01T12:00:00.000Z", None),  # a full-width digit
    ("2024-03-01", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected_ms"), TIMESTAMPS, ids=[text for text, _ in TIMESTAMPS])
def test_fast_timestamp_parser_agrees_with_the_strict_one(text: str, expected_ms: int | None) -> None:
    # Twice: the second time the minute and second caches answer.
    for _ in range(2):
        fast = events._fast_rfc3339_ms(text)
        assert strict_ts_ms(text) == expected_ms
        assert fast is None or fast == expected_ms
    if expected_ms is not None and text.isascii():
        assert fast == expected_ms  # every valid ASCII form is parsed fast


def test_a_cached_second_does_not_vouch_for_a_bad_fraction() -> None:
    assert events._fast_rfc3339_ms("2024-03-01T12:00:00.123Z") == T0_MS + 123
    assert events._fast_rfc3339_ms("2024-03-01T12:00:00.12aZ") is None
    assert events._fast_rfc3339_ms("2024-03-01T12:00:00.12 Z") is None


def test_caches_stay_bounded_and_right_when_they_fill() -> None:
    for second in range(events._CACHE_SIZE + 10):  # from 12:00:00, one a second: more than the cache holds
        text = f"2024-03-01T{12 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.007Z"
        assert events._fast_rfc3339_ms(text) == T0_MS + second * 1000 + 7
    assert len(events._second_ms_cache) <= events._CACHE_SIZE
    assert len(events._minute_ms_cache) <= events._CACHE_SIZE
    assert events._fast_rfc3339_ms("2024-03-01T12:00:00.007Z") == T0_MS + 7


TS_VALUES: list[Any] = [
    T0_MS,
    events.MIN_TS_MS,
    events.MIN_TS_MS - 1,
    events.MAX_TS_MS - 1,
    events.MAX_TS_MS,
    float(T0_MS),  # a whole float is an integer to JSON Schema: strict path
    T0_MS + 0.5,
    True,
    False,
    1,
    -T0_MS,
    None,
    [T0_MS],
    {"ms": T0_MS},
    "1990-01-01T00:00:00.000Z",
    "1989-12-31T23:59:59.999Z",
    "1990-01-01T00:30:00+01:00",  # 1989 in UTC
    "2199-12-31T23:59:59.999Z",
    "2200-01-01T00:00:00.000Z",
    "2199-12-31T23:30:00-01:00",  # 2200 in UTC
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    *(text for text, _ in TIMESTAMPS),
]


@pytest.mark.parametrize("ts", TS_VALUES, ids=[repr(ts)[:40] for ts in TS_VALUES])
def test_fast_path_agrees_on_every_kind_of_ts(ts: Any) -> None:
    document = {"event_id": "e-1", "type": "stream.watermark", "ts": ts}
    fast = assert_fast_agrees_with_strict(document)
    if type(ts) is int and events.MIN_TS_MS <= ts < events.MAX_TS_MS:
        assert fast is not None
    if isinstance(ts, int | float | str):
        try:
            expected: int | None = parse_ts(ts)
        except InvalidEvent:
            expected = None
        assert (None if fast is None else fast.ts_ms) in {None, expected}


# --- whole documents --------------------------------------------------------

WELL_FORMED = [
    {
        "event_id": "e-1",
        "type": "contact.queued",
        "ts": "2024-03-01T12:02:14.549Z",
        "contact_id": "c-1",
        "queue": "q04",
        "channel": "voice",
        "customer_id": "cust-1",
        "priority": 3,
        "source": "simulator",
    },
    {"event_id": "e-2", "type": "contact.answered", "ts": T0_MS, "contact_id": "c-1", "agent_id": "a-1"},
    {"event_id": "e-3", "type": "contact.flowed_out", "ts": T0_MS, "contact_id": "c-1", "reason": "timeout"},
    {"event_id": "e-4", "type": "contact.ended", "ts": T0_MS, "contact_id": "c-1", "resolved": False, "tenant": "t"},
    {"event_id": "e-5", "type": "contact.wrapup_ended", "ts": T0_MS, "contact_id": "c", "disposition": "sale"},
    {"event_id": "e-6", "type": "contact.transferred", "ts": T0_MS, "contact_id": "c-1", "to_queue": "q2"},
    {"event_id": "e-7", "type": "contact.hold_started", "ts": T0_MS, "contact_id": "c-1", "reason": "free text"},
    {
        "event_id": "e-8",
        "type": "agent.state_changed",
        "ts": T0_MS,
        "agent_id": "a-1",
        "state": "busy",
        "queues": ["q1", "q2"],
        "team": "t",
        "reason": "call",
    },
    {"event_id": "e-9", "type": "agent.state_changed", "ts": T0_MS, "agent_id": "a-1", "state": "away"},
    {"event_id": "e-10", "type": "ticket.created", "ts": T0_MS, "ticket_id": "t", "queue": "q", "channel": "email"},
    {
        "event_id": "e-11",
        "type": "ticket.replied",
        "ts": T0_MS,
        "ticket_id": "t",
        "queue": "q",
        "channel": "email",
        "agent_id": "a",
        "public": True,
        "tags": ["x"],
        "disposition": "d",
    },
    {"event_id": "e-12", "type": "survey.submitted", "ts": T0_MS, "kind": "nps", "score": 0, "ticket_id": "t"},
    {
        "event_id": "e-13",
        "type": "survey.submitted",
        "ts": T0_MS,
        "kind": "ces",
        "score": 6.5,
        "contact_id": "c",
        "queue": "q",
        "channel": "chat",
        "agent_id": "a",
    },
    {"event_id": "e-14", "type": "stream.watermark", "ts": T0_MS},
]


@pytest.mark.parametrize("document", WELL_FORMED, ids=[d["type"] for d in WELL_FORMED])
def test_well_formed_documents_take_the_fast_path(document: dict[str, Any]) -> None:
    assert assert_fast_agrees_with_strict(document) is not None


# Values that test every type check: JSON's kinds, ids at and past their bounds, near-miss enum values.
ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2.0,
    2.5,
    float("nan"),
    float("inf"),
    True,
    False,
    "",
    "x",
    "x" * 200,
    "x" * 201,
    "\u00e9" * 200,
    [],
    ["q"],
    ["q", 1],
    [""],
    {},
    {"a": 1},
    "voice",
    "Voice",
    "timeout",
    "busy",
    "nps",
    "csat",
    11,
    5,
    4.5,
]
FIELD_NAMES = sorted({name for document in WELL_FORMED for name in document} | {"public", "tags", "reason"})


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(WELL_FORMED),
    st.lists(
        st.tuples(st.sampled_from(FIELD_NAMES), st.sampled_from([*ODD_VALUES, ...]) | st.text(max_size=3)),
        max_size=3,
    ),
)
def test_fast_path_agrees_with_the_strict_one_on_altered_documents(
    base: dict[str, Any], changes: list[tuple[str, Any]]
) -> None:
    document = dict(base)
    for name, value in changes:
        if value is ...:
            document.pop(name, None)
        else:
            document[name] = value
    assert_fast_agrees_with_strict(document)


@pytest.mark.parametrize("document", WELL_FORMED, ids=[d["type"] for d in WELL_FORMED])
def test_fast_path_agrees_with_the_strict_one_field_by_field(document: dict[str, Any]) -> None:
    for name in FIELD_NAMES:
        for value in [*ODD_VALUES, ...]:
            altered = dict(document)
            if value is ...:
                altered.pop(name, None)
            else:
                altered[name] = value
            assert_fast_agrees_with_strict(altered)


def test_decode_event_reports_the_strict_reason_when_the_fast_path_declines() -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(b'{"event_id": "e-1", "type": "contact.queued", "ts": 1709294400000, "contact_id": "c-1"}')
    assert caught.value.reason == "missing_field"
    assert caught.value.detail == "channel is required"


# --- building frozen events -------------------------------------------------

EVERY_FIELD = [
    ContactEvent(
        "e",
        ContactEventType.FLOWED_OUT,
        T0_MS,
        "c",
        "q",
        Channel.VOICE,
        "a",
        FlowOutReason.KEY,
        0,
        "cu",
        "tq",
        False,
        "d",
        "s",
        "tn",
    ),
    AgentEvent("e", T0_MS, "a", AgentState.ACW, "r", ("q1", "q2"), "t", "s", "tn"),
    TicketEvent("e", TicketEventType.REPLIED, T0_MS, "t", "q", Channel.EMAIL, "a", False, "s", "tn"),
    SurveyEvent("e", T0_MS, SurveyKind.CSAT, 4.0, "c", "t", "q", Channel.CHAT, "a", "s", "tn"),
    WatermarkEvent("e", T0_MS),
]
FEWEST_FIELDS = [
    ContactEvent("e", ContactEventType.ABANDONED, T0_MS, "c"),
    AgentEvent("e", T0_MS, "a", AgentState.AWAY),
    TicketEvent("e", TicketEventType.CLOSED, T0_MS, "t"),
    SurveyEvent("e", T0_MS, SurveyKind.NPS, 0.0),
]


@pytest.mark.parametrize("event", EVERY_FIELD + FEWEST_FIELDS, ids=repr)
def test_builder_makes_an_equal_instance_of_the_class_itself(event: CanonicalEvent) -> None:
    build = frozen_builder(type(event))
    values = {spec.name: getattr(event, spec.name) for spec in fields(event)}

    built = build(**values)

    assert build is not type(event)  # every event class fits the builder
    assert type(built) is type(event)
    assert built == event
    assert hash(built) == hash(event)
    with pytest.raises(AttributeError):
        built.event_id = "other"  # type: ignore[misc]


def test_builder_keeps_defaults() -> None:
    assert frozen_builder(WatermarkEvent)("e", T0_MS) == WatermarkEvent("e", T0_MS)
    assert frozen_builder(ContactEvent)("e", ContactEventType.ENDED, T0_MS, "c") == ContactEvent(
        "e", ContactEventType.ENDED, T0_MS, "c"
    )


@dataclass(frozen=True)
class WithoutSlots:
    a: int


@dataclass(frozen=True, slots=True)
class Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


def test_builder_leaves_classes_it_does_not_fit_to_their_own_constructor() -> None:
    assert frozen_builder(WithoutSlots) is WithoutSlots
    assert frozen_builder(Checked) is Checked


# --- encoding ---------------------------------------------------------------


def reference_document(event: CanonicalEvent) -> dict[str, Any]:
    """The encoder's contract as a loop over the fields: common fields first, set fields in order."""
    type_name = {
        AgentEvent: "agent.state_changed",
        SurveyEvent: "survey.submitted",
        WatermarkEvent: "stream.watermark",
    }.get(type(event)) or event.type.value  # type: ignore[union-attr]
    document: dict[str, Any] = {"event_id": event.event_id, "type": type_name, "ts": event.ts_ms}
    for spec in fields(event):
        value = getattr(event, spec.name)
        if spec.name in {"event_id", "type", "ts_ms"} or value is None or value == ():
            continue
        document[spec.name] = (
            value.value if isinstance(value, Enum) else list(value) if isinstance(value, tuple) else value
        )
    return document


@pytest.mark.parametrize("event", EVERY_FIELD + FEWEST_FIELDS, ids=repr)
def test_event_document_holds_every_set_field_as_plain_json_in_order(event: CanonicalEvent) -> None:
    document = event_document(event)

    assert list(document.items()) == list(reference_document(event).items())
    assert all(type(value) in {str, int, float, bool, list} for value in document.values())
    assert encode_event(event) == events.json.dumps(reference_document(event))


# --- table rows -------------------------------------------------------------


def test_member_by_value_finds_members_and_rejects_others_as_the_enum_does() -> None:
    channel = member_by_value(Channel)

    assert channel("voice") is Channel.VOICE
    for bad in ["fax", "Voice", 1, None, []]:
        with pytest.raises(ValueError, match="is not a valid Channel"):
            channel(bad)


def test_field_conversions_are_read_from_the_annotations() -> None:
    assert field_conversions(AgentEvent) == {
        "event_id": "",
        "ts_ms": "",
        "agent_id": "",
        "state": "enum",
        "reason": "",
        "queues": "tuple",
        "team": "",
        "source": "",
        "tenant": "",
    }
    assert field_conversions(SurveyEvent)["channel"] == "enum"  # Channel | None
