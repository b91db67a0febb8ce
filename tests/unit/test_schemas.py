"""The event JSON Schema is valid, its examples are right, and the decoder agrees with it.

Agreement means: for every event type of the contract (contact, agent, ticket, survey,
watermark) and for anything else, ``decode_event`` accepts the bytes exactly when the event
schema accepts the parsed JSON; checked on every example and on generated documents.
The output schemas (contact facts, KPI rows) and their examples are checked in test_output_schemas.py.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ccpulse.codec.events import MAX_TS_MS, MIN_TS_MS, InvalidEvent, decode_event
from ccpulse.domain.events import (
    AGENT_STATE_CHANGED,
    NON_CONTACT_EVENT_TYPES,
    STREAM_WATERMARK,
    SURVEY_SUBMITTED,
    AgentEvent,
    AgentState,
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

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = SCHEMAS / "examples"
EVENT_SCHEMA = json.loads((SCHEMAS / "event.schema.json").read_text(encoding="utf-8"))
EVENT_VALIDATOR = Draft202012Validator(EVENT_SCHEMA)

CONTACT_TYPES = [member.value for member in ContactEventType]
TICKET_TYPES = [member.value for member in TicketEventType]
ALL_TYPES = [*CONTACT_TYPES, AGENT_STATE_CHANGED, *TICKET_TYPES, SURVEY_SUBMITTED, STREAM_WATERMARK]
CHANNELS = [member.value for member in Channel]
FLOW_OUT_REASONS = [member.value for member in FlowOutReason]
AGENT_STATES = [member.value for member in AgentState]
SURVEY_KINDS = [member.value for member in SurveyKind]
# The domain event each type decodes to.
EVENT_CLASS_OF_TYPE: dict[str, type] = {
    **dict.fromkeys(CONTACT_TYPES, ContactEvent),
    AGENT_STATE_CHANGED: AgentEvent,
    **dict.fromkeys(TICKET_TYPES, TicketEvent),
    SURVEY_SUBMITTED: SurveyEvent,
    STREAM_WATERMARK: WatermarkEvent,
}

# Examples of the output schemas, named by these prefixes, are tested in test_output_schemas.py.
OUTPUT_EXAMPLE_PREFIXES = ("fact-", "kpi-row-")
VALID_EXAMPLES = sorted(
    path for path in (EXAMPLES / "valid").glob("*.json") if not path.name.startswith(OUTPUT_EXAMPLE_PREFIXES)
)
INVALID_EXAMPLES = sorted(
    path for path in (EXAMPLES / "invalid").glob("*.json") if not path.name.startswith(OUTPUT_EXAMPLE_PREFIXES)
)

# Forms at the edge of the contract that both the schema and the decoder accept: name, message.
EDGE_CASES_BOTH_ACCEPT = [
    (
        "ts-leap-second",
        b'{"event_id":"e-1","type":"contact.ended","ts":"2016-12-31T23:59:60Z","contact_id":"c-1"}',
    ),
    (
        "ts-integral-float",
        b'{"event_id":"e-1","type":"contact.abandoned","ts":1709284500000.0,"contact_id":"c-1"}',
    ),
    (
        "ts-exponent",
        b'{"event_id":"e-1","type":"contact.abandoned","ts":1.7092845e12,"contact_id":"c-1"}',
    ),
    (
        "priority-integral-float",
        b'{"event_id":"e-1","type":"contact.queued","ts":1709284500000,"contact_id":"c-1",'
        b'"queue":"q","channel":"voice","priority":2.0}',
    ),
    (
        "agent-queues-empty",
        b'{"event_id":"e-1","type":"agent.state_changed","ts":1709284500000,"agent_id":"a","state":"busy","queues":[]}',
    ),
    # Contact fields are the contact's: an agent or ticket event may carry them with any value.
    (
        "agent-foreign-contact-fields",
        b'{"event_id":"e-1","type":"agent.state_changed","ts":1709284500000,"agent_id":"a","state":"acw",'
        b'"channel":"fax","priority":"high","contact_id":""}',
    ),
    (
        "ticket-public-on-solved-is-free",
        b'{"event_id":"e-1","type":"ticket.solved","ts":1709284500000,"ticket_id":"t","queue":"q",'
        b'"channel":"email","public":"yes"}',
    ),
    (
        "ticket-internal-note",
        b'{"event_id":"e-1","type":"ticket.replied","ts":1709284500000,"ticket_id":"t","queue":"q",'
        b'"channel":"email","agent_id":"a","public":false,"tags":[],"disposition":null}',
    ),
    (
        "nps-zero",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"nps","score":0,"ticket_id":"t"}',
    ),
    (
        "nps-ten-float",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"nps","score":10.0,"ticket_id":"t"}',
    ),
    (
        "ces-seven",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"ces","score":7,"contact_id":"c"}',
    ),
    (
        "csat-fraction",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"csat","score":4.5,"contact_id":"c"}',
    ),
    (
        "survey-rates-contact-and-ticket",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"esat","score":1,'
        b'"contact_id":"c","ticket_id":"t"}',
    ),
    (
        "survey-null-contact-with-ticket",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"csat","score":5,'
        b'"contact_id":null,"ticket_id":"t"}',
    ),
    ("watermark-extra-fields", b'{"event_id":"e-1","type":"stream.watermark","ts":1709284500000,"contact_id":5}'),
]

# Forms at the edge of the contract that both reject: name, message.
EDGE_CASES_BOTH_REJECT = [
    (
        "csat-above-scale",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"csat","score":5.01,"contact_id":"c"}',
    ),
    (
        "csat-zero",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"csat","score":0,"contact_id":"c"}',
    ),
    (
        "ces-eight",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"ces","score":8,"contact_id":"c"}',
    ),
    (
        "nps-negative",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"nps","score":-1,"ticket_id":"t"}',
    ),
    (
        "score-boolean",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"nps","score":true,"ticket_id":"t"}',
    ),
    (
        "survey-empty-contact-id",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"nps","score":5,"contact_id":""}',
    ),
    (
        "survey-bad-contact-id-beside-good-ticket",
        b'{"event_id":"e-1","type":"survey.submitted","ts":1709284500000,"kind":"nps","score":5,'
        b'"contact_id":7,"ticket_id":"t"}',
    ),
    (
        "agent-state-null",
        b'{"event_id":"e-1","type":"agent.state_changed","ts":1709284500000,"agent_id":"a","state":null}',
    ),
    (
        "agent-queue-empty",
        b'{"event_id":"e-1","type":"agent.state_changed","ts":1709284500000,"agent_id":"a","state":"busy","queues":[""]}',
    ),
    (
        "agent-team-number",
        b'{"event_id":"e-1","type":"agent.state_changed","ts":1709284500000,"agent_id":"a","state":"busy","team":3}',
    ),
    (
        "ticket-closed-without-channel",
        b'{"event_id":"e-1","type":"ticket.closed","ts":1709284500000,"ticket_id":"t","queue":"q"}',
    ),
    (
        "ticket-tags-not-strings",
        b'{"event_id":"e-1","type":"ticket.escalated","ts":1709284500000,"ticket_id":"t","queue":"q",'
        b'"channel":"email","tags":[1]}',
    ),
    (
        "ticket-replied-public-null",
        b'{"event_id":"e-1","type":"ticket.replied","ts":1709284500000,"ticket_id":"t","queue":"q",'
        b'"channel":"email","agent_id":"a","public":null}',
    ),
    ("watermark-source-number", b'{"event_id":"e-1","type":"stream.watermark","ts":1709284500000,"source":1}'),
]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_accepts(raw: bytes) -> bool:
    try:
        document = json.loads(raw)
    except ValueError:
        return False
    return EVENT_VALIDATOR.is_valid(document)


def _decoder_accepts(raw: bytes) -> bool:
    try:
        event = decode_event(raw)
    except InvalidEvent:
        return False
    assert isinstance(event, EVENT_CLASS_OF_TYPE[json.loads(raw)["type"]])
    return True


def _agreement_params() -> list[Any]:
    return [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in [*VALID_EXAMPLES, *INVALID_EXAMPLES]]


def test_event_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(EVENT_SCHEMA)
    assert EVENT_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_examples_cover_every_event_type_and_both_timestamp_forms() -> None:
    events = [_load(path) for path in VALID_EXAMPLES]
    assert {event["type"] for event in events} == set(CONTACT_TYPES) | NON_CONTACT_EVENT_TYPES
    assert set(EVENT_SCHEMA["properties"]["type"]["enum"]) == set(CONTACT_TYPES) | NON_CONTACT_EVENT_TYPES
    assert any(isinstance(event["ts"], int) for event in events)
    assert any(isinstance(event["ts"], str) for event in events)


@pytest.mark.parametrize("path", VALID_EXAMPLES, ids=lambda path: path.name)
def test_valid_example_validates(path: Path) -> None:
    errors = [error.message for error in EVENT_VALIDATOR.iter_errors(_load(path))]
    assert errors == []


@pytest.mark.parametrize("path", INVALID_EXAMPLES, ids=lambda path: path.name)
def test_invalid_example_fails(path: Path) -> None:
    assert not EVENT_VALIDATOR.is_valid(_load(path))


@pytest.mark.parametrize("path", _agreement_params())
def test_decoder_agrees_with_schema_on_example(path: Path) -> None:
    raw = path.read_bytes()
    assert _decoder_accepts(raw) == _schema_accepts(raw)


def test_agreement_covers_every_event_type_on_valid_and_invalid_examples() -> None:
    valid = {_load(path)["type"] for path in VALID_EXAMPLES}
    invalid = {document.get("type") for path in INVALID_EXAMPLES if isinstance(document := _load(path), dict)}
    families = {str(event_type).split(".")[0] for event_type in invalid}

    assert valid == set(ALL_TYPES)
    assert {"contact", "agent", "ticket", "survey", "stream"} <= families


@pytest.mark.parametrize("path", VALID_EXAMPLES, ids=lambda path: path.name)
def test_valid_example_decodes_to_the_domain_event_of_its_type(path: Path) -> None:
    document = _load(path)
    event = decode_event(path.read_bytes())
    assert type(event) is EVENT_CLASS_OF_TYPE[document["type"]]
    assert event.event_id == document["event_id"]
    if isinstance(event, ContactEvent | TicketEvent):
        assert event.type.value == document["type"]


@pytest.mark.parametrize("raw", [pytest.param(raw, id=name) for name, raw in EDGE_CASES_BOTH_ACCEPT])
def test_schema_and_decoder_accept_edge_case(raw: bytes) -> None:
    assert _schema_accepts(raw)
    assert _decoder_accepts(raw)


@pytest.mark.parametrize("raw", [pytest.param(raw, id=name) for name, raw in EDGE_CASES_BOTH_REJECT])
def test_schema_and_decoder_reject_edge_case(raw: bytes) -> None:
    assert not _schema_accepts(raw)
    assert not _decoder_accepts(raw)


# --- property test: generated events of every type ----------------------------------------

T_EXAMPLE_MS = 1_709_284_500_000
MINIMAL_EVENTS: dict[str, dict[str, Any]] = {
    event_type: {"event_id": "e-1", "type": event_type, "ts": T_EXAMPLE_MS} for event_type in ALL_TYPES
}
for _contact_type in CONTACT_TYPES:
    MINIMAL_EVENTS[_contact_type]["contact_id"] = "c-1"
MINIMAL_EVENTS["contact.queued"].update(queue="support", channel="voice")
MINIMAL_EVENTS["contact.answered"].update(agent_id="a-1")
MINIMAL_EVENTS["contact.flowed_out"].update(reason="timeout")
MINIMAL_EVENTS[AGENT_STATE_CHANGED].update(agent_id="a-1", state="available")
for _ticket_type in TICKET_TYPES:
    MINIMAL_EVENTS[_ticket_type].update(ticket_id="t-1", queue="support", channel="email")
MINIMAL_EVENTS["ticket.replied"].update(agent_id="a-1", public=True)
MINIMAL_EVENTS[SURVEY_SUBMITTED].update(kind="csat", score=4, contact_id="c-1")
# Type families, each generated on its own so the rare ones get their share of examples.
FAMILIES: dict[str, list[str]] = {
    "contact": CONTACT_TYPES,
    "agent": [AGENT_STATE_CHANGED],
    "ticket": TICKET_TYPES,
    "survey": [SURVEY_SUBMITTED],
    "watermark": [STREAM_WATERMARK],
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
identifiers = st.one_of(
    st.text(min_size=1, max_size=12),
    st.just(""),
    st.integers(min_value=195, max_value=205).map(lambda n: "x" * n),
    st.integers(min_value=195, max_value=205).map(lambda n: "\U0001f600" * n),  # length counts code points
)
# Dates next to 1990-01-01 / 2200-01-01 are left out: the pattern checks the written year, the decoder
# the UTC instant, and a UTC offset can move one across the bound (documented in the schema).
BOUNDARY_DATES = {(1989, 12, 31), (1990, 1, 1), (2199, 12, 31), (2200, 1, 1)}


@st.composite
def datetime_strings(draw: st.DrawFn) -> str:
    """RFC 3339-shaped strings, right or wrong in ways both sides must judge alike."""
    year = draw(
        st.one_of(st.integers(1990, 2199), st.integers(1000, 1989), st.integers(2200, 9999)),
    )
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    if (year, month, day) in BOUNDARY_DATES:
        day = 15
    hour = draw(st.integers(0, 24))
    minute = draw(st.integers(0, 60))
    second = draw(st.integers(0, 61))  # 60 is a leap second, 61 never valid
    fraction = draw(st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)))
    offset = draw(
        st.one_of(
            st.sampled_from(["Z", "", "z", "+00:00", "-00:00"]),
            st.builds(
                lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
                st.sampled_from("+-"),
                st.integers(0, 24),
                st.integers(0, 60),
            ),
        )
    )
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


timestamps = st.one_of(
    st.integers(min_value=MIN_TS_MS, max_value=MAX_TS_MS - 1),
    st.sampled_from([MIN_TS_MS - 1, MIN_TS_MS, MAX_TS_MS - 1, MAX_TS_MS, 1_709_284_500, 0, -1]),
    st.integers(min_value=-(2**70), max_value=2**70),
    datetime_strings(),
    st.dates(min_value=date(1990, 1, 2), max_value=date(2199, 12, 30)).map(lambda d: f"{d.isoformat()}T12:00:00Z"),
    st.text(max_size=25),
)
# Around every scale's ends, fractions, and numbers far off (a huge integer becomes a float in orjson).
scores = st.one_of(
    st.sampled_from([-1, 0, 0.0, 0.5, 1, 1.0, 4.99, 5, 5.0, 5.01, 6.5, 7, 7.01, 9, 10, 10.0, 10.5, 11, -0.0]),
    st.integers(min_value=-20, max_value=20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**80), max_value=2**80),
)
identifier_lists = st.one_of(
    st.lists(identifiers, max_size=3),
    st.lists(st.one_of(identifiers, junk), min_size=1, max_size=3),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "event_id": identifiers,
    "type": st.one_of(
        st.sampled_from(ALL_TYPES),
        st.sampled_from(["contact.unknown", "Contact.queued", "contact", "", "ticket.deleted", "agent.state"]),
    ),
    "ts": timestamps,
    "contact_id": identifiers,
    "queue": identifiers,
    "channel": st.one_of(st.sampled_from(CHANNELS), st.sampled_from(["Voice", "phone", "", " chat"])),
    "agent_id": identifiers,
    "reason": st.one_of(st.sampled_from(FLOW_OUT_REASONS), st.sampled_from(["Timeout", "hangup", ""])),
    "priority": st.one_of(
        st.integers(min_value=-10, max_value=10),
        st.sampled_from([-(2**63) - 1, -(2**63), 2**64 - 1, 2**64]),
        st.integers(min_value=-(2**80), max_value=2**80),
    ),
    "customer_id": identifiers,
    "source": st.text(max_size=8),
    "tenant": st.text(max_size=8),
    "x_producer_field": junk,
    "state": st.one_of(st.sampled_from(AGENT_STATES), st.sampled_from(["Available", "on_break", ""])),
    "queues": identifier_lists,
    "team": identifiers,
    "ticket_id": identifiers,
    "public": st.one_of(st.booleans(), st.sampled_from(["true", 1, 0])),
    "tags": st.one_of(st.lists(st.text(max_size=5), max_size=2), st.lists(junk, min_size=1, max_size=2)),
    "kind": st.one_of(st.sampled_from(SURVEY_KINDS), st.sampled_from(["CSAT", "stars", ""])),
    "score": scores,
}
OPTIONAL_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "to_queue": st.one_of(st.none(), identifiers),
    "resolved": st.one_of(st.none(), st.booleans(), st.sampled_from(["yes", 1, 0])),
    "disposition": st.one_of(st.none(), st.text(max_size=8), st.integers()),
}


@st.composite
def events_of_family(draw: st.DrawFn, family: str) -> dict[str, Any]:
    """A valid event of a random type of ``family`` with a few fields deleted, replaced or added.

    Any field of any type may be touched, so an agent event can carry a contact's fields, a
    survey a ticket's, and a type may be swapped for another family's.
    """
    document = dict(MINIMAL_EVENTS[draw(st.sampled_from(FAMILIES[family]))])
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=3, unique=True)):
        action = draw(st.sampled_from(["delete", "field value", "junk"]))
        if action == "delete":
            document.pop(name, None)
        elif action == "field value":
            document[name] = draw(FIELD_VALUES[name])
        else:
            document[name] = draw(junk)
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL_FIELD_VALUES)), max_size=2, unique=True)):
        document[name] = draw(OPTIONAL_FIELD_VALUES[name])
    return document


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decoder_and_schema_agree_on_generated_events(family: str, data: st.DataObject) -> None:
    document = data.draw(events_of_family(family), label="document")
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8")
    assert _decoder_accepts(raw) == _schema_accepts(raw), document


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_minimal_event_of_each_type_is_accepted_by_both(event_type: str) -> None:
    raw = json.dumps(MINIMAL_EVENTS[event_type]).encode("utf-8")
    assert _schema_accepts(raw)
    assert _decoder_accepts(raw)


@settings(max_examples=300, deadline=None)
@given(ts=st.one_of(timestamps, junk), event_type=st.sampled_from(ALL_TYPES))
def test_decoder_and_schema_agree_on_generated_timestamps(ts: Any, event_type: str) -> None:
    raw = json.dumps({**MINIMAL_EVENTS[event_type], "ts": ts}).encode("utf-8")
    assert _decoder_accepts(raw) == _schema_accepts(raw), ts
