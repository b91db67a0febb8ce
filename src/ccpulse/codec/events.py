"""Decode and validate canonical events (SPEC section 2, ``schemas/``).

:func:`decode_event` returns the domain event of its type (contact, agent,
ticket, survey or watermark), accepting exactly the documents that
``schemas/event.schema.json`` accepts, or raises :class:`InvalidEvent` whose
``reason`` is one of :class:`RejectReason` (a bounded set: it becomes a metric
label and a dead-letter header). Messages never include field *values*, which
may be PII.

Fields the schema checks but the domain does not keep (a ticket's
``disposition`` and ``tags``, an agent or watermark event's ``source`` and
``tenant`` where the domain event has no place for them) are validated and
dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from ccpulse.codec import json
from ccpulse.domain.events import (
    AGENT_STATE_CHANGED,
    STREAM_WATERMARK,
    SURVEY_SUBMITTED,
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
from ccpulse.domain.surveys import score_problem

MAX_ID_LENGTH = 200
# Epoch-ms bounds that catch seconds-instead-of-milliseconds and garbage:
# 1990-01-01 .. 2200-01-01: history back to 1990 replays; epoch seconds (1970 as ms) do not pass.
MIN_TS_MS = 631_152_000_000
MAX_TS_MS = 7_258_118_400_000
MIN_INT32, MAX_INT32 = -(2**31), 2**31 - 1
# RFC 3339 date-time (section 5.6) with upper-case T and Z: seconds required,
# second 60 for a leap second, offsets +hh:mm only. Calendar validity (no
# 30 February) is left to datetime.fromisoformat.
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d):(?P<second>[0-5]\d|60)"
    r"(?P<fraction>\.\d+)?(?P<offset>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
)


class RejectReason(StrEnum):
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    BAD_VALUE = "bad_value"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_TYPE = "unknown_type"
    # Valid events the worker will not apply (SPEC section 5): older than the
    # retention, or further ahead of the wall clock than max_future_skew_s.
    LATE = "late"
    FUTURE = "future"


class InvalidEvent(ValueError):
    """The message is not a valid canonical event."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


DecodedEvent = CanonicalEvent

_CONTACT_TYPES = {member.value: member for member in ContactEventType}
_TICKET_TYPES = {member.value: member for member in TicketEventType}
_CHANNELS = {member.value: member for member in Channel}
_FLOW_OUT_REASONS = {member.value: member for member in FlowOutReason}
_AGENT_STATES = {member.value: member for member in AgentState}
_SURVEY_KINDS = {member.value: member for member in SurveyKind}


@dataclass(frozen=True, slots=True)
class _Common:
    """The fields every event carries, already validated."""

    event_id: str
    type: str
    ts_ms: int
    source: str | None
    tenant: str | None


def decode_event(raw: bytes) -> DecodedEvent:
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as utf_exc:
            raise InvalidEvent(RejectReason.NOT_UTF8, f"invalid UTF-8 at byte {utf_exc.start}") from exc
        raise InvalidEvent(RejectReason.NOT_JSON, str(exc)) from exc
    if not isinstance(document, dict):
        raise InvalidEvent(RejectReason.NOT_OBJECT, f"top level is a JSON {type(document).__name__}")
    return event_from_dict(document)


def event_from_dict(document: dict[str, Any]) -> DecodedEvent:
    event_id = _identifier(document, "event_id")
    event_type = _required(document, "type", str)
    ts_ms = parse_ts(_required(document, "ts", (int, float, str)))
    decode_fields = _decoder_for(event_type)
    if decode_fields is None:
        # The value itself stays out of the message: it lands in logs and headers.
        raise InvalidEvent(RejectReason.UNKNOWN_TYPE, "type is not part of the contract")
    common = _Common(
        event_id=event_id,
        type=event_type,
        ts_ms=ts_ms,
        source=_field(document, "source", str, required=False),
        tenant=_field(document, "tenant", str, required=False),
    )
    return decode_fields(document, common)


_FieldsDecoder = Callable[[dict[str, Any], _Common], DecodedEvent]


def _decoder_for(event_type: str) -> _FieldsDecoder | None:
    if event_type in _CONTACT_TYPES:
        return _contact_event
    if event_type in _TICKET_TYPES:
        return _ticket_event
    others: dict[str, _FieldsDecoder] = {
        AGENT_STATE_CHANGED: _agent_event,
        SURVEY_SUBMITTED: _survey_event,
        STREAM_WATERMARK: _watermark_event,
    }
    return others.get(event_type)


def _contact_event(document: dict[str, Any], common: _Common) -> ContactEvent:
    contact_type = _CONTACT_TYPES[common.type]
    queued = contact_type is ContactEventType.QUEUED
    flowed_out = contact_type is ContactEventType.FLOWED_OUT
    channel_name = _field(document, "channel", str, required=queued)
    # `reason` belongs to flowed_out; other systems put free text there on other
    # types (a hang-up cause), which is theirs to send and ours to ignore.
    reason_name = _field(document, "reason", str, required=True) if flowed_out else None
    return ContactEvent(
        event_id=common.event_id,
        type=contact_type,
        ts_ms=common.ts_ms,
        contact_id=_identifier(document, "contact_id"),
        queue=_identifier(document, "queue", required=queued),
        channel=None if channel_name is None else _member(_CHANNELS, "channel", channel_name),
        agent_id=_identifier(document, "agent_id", required=contact_type is ContactEventType.ANSWERED),
        reason=None if reason_name is None else _member(_FLOW_OUT_REASONS, "reason", reason_name),
        priority=_integer(document, "priority"),
        customer_id=_identifier(document, "customer_id", required=False),
        to_queue=_identifier(document, "to_queue", required=False),
        resolved=_field(document, "resolved", bool, required=False),
        disposition=_field(document, "disposition", str, required=False),
        source=common.source,
        tenant=common.tenant,
    )


def _agent_event(document: dict[str, Any], common: _Common) -> AgentEvent:
    return AgentEvent(
        event_id=common.event_id,
        ts_ms=common.ts_ms,
        agent_id=_identifier(document, "agent_id"),
        state=_member(_AGENT_STATES, "state", _required(document, "state", str)),
        reason=_field(document, "reason", str, required=False),
        queues=_identifiers(document, "queues"),
        team=_identifier(document, "team", required=False),
        source=common.source,
        tenant=common.tenant,
    )


def _ticket_event(document: dict[str, Any], common: _Common) -> TicketEvent:
    ticket_type = _TICKET_TYPES[common.type]
    replied = ticket_type is TicketEventType.REPLIED
    event = TicketEvent(
        event_id=common.event_id,
        type=ticket_type,
        ts_ms=common.ts_ms,
        ticket_id=_identifier(document, "ticket_id"),
        queue=_identifier(document, "queue"),
        channel=_member(_CHANNELS, "channel", _required(document, "channel", str)),
        agent_id=_identifier(document, "agent_id", required=replied),
        # `public` is part of ticket.replied only; elsewhere it is the producer's to send.
        public=_field(document, "public", bool, required=True) if replied else None,
        source=common.source,
        tenant=common.tenant,
    )
    # Checked as the schema does, not kept: the ticket lifecycle does not read them yet.
    _field(document, "disposition", str, required=False)
    _strings(document, "tags")
    return event


def _survey_event(document: dict[str, Any], common: _Common) -> SurveyEvent:
    kind = _member(_SURVEY_KINDS, "kind", _required(document, "kind", str))
    score = _required(document, "score", (int, float))
    contact_id = _identifier(document, "contact_id", required=False)
    ticket_id = _identifier(document, "ticket_id", required=False)
    if contact_id is None and ticket_id is None:
        raise InvalidEvent(RejectReason.MISSING_FIELD, "contact_id or ticket_id is required")
    channel_name = _field(document, "channel", str, required=False)
    problem = score_problem(kind, score)
    if problem is not None:
        raise InvalidEvent(RejectReason.BAD_VALUE, problem)
    return SurveyEvent(
        event_id=common.event_id,
        ts_ms=common.ts_ms,
        kind=kind,
        score=float(score),
        contact_id=contact_id,
        ticket_id=ticket_id,
        queue=_identifier(document, "queue", required=False),
        channel=None if channel_name is None else _member(_CHANNELS, "channel", channel_name),
        agent_id=_identifier(document, "agent_id", required=False),
        source=common.source,
        tenant=common.tenant,
    )


def _watermark_event(document: dict[str, Any], common: _Common) -> WatermarkEvent:
    return WatermarkEvent(event_id=common.event_id, ts_ms=common.ts_ms)


def parse_ts(value: int | float | str) -> int:
    """Event time as epoch ms, from epoch ms or an RFC 3339 string with offset.

    A JSON number with a zero fraction (``1709284500000.0``, ``1.7092845e12``)
    is an integer in JSON Schema's eyes, so it is accepted as one. A leap
    second (``23:59:60``) is the instant one second after ``23:59:59``.
    """
    if isinstance(value, bool):
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is a boolean")
    if isinstance(value, float):
        if not value.is_integer():
            raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts in milliseconds must be a whole number")
        value = int(value)
    ts_ms = value if isinstance(value, int) else _parse_rfc3339_ms(value)
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise InvalidEvent(
            RejectReason.BAD_TIMESTAMP, "ts is outside 1990..2200 (epoch seconds instead of milliseconds?)"
        )
    return ts_ms


def _parse_rfc3339_ms(text: str) -> int:
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is not an RFC 3339 date-time with offset")
    leap_ms = 1000 if match["second"] == "60" else 0
    offset = "+00:00" if match["offset"] == "Z" else match["offset"]
    second = "59" if leap_ms else match["second"]
    iso = f"{match['date']}T{match['hour']}:{match['minute']}:{second}{match['fraction'] or ''}{offset}"
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is not a calendar date") from exc
    delta = parsed - datetime.fromtimestamp(0, parsed.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000 + leap_ms


def _required(document: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = _field(document, name, kind, required=True)
    assert value is not None
    return value


def _field(document: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool) -> Any:
    value = document.get(name)
    if value is None:
        if required:
            raise InvalidEvent(RejectReason.MISSING_FIELD, f"{name} is required")
        return None
    # bool is an int subclass in Python; JSON true is never a number.
    is_stray_bool = isinstance(value, bool) and kind is not bool
    if is_stray_bool or not isinstance(value, kind):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} has type {type(value).__name__}")
    return value


def _integer(document: dict[str, Any], name: str) -> int | None:
    """An optional 32-bit integer; a whole-valued JSON float (``2.0``) counts, as in JSON Schema."""
    value = _field(document, name, (int, float), required=False)
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} must be a whole number")
    if not MIN_INT32 <= value <= MAX_INT32:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be within -2^31 .. 2^31-1")
    return int(value)


def _identifier(document: dict[str, Any], name: str, *, required: bool = True) -> Any:
    value = _field(document, name, str, required=required)
    return None if value is None else _check_identifier(name, value)


def _check_identifier(name: str, value: Any) -> str:
    """An identifier is a string of 1..200 characters (code points, as JSON Schema counts them)."""
    if not isinstance(value, str):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} must hold strings")
    if not 0 < len(value) <= MAX_ID_LENGTH:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be 1..{MAX_ID_LENGTH} characters")
    return value


def _identifiers(document: dict[str, Any], name: str) -> tuple[str, ...]:
    """An optional array of identifiers, as a tuple in the order given (absent or null: empty)."""
    return tuple(_check_identifier(name, item) for item in _array(document, name))


def _strings(document: dict[str, Any], name: str) -> tuple[str, ...]:
    """An optional array of free-text strings (absent or null: empty)."""
    items = _array(document, name)
    if not all(isinstance(item, str) for item in items):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} must be an array of strings")
    return tuple(items)


def _array(document: dict[str, Any], name: str) -> list[Any]:
    value = _field(document, name, list, required=False)
    return [] if value is None else value


def _member(members: dict[str, Any], name: str, value: str) -> Any:
    member = members.get(value)
    if member is None:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be one of {', '.join(members)}")
    return member


def encode_contact_event(event: ContactEvent) -> bytes:
    """Canonical compact form of a contact event (see :func:`encode_event`)."""
    return encode_event(event)


def encode_event(event: CanonicalEvent) -> bytes:
    """Canonical compact form (ts as epoch ms, no empty fields) for internal topics.

    :func:`decode_event` reads it back to an equal event.
    """
    document: dict[str, Any] = {"event_id": event.event_id, "type": _type_name(event), "ts": event.ts_ms}
    for spec in fields(event):
        if spec.name in {"event_id", "type", "ts_ms"}:
            continue
        value = getattr(event, spec.name)
        if value is None or value == ():
            continue
        document[spec.name] = list(value) if isinstance(value, tuple) else value
    return json.dumps(document)


def _type_name(event: CanonicalEvent) -> str:
    if isinstance(event, ContactEvent | TicketEvent):
        return event.type.value
    if isinstance(event, AgentEvent):
        return AGENT_STATE_CHANGED
    if isinstance(event, SurveyEvent):
        return SURVEY_SUBMITTED
    return STREAM_WATERMARK
