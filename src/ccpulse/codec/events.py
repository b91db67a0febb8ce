"""Decode and validate canonical events (SPEC section 2, ``schemas/``).

:func:`decode_event` returns a :class:`ContactEvent`, an :class:`OtherEvent`
for valid events of the contract this worker does not fold (agent, ticket,
survey, watermark), or raises :class:`InvalidEvent` whose ``reason`` is one of
:class:`RejectReason` (a bounded set: it becomes a metric label and a
dead-letter header). Messages never include field *values*, which may be PII.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ccpulse.codec import json
from ccpulse.domain.events import (
    NON_CONTACT_EVENT_TYPES,
    Channel,
    ContactEvent,
    ContactEventType,
    FlowOutReason,
)

MAX_ID_LENGTH = 200
# Epoch-ms bounds that catch seconds-instead-of-milliseconds and garbage:
# 2000-01-01 .. 2200-01-01.
MIN_TS_MS = 946_684_800_000
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


class InvalidEvent(ValueError):
    """The message is not a valid canonical event."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A valid event of the contract that carries no contact lifecycle step."""

    event_id: str
    type: str
    ts_ms: int


DecodedEvent = ContactEvent | OtherEvent

_CONTACT_TYPES = {member.value: member for member in ContactEventType}
_CHANNELS = {member.value: member for member in Channel}
_FLOW_OUT_REASONS = {member.value: member for member in FlowOutReason}


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
    contact_type = _CONTACT_TYPES.get(event_type)
    if contact_type is None:
        if event_type in NON_CONTACT_EVENT_TYPES:
            return OtherEvent(event_id=event_id, type=event_type, ts_ms=ts_ms)
        # The value itself stays out of the message: it lands in logs and headers.
        raise InvalidEvent(RejectReason.UNKNOWN_TYPE, "type is not part of the contract")

    queued = contact_type is ContactEventType.QUEUED
    flowed_out = contact_type is ContactEventType.FLOWED_OUT
    channel_name = _field(document, "channel", str, required=queued)
    # `reason` belongs to flowed_out; other systems put free text there on other
    # types (a hang-up cause), which is theirs to send and ours to ignore.
    reason_name = _field(document, "reason", str, required=True) if flowed_out else None
    return ContactEvent(
        event_id=event_id,
        type=contact_type,
        ts_ms=ts_ms,
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
        source=_field(document, "source", str, required=False),
        tenant=_field(document, "tenant", str, required=False),
    )


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
            RejectReason.BAD_TIMESTAMP, "ts is outside 2000..2200 (epoch seconds instead of milliseconds?)"
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
    if value is not None and not 0 < len(value) <= MAX_ID_LENGTH:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be 1..{MAX_ID_LENGTH} characters")
    return value


def _member(members: dict[str, Any], name: str, value: str) -> Any:
    member = members.get(value)
    if member is None:
        raise InvalidEvent(RejectReason.BAD_VALUE, f"{name} must be one of {', '.join(members)}")
    return member


def encode_contact_event(event: ContactEvent) -> bytes:
    """Canonical compact form (ts as epoch ms, no empty fields) for internal topics."""
    document: dict[str, Any] = {
        "event_id": event.event_id,
        "type": event.type.value,
        "ts": event.ts_ms,
        "contact_id": event.contact_id,
    }
    optional = {
        "queue": event.queue,
        "channel": event.channel,
        "agent_id": event.agent_id,
        "reason": event.reason,
        "priority": event.priority,
        "customer_id": event.customer_id,
        "to_queue": event.to_queue,
        "resolved": event.resolved,
        "disposition": event.disposition,
        "source": event.source,
        "tenant": event.tenant,
    }
    document.update({key: value for key, value in optional.items() if value is not None})
    return json.dumps(document)
