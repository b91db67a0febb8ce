"""Decode and validate canonical events (SPEC section 2, ``schemas/``).

:func:`decode_event` returns a :class:`ContactEvent`, an :class:`OtherEvent`
for valid events of the contract this worker does not fold (agent, ticket,
survey, watermark), or raises :class:`InvalidEvent` whose ``reason`` is one of
:class:`RejectReason` (a bounded set: it becomes a metric label and a
dead-letter header). Messages never include field *values*, which may be PII.
"""

from __future__ import annotations

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
    ts_ms = parse_ts(_required(document, "ts", (int, str)))
    contact_type = _CONTACT_TYPES.get(event_type)
    if contact_type is None:
        if event_type in NON_CONTACT_EVENT_TYPES:
            return OtherEvent(event_id=event_id, type=event_type, ts_ms=ts_ms)
        # The value itself stays out of the message: it lands in logs and headers.
        raise InvalidEvent(RejectReason.UNKNOWN_TYPE, "type is not part of the contract")

    queued = contact_type is ContactEventType.QUEUED
    channel_name = _field(document, "channel", str, required=queued)
    reason_name = _field(document, "reason", str, required=contact_type is ContactEventType.FLOWED_OUT)
    priority = _field(document, "priority", int, required=False)
    return ContactEvent(
        event_id=event_id,
        type=contact_type,
        ts_ms=ts_ms,
        contact_id=_identifier(document, "contact_id"),
        queue=_identifier(document, "queue", required=queued),
        channel=None if channel_name is None else _member(_CHANNELS, "channel", channel_name),
        agent_id=_identifier(document, "agent_id", required=contact_type is ContactEventType.ANSWERED),
        reason=None if reason_name is None else _member(_FLOW_OUT_REASONS, "reason", reason_name),
        priority=priority,
        customer_id=_identifier(document, "customer_id", required=False),
        source=_field(document, "source", str, required=False),
        tenant=_field(document, "tenant", str, required=False),
    )


def parse_ts(value: int | str) -> int:
    """Event time as epoch ms, from epoch ms or an RFC 3339 string with offset."""
    if isinstance(value, bool):
        raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is a boolean")
    if isinstance(value, int):
        ts_ms = value
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts is not RFC 3339") from exc
        if parsed.tzinfo is None:
            raise InvalidEvent(RejectReason.BAD_TIMESTAMP, "ts has no UTC offset")
        delta = parsed - datetime.fromtimestamp(0, parsed.tzinfo)
        ts_ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
        raise InvalidEvent(
            RejectReason.BAD_TIMESTAMP, "ts is outside 2000..2200 (epoch seconds instead of milliseconds?)"
        )
    return ts_ms


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
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidEvent(RejectReason.WRONG_TYPE, f"{name} has type {type(value).__name__}")
    return value


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
        "source": event.source,
        "tenant": event.tenant,
    }
    document.update({key: value for key, value in optional.items() if value is not None})
    return json.dumps(document)
